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

/** A CLI started in-process that runs until `stop()`, which plays the part of Ctrl-C. */
export interface StartedCli {
  exited: Promise<number>;
  stop(signal?: string): void;
  stdout(): string;
  stderr(): string;
}

/** Starts `claw-supervisor <argv>` in this process with exactly `env`, for commands that run until stopped. */
export function startCliInProcess(argv: string[], env: NodeJS.ProcessEnv = {}): StartedCli {
  let stdout = "";
  let stderr = "";
  let requestStop: (signal: string) => void = () => undefined;
  const io: CliIo = {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env,
    stopRequested: new Promise((resolve) => (requestStop = resolve)),
  };
  const exited = runCli(argv, io);
  return { exited, stop: (signal = "SIGINT") => requestStop(signal), stdout: () => stdout, stderr: () => stderr };
}
