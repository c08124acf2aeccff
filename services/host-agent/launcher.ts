/**
 * What `claw-supervisor launch` does, as functions: make sure an app-server answers (starting the Codex daemon
 * when the endpoint is the daemon's socket), then run the Codex TUI in the foreground on the user's terminal
 * with a presence record (presence-record.ts) while it runs, forwarding signals and returning its exit code.
 */
import { spawn } from "node:child_process";
import { readlinkSync } from "node:fs";
import os from "node:os";
import { isatty } from "node:tty";
import { connectCodex, daemonSocketPath, describeEndpoint, parseEndpoint } from "../codex-rpc/index.js";
import { removePresenceRecord, writePresenceRecord } from "./presence-record.js";

/** What the TUI is started with. */
export interface TuiLaunch {
  /** The endpoint text, passed to `--remote` as given. */
  endpoint: string;
  /** Real path of the working directory. */
  workspace: string;
  /** When set, `codex resume` attaches to this thread. */
  resumeThreadId?: string;
  /** True when the user named the workspace (`--cd`): it is passed on to `codex resume` too. */
  explicitWorkspace: boolean;
  /** Extra arguments for codex (after `--` on the launch command line). */
  extraArgs: string[];
}

/** The codex arguments: `[resume] --remote E [--cd W] [extra...] [threadId]`. Pure. */
export function tuiArgs(launch: TuiLaunch): string[] {
  const resume = launch.resumeThreadId !== undefined;
  const cd = !resume || launch.explicitWorkspace ? ["--cd", launch.workspace] : [];
  return [
    ...(resume ? ["resume"] : []),
    "--remote",
    launch.endpoint,
    ...cd,
    ...launch.extraArgs,
    ...(resume ? [launch.resumeThreadId!] : []),
  ];
}

/** A launch failure with a message for the user. */
export class LaunchError extends Error {
  override readonly name = "LaunchError";
}

/** Resolves when an app-server answers `initialize` at `endpointText`; rejects with the reason otherwise. */
export async function probeAppServer(endpointText: string, env: NodeJS.ProcessEnv, timeoutMs = 3_000): Promise<void> {
  const client = await connectCodex(parseEndpoint(endpointText, { env }), {
    connectTimeoutMs: timeoutMs,
    requestTimeoutMs: timeoutMs,
  });
  try {
    await client.initialize({ clientInfo: { name: "claw-supervisor-launch", version: "0" } });
  } finally {
    client.close();
  }
}

/** True when the endpoint is this user's Codex daemon socket (`unix://` or its path). */
export function isDaemonEndpoint(endpointText: string, env: NodeJS.ProcessEnv): boolean {
  const endpoint = parseEndpoint(endpointText, { env });
  return endpoint.kind === "unix" && endpoint.socketPath === daemonSocketPath(env);
}

/**
 * Makes sure an app-server answers at the endpoint. For the daemon socket it runs `codex app-server daemon
 * start` when nothing answers and waits for it; any other endpoint must already answer.
 */
export async function ensureAppServer(
  endpointText: string,
  opts: { codexBin: string; env: NodeJS.ProcessEnv; notice: (line: string) => void; startTimeoutMs?: number },
): Promise<void> {
  const where = describeEndpoint(parseEndpoint(endpointText, { env: opts.env }));
  try {
    await probeAppServer(endpointText, opts.env);
    return;
  } catch (err) {
    if (!isDaemonEndpoint(endpointText, opts.env))
      throw new LaunchError(`no Codex app-server answers at ${where}: ${(err as Error).message}`);
  }
  opts.notice(`no Codex daemon answers at ${where}; starting it with '${opts.codexBin} app-server daemon start'`);
  const code = await runQuiet(opts.codexBin, ["app-server", "daemon", "start"], opts.env);
  if (code !== 0) throw new LaunchError(`'${opts.codexBin} app-server daemon start' failed (exit ${code})`);
  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  for (;;) {
    try {
      await probeAppServer(endpointText, opts.env, 1_000);
      return;
    } catch (err) {
      if (Date.now() > deadline)
        throw new LaunchError(`the Codex daemon did not answer at ${where}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function runQuiet(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ["ignore", "ignore", "inherit"] });
    child.once("error", (err) => reject(new LaunchError(`cannot run ${command}: ${err.message}`)));
    child.once("exit", (code, signal) => resolve(code ?? 128 + (os.constants.signals[signal as NodeJS.Signals] ?? 0)));
  });
}

/** The terminal on stdin (e.g. `/dev/pts/3`), else `$SSH_TTY`, else null. */
export function currentTty(env: NodeJS.ProcessEnv): string | null {
  // isatty, not process.stdin: creating process.stdin would switch the terminal (shared with the TUI) to non-blocking.
  if (isatty(0)) {
    try {
      const target = readlinkSync("/proc/self/fd/0");
      if (target.startsWith("/dev/")) return target;
    } catch {
      // Not Linux: fall through.
    }
  }
  return env.SSH_TTY || null;
}

const FORWARDED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"] as const;

/**
 * Runs the TUI with the terminal untouched (`stdio: "inherit"`), writes its presence record once it has a pid,
 * forwards SIGINT/SIGTERM/SIGHUP/SIGQUIT to it, removes the record when it exits, and resolves with its exit
 * code (128 + signal number when a signal ended it).
 */
export async function runTui(
  launch: TuiLaunch,
  opts: { codexBin: string; env: NodeJS.ProcessEnv; stateDir: string; notice: (line: string) => void },
): Promise<number> {
  const startedAtMs = Date.now();
  const child = spawn(opts.codexBin, tuiArgs(launch), { stdio: "inherit", cwd: launch.workspace, env: opts.env });
  const exited = new Promise<number>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? 128 + (os.constants.signals[signal as NodeJS.Signals] ?? 0))),
  );
  const spawned = await new Promise<boolean>((resolve) => {
    child.once("spawn", () => resolve(true));
    child.once("error", () => resolve(false));
  });
  if (!spawned || child.pid === undefined) {
    throw new LaunchError(`cannot run ${opts.codexBin}: not found or not executable (set CODEX_BIN or pass --codex)`);
  }
  const tuiPid = child.pid;
  const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  try {
    await writePresenceRecord(opts.stateDir, {
      version: 1,
      tuiPid,
      launcherPid: process.pid,
      tty: currentTty(opts.env),
      workspace: launch.workspace,
      resumeThreadId: launch.resumeThreadId ?? null,
      endpoint: launch.endpoint,
      startedAtMs,
    }).catch((err: Error) =>
      opts.notice(`cannot record presence (the supervisor will not see you attached): ${err.message}`),
    );
    return await exited;
  } finally {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
    await removePresenceRecord(opts.stateDir, tuiPid).catch(() => undefined);
  }
}
