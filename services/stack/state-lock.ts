/**
 * One running stack per state dir: `<stateDir>/up.lock` holds the pid of the process running it, created with
 * an exclusive create so two starters cannot both win. A lock whose pid no longer runs (the holder was killed,
 * say with `kill -9`) is stale and is taken over; a live one means the state dir is busy.
 */
import { randomBytes } from "node:crypto";
import { link, open, readFile, rename, unlink } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { pidAlive } from "../clients/pid.js";

/** The lock file's name inside the state dir. */
export const STATE_LOCK_FILE = "up.lock";

/** The state dir is in use by another live process. */
export class StateDirBusyError extends Error {
  override readonly name = "StateDirBusyError";
  constructor(
    readonly stateDir: string,
    readonly pid: number,
  ) {
    super(
      `claw-supervisor is already running on ${stateDir} (pid ${pid}); stop it first ` +
        `(if pid ${pid} is not claw-supervisor, remove ${path.join(stateDir, STATE_LOCK_FILE)})`,
    );
  }
}

/** A held lock; `release()` removes the file if it is still ours, and never throws. */
export interface StateLock {
  file: string;
  release(): Promise<void>;
}

/** Lock files this process holds: its own pid in a lock it did not take (a reused pid) is stale. */
const held = new Set<string>();

function lockPid(text: string): number | undefined {
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

async function readLock(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

async function createLock(file: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(file, "wx", 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw err;
  }
  try {
    await handle.writeFile(`${process.pid}\n`);
  } finally {
    await handle.close();
  }
  return true;
}

/**
 * Moves a stale lock out of the way. Renaming it aside, then checking that what was moved is the stale lock
 * read before, keeps a racing starter's fresh lock: if that is what got moved, it is put back.
 */
async function removeStale(file: string, staleText: string): Promise<void> {
  const aside = `${file}.stale-${process.pid}-${randomBytes(4).toString("hex")}`;
  try {
    await rename(file, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  const moved = await readLock(aside);
  if (moved !== staleText) await link(aside, file).catch(() => undefined);
  await unlink(aside).catch(() => undefined);
}

/**
 * Takes `<stateDir>/up.lock` for this process; throws {@link StateDirBusyError} when a live process holds it.
 * The state dir must exist.
 */
export async function acquireStateLock(stateDir: string, logger?: Logger): Promise<StateLock> {
  const file = path.join(stateDir, STATE_LOCK_FILE);
  for (let attempt = 0; attempt < 8; attempt++) {
    if (await createLock(file)) {
      held.add(file);
      return { file, release: () => releaseLock(file) };
    }
    const text = await readLock(file);
    if (text === undefined) continue; // Removed meanwhile: try again.
    const pid = lockPid(text);
    // An empty lock may be one a starter has just created and not yet written: give it a moment first.
    if (pid === undefined && attempt < 4) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      continue;
    }
    const ours = pid === process.pid && held.has(file);
    if (pid !== undefined && (ours || (pid !== process.pid && pidAlive(pid))))
      throw new StateDirBusyError(stateDir, pid);
    logger?.warn(
      { lock: file, pid: pid ?? null },
      pid === undefined
        ? `taking over ${file}: it names no pid`
        : `taking over a stale lock: pid ${pid} in ${file} is not running (an earlier run that was killed?)`,
    );
    await removeStale(file, text);
  }
  throw new Error(`cannot take ${file}: it keeps changing (another claw-supervisor starting at the same time?)`);
}

async function releaseLock(file: string): Promise<void> {
  if (!held.delete(file)) return;
  try {
    if (lockPid((await readLock(file)) ?? "") === process.pid) await unlink(file);
  } catch {
    // Best effort: a lock left behind names a pid that will not be running, so it is stale.
  }
}
