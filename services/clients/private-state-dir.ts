/**
 * Making the state directory private (0700) without chmodding a directory that is not ours: `up --state-dir ~`
 * or `--state-dir /tmp` must not silently close a home or a shared directory. A new directory is created 0700;
 * an existing one is tightened only when it is empty or already looks like a state dir; any other directory
 * that group or others can access is refused, and nothing starts.
 */
import { chmod, mkdir, readdir, stat } from "node:fs/promises";

/** Names only a claw-supervisor state dir holds: one of them makes an existing directory ours to tighten. */
export const STATE_DIR_MARKERS = [
  "nats",
  "credentials",
  "mcp-secret",
  "up.json",
  "up.lock",
  "nats-server.conf",
  "presence",
] as const;
/** Host tokens are `host-token.<hostId>`. */
const HOST_TOKEN_PREFIX = "host-token.";

/** A state dir that cannot be made private; `message` is one line saying what to do. */
export class StateDirModeError extends Error {
  override readonly name = "StateDirModeError";
}

/** True when `entries` (a directory's names) are those of a claw-supervisor state dir, or none at all. Pure. */
export function looksLikeStateDir(entries: readonly string[]): boolean {
  return (
    entries.length === 0 ||
    entries.some((e) => (STATE_DIR_MARKERS as readonly string[]).includes(e) || e.startsWith(HOST_TOKEN_PREFIX))
  );
}

/**
 * Creates `dir` 0700 when it is new (parents too, 0700), or leaves an existing one private: already closed to
 * group and others, it is left as it is; open, it is chmodded 0700 only when it is empty or looks like a state
 * dir ({@link looksLikeStateDir}). Throws a {@link StateDirModeError} otherwise, changing nothing.
 */
export async function ensurePrivateStateDir(dir: string): Promise<void> {
  let created: string | undefined;
  try {
    created = await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new StateDirModeError(`cannot create the state dir ${dir}: ${(err as Error).message}`);
  }
  try {
    if (created !== undefined) {
      // New: ours; the umask may have taken bits away, never added any, but say 0700 outright.
      await chmod(dir, 0o700);
      return;
    }
    const info = await stat(dir);
    if (!info.isDirectory()) throw new StateDirModeError(`the state dir ${dir} is not a directory`);
    if ((info.mode & 0o077) === 0) return;
    if (!looksLikeStateDir(await readdir(dir)))
      throw new StateDirModeError(
        `${dir} is readable by other users and is not a claw-supervisor state dir: use a new or empty directory, ` +
          "or chmod 700 it yourself",
      );
    await chmod(dir, 0o700);
  } catch (err) {
    if (err instanceof StateDirModeError) throw err;
    throw new StateDirModeError(`cannot make the state dir ${dir} private: ${(err as Error).message}`);
  }
}
