/** Test support: runs the CLI in-process and captures what it prints (tests only). */
import type { CliIo } from "./io.js";
import { runCli } from "./run.js";

/** What one in-process run printed and returned. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `claw-supervisor <argv>` in this process with exactly `env`; never asks it to stop. */
export async function runCliInProcess(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  let stdout = "";
  let stderr = "";
  const io: CliIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env,
    stopRequested: new Promise(() => undefined),
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}
