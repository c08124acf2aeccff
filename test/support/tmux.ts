import { type ChildProcess, execFile, spawn } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import net from "node:net";
import { promisify } from "node:util";
import { processAlive, waitForProcessGone } from "./processes.js";

const run = promisify(execFile);

/** Options of {@link startTmuxSession}: the command runs as the only pane of a private tmux server on `socketPath`. */
export interface TmuxSessionOptions {
  command: string[];
  socketPath: string;
  cwd: string;
  /** The whole environment of the tmux server and its pane (nothing is inherited from this process). */
  env: Record<string, string>;
  cols?: number;
  rows?: number;
}

/** One command running in a private tmux server, driven by keys and read by screen captures. */
export interface TmuxSession {
  readonly socketPath: string;
  /** Pid of the private tmux server (a child of this process). */
  readonly serverPid: number;
  /** Pid of the command running in the pane. */
  readonly panePid: number;
  /** Types `text` literally (no key-name interpretation). */
  sendKeys(text: string): Promise<void>;
  /** Sends tmux key names such as "Enter", "Escape", "C-c". */
  sendKey(...keys: string[]): Promise<void>;
  /** Presses Enter, at least `settleMs` after the last typed text so the TUI does not take it as part of a paste. */
  sendEnter(): Promise<void>;
  /** The visible screen as plain text, one line per row. */
  capture(): Promise<string>;
  /** Polls the screen until it matches; resolves with that screen, rejects with the last screen after `timeoutMs`. */
  waitForScreen(pattern: RegExp | string, timeoutMs?: number): Promise<string>;
  /** Ends the pane command (SIGTERM, then SIGKILL), then the tmux server; resolves when both pids are gone. Idempotent. */
  stop(): Promise<void>;
}

/** Milliseconds between the last typed text and Enter; a faster Enter is taken as part of a paste burst. */
const settleMs = 250;
const liveServers = new Map<number, ChildProcess>();
const livePanes = new Set<number>();
let exitHookInstalled = false;

/** Starts a private tmux server (`tmux -S socketPath -D`, never the user's default server) running `command` in a fixed-size window. */
export async function startTmuxSession(options: TmuxSessionOptions): Promise<TmuxSession> {
  installExitHook();
  const { socketPath, env } = options;
  const server = spawn("tmux", ["-S", socketPath, "-f", "/dev/null", "-D"], {
    cwd: options.cwd,
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let serverErr = "";
  server.on("error", (error) => void (serverErr += `spawn error: ${error.message}`));
  server.stderr?.on("data", (chunk: Buffer) => void (serverErr = (serverErr + chunk.toString()).slice(-4096)));
  const serverExited = new Promise<void>((resolve) => server.once("exit", () => resolve()));
  if (server.pid === undefined) throw new Error(`tmux did not start: ${serverErr}`);
  const serverPid = server.pid;
  liveServers.set(serverPid, server);

  const tmux = async (...args: string[]): Promise<string> =>
    (await run("tmux", ["-S", socketPath, ...args], { env, timeout: 10_000 })).stdout;

  let panePid = 0;
  try {
    // A tmux client finding no server would start a daemonised one of its own: wait for ours first.
    await waitForSocket(
      socketPath,
      10_000,
      () => server.exitCode !== null,
      () => serverErr,
    );
    await tmux("set-option", "-g", "remain-on-exit", "on");
    const shellCommand = `exec ${options.command.map(shellQuote).join(" ")}`;
    const [paneId, pidText] = (
      await tmux(
        "new-session",
        "-d",
        "-s",
        "main",
        "-x",
        String(options.cols ?? 120),
        "-y",
        String(options.rows ?? 40),
        "-c",
        options.cwd,
        "-P",
        "-F",
        "#{pane_id} #{pane_pid}",
        shellCommand,
      )
    )
      .trim()
      .split(" ");
    panePid = Number(pidText);
    if (!paneId || !Number.isInteger(panePid) || panePid <= 0)
      throw new Error(`tmux new-session printed no pane: ${pidText}`);
    livePanes.add(panePid);
    return makeSession(paneId, panePid);
  } catch (error) {
    await stopAll(panePid);
    throw error;
  }

  async function stopAll(pane: number): Promise<void> {
    if (pane > 0 && processAlive(pane)) {
      process.kill(pane, "SIGTERM");
      if (!(await waitForProcessGone(pane, 3_000)) && processAlive(pane)) process.kill(pane, "SIGKILL");
      await waitForProcessGone(pane, 3_000);
    }
    livePanes.delete(pane);
    if (server.exitCode === null && server.signalCode === null) {
      // tmux sometimes misses the pane's SIGCHLD; a nudge lets it reap the pane instead of orphaning a zombie.
      server.kill("SIGCHLD");
      await tmux("kill-server").catch(() => undefined);
      const exited = await Promise.race([serverExited.then(() => true), sleep(3_000).then(() => false)]);
      if (!exited) {
        server.kill("SIGKILL");
        await serverExited;
      }
    }
    liveServers.delete(serverPid);
    rmSync(socketPath, { force: true });
  }

  function makeSession(paneId: string, pane: number): TmuxSession {
    let lastTypedAt = 0;
    let stopping: Promise<void> | undefined;
    const capture = async (): Promise<string> => tmux("capture-pane", "-p", "-t", paneId);
    return {
      socketPath,
      serverPid,
      panePid: pane,
      sendKeys: async (text) => {
        await tmux("send-keys", "-t", paneId, "-l", "--", text);
        lastTypedAt = Date.now();
      },
      sendKey: async (...keys) => void (await tmux("send-keys", "-t", paneId, ...keys)),
      sendEnter: async () => {
        await sleep(lastTypedAt + settleMs - Date.now());
        await tmux("send-keys", "-t", paneId, "Enter");
      },
      capture,
      waitForScreen: async (pattern, timeoutMs = 15_000) => {
        const deadline = Date.now() + timeoutMs;
        let screen = "";
        for (;;) {
          screen = await capture();
          if (typeof pattern === "string" ? screen.includes(pattern) : pattern.test(screen)) return screen;
          if (Date.now() >= deadline) break;
          await sleep(100);
        }
        throw new Error(`tmux screen did not match ${String(pattern)} within ${timeoutMs} ms; last screen:\n${screen}`);
      },
      stop: () => (stopping ??= stopAll(pane)),
    };
  }
}

async function waitForSocket(
  path: string,
  timeoutMs: number,
  exited: () => boolean,
  stderr: () => string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited()) throw new Error(`tmux server exited early: ${stderr()}`);
    if (existsSync(path) && (await canConnect(path))) return;
    if (Date.now() >= deadline)
      throw new Error(`tmux server socket ${path} not ready after ${timeoutMs} ms: ${stderr()}`);
    await sleep(20);
  }
}

function canConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.createConnection(path);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Quotes one argument for `sh -c`. */
function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** On process exit, SIGKILLs every pane and tmux server still registered (synchronous: exit hooks cannot wait). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const pid of livePanes) safeKill(pid);
    for (const server of liveServers.values()) server.kill("SIGKILL");
  });
}

function safeKill(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}
