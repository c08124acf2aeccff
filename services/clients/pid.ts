/** Whether a process still runs: for lock files, presence records and the up-file, which name a pid. */
import { readFileSync } from "node:fs";

/** True while `pid` runs (a zombie counts as gone: it runs nothing and waits only to be reaped). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  if (process.platform !== "linux") return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}
