/** What a CLI command may touch: its output streams and environment, so tests can run commands in-process. */
import type { ResultCode } from "../../schemas/commands.js";

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
  /** Resolves when the user asks the command to stop (Ctrl-C / SIGTERM), for long-running commands. */
  stopRequested: Promise<string>;
  /** The terminal's width when stdout is one (tables fit their last column to it); absent otherwise. */
  columns?: number | undefined;
}

/**
 * Exit code of each typed failure (0 is success, 1 a local failure, 2 a usage error). 10 and 11 are a waited-for
 * turn's outcomes (turn-wait.ts: interrupted, failed), so `budget_exceeded` is 12: `send --wait` refused by a
 * budget (nothing ran) must not read as a turn that ran and was interrupted.
 */
export const EXIT_CODES: Record<ResultCode, number> = {
  denied: 3,
  not_found: 4,
  conflict: 5,
  rate_limited: 6,
  host_offline: 7,
  timeout: 8,
  invalid: 9,
  budget_exceeded: 12,
};

/** A CLI failure: its message is printed as one line after the command name; `exitCode` is returned. */
export class CliError extends Error {
  override readonly name = "CliError";
  constructor(
    message: string,
    /** 1 a failure, 2 a usage error; commands with typed results use their codes (EXIT_CODES). */
    readonly exitCode: number = 1,
  ) {
    super(message);
  }

  /** The code `--json` prints: `usage` for exit 2, the typed result code of its exit code, else `failure`. */
  get code(): string {
    if (this.exitCode === 2) return "usage";
    return Object.entries(EXIT_CODES).find(([, n]) => n === this.exitCode)?.[0] ?? "failure";
  }
}

/** One subcommand of `claw-supervisor`. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Its long option names without `--`, for shell completion; when absent, the `--words` of `usage`. */
  options?: readonly string[];
  /** Its first-argument actions (`policy get|set|...`), for shell completion. */
  actions?: readonly string[];
  run(argv: string[], io: CliIo): Promise<number>;
}

/** One entry of the CLI's command table: enough to list, suggest and complete it without loading its module. */
export interface CommandEntry {
  name: string;
  summary: string;
  /** Loads the command's module (a dynamic import) and returns the command. */
  load(): Promise<Command>;
}
