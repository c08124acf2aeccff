/**
 * A nats-server left running by an `up` that was killed (`kill -9` runs no exit hook, so its child survives,
 * still serving the JetStream store). The embedded server writes its pid to `<storeDir>/nats-server.pid`; before
 * the next start on that store, the process it names is stopped, but only if it is a nats-server on this very
 * store: a pid reused by anything else is left alone.
 */
import { readFileSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { BusError } from "./errors.js";

/** The pid file's name in the store dir (nats-server `--pid`). */
export const NATS_PID_FILE = "nats-server.pid";

/** Where the embedded nats-server of `storeDir` writes its pid. Pure. */
export function natsPidFile(storeDir: string): string {
  return path.join(storeDir, NATS_PID_FILE);
}

const POLL_MS = 50;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.charAt(stat.lastIndexOf(")") + 2) !== "Z";
  } catch {
    return process.platform !== "linux";
  }
}

/**
 * True when `argv` (a /proc cmdline) is a nats-server whose store is `storeDir`: the program is named
 * nats-server and `--store_dir` (or `-sd`) is that directory. Pure.
 */
export function isNatsServerOn(argv: string[], storeDir: string): boolean {
  if (!/^nats-server/.test(path.basename(argv[0] ?? ""))) return false;
  const want = path.resolve(storeDir);
  return argv.some((arg, i) => {
    if (arg.startsWith("--store_dir=")) return path.resolve(arg.slice("--store_dir=".length)) === want;
    return (arg === "--store_dir" || arg === "-sd") && path.resolve(argv[i + 1] ?? "") === want;
  });
}

/**
 * True while `pid` runs and /proc shows it is a nats-server on `storeDir` ({@link isNatsServerOn}). False when it
 * is gone, is something else (a reused pid), runs as another user, or /proc cannot tell (no /proc: not Linux), so a caller that hands
 * credentials only to that server fails closed.
 */
export function natsServerRunsOn(pid: number, storeDir: string): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || !running(pid)) return false;
  let argv: string[];
  try {
    argv = readFileSync(`/proc/${pid}/cmdline`, "utf8")
      .split("\0")
      .filter((a) => a !== "");
  } catch {
    return false;
  }
  // Ours only: a pid reused by another user's process that names the same store passes the command-line check.
  if (!ownedByUs(pid)) return false;
  return isNatsServerOn(argv, storeDir) && running(pid);
}

/** Whether /proc says `pid` runs as this process's user (the owner of /proc/<pid>). */
function ownedByUs(pid: number): boolean {
  try {
    return process.getuid === undefined || statSync(`/proc/${pid}`).uid === process.getuid();
  } catch {
    return false;
  }
}

async function cmdline(pid: number): Promise<string[] | undefined> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").filter((a) => a !== "");
  } catch {
    return undefined;
  }
}

async function gone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (running(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(POLL_MS);
  }
  return true;
}

/**
 * Stops the nats-server an earlier run left on `storeDir`, if its pid file names one that still runs there:
 * SIGTERM, then SIGKILL after `graceMs`. Returns its pid when it stopped one. Says what it did through `log`.
 * Throws a BusError when that server will not die.
 */
export async function stopOrphanNatsServer(
  storeDir: string,
  log: (message: string) => void = () => undefined,
  graceMs = 5_000,
): Promise<number | undefined> {
  let text: string;
  try {
    text = await readFile(natsPidFile(storeDir), "utf8");
  } catch {
    return undefined;
  }
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || !running(pid)) return undefined;
  const argv = await cmdline(pid);
  if (argv === undefined || !isNatsServerOn(argv, storeDir)) {
    log(`${natsPidFile(storeDir)} names pid ${pid}, which is not a nats-server on ${storeDir}: left alone`);
    return undefined;
  }
  log(`stopping nats-server pid ${pid}, left running on ${storeDir} by an earlier run that did not stop it`);
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      // Exited meanwhile.
    }
  };
  signal("SIGTERM");
  if (await gone(pid, graceMs)) return pid;
  log(`nats-server pid ${pid} did not stop in ${graceMs} ms: killing it`);
  signal("SIGKILL");
  if (await gone(pid, 5_000)) return pid;
  throw new BusError(
    "nats_server_failed",
    `the nats-server (pid ${pid}) left running on ${storeDir} does not stop; kill it, then start again`,
  );
}
