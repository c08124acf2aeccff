/** Where the supervisor keeps its state on this machine. */
import os from "node:os";
import path from "node:path";

/** `$CLAW_SUPERVISOR_STATE_DIR`, else `$XDG_STATE_HOME/claw-supervisor`, else `~/.local/state/claw-supervisor`. */
export function defaultStateDir(env: NodeJS.ProcessEnv): string {
  if (env.CLAW_SUPERVISOR_STATE_DIR) return path.resolve(env.CLAW_SUPERVISOR_STATE_DIR);
  const base = env.XDG_STATE_HOME || path.join(env.HOME || os.homedir(), ".local", "state");
  return path.join(base, "claw-supervisor");
}
