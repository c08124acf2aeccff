/** What a CLI command may touch: its output streams and environment, so tests can run commands in-process. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Resolves when the user asks the command to stop (Ctrl-C / SIGTERM), for long-running commands. */
  stopRequested: Promise<string>;
}

/** A CLI failure: its message is printed as one line after the command name; `exitCode` is returned. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    /** 1 a failure, 2 a usage error; commands with typed results may use their codes (see command-client.ts). */
    readonly exitCode: number = 1,
  ) {
    super(message);
  }
}

/** One subcommand of `claw-supervisor`. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  run(argv: string[], io: CliIo): Promise<number>;
}
