import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readlinkSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import WebSocket from "ws";
import { codexBinPath } from "./codex-bin.js";
import { processAlive } from "./processes.js";
import { type TmuxSession, startTmuxSession } from "./tmux.js";

/** Options of {@link startCodexAppServer}; `model` is a fake model (or anything with its `baseUrl`). */
export interface CodexAppServerOptions {
  model: { baseUrl: string };
  listen: "unix" | "ws";
  /** Workspace directory trusted in config.toml and used as the server's cwd; default `<tmp>/workspace`. */
  workspace?: string;
  /** Extra TOML appended to the generated config.toml. */
  extraConfig?: string;
  /** Milliseconds to wait for the server to answer a WebSocket handshake; default 20 000. */
  readyTimeoutMs?: number;
}

/** A real `codex app-server` on a private CODEX_HOME, talking to a fake model; `stop()` leaves nothing behind. */
export interface CodexAppServer {
  /** `unix:///abs/app.sock` or `ws://127.0.0.1:PORT`, as `codex --remote` accepts it. */
  readonly endpoint: string;
  readonly socketPath?: string;
  readonly wsUrl?: string;
  readonly codexHome: string;
  readonly home: string;
  readonly workspace: string;
  /** The whole environment the server runs with; TUIs get the same. */
  readonly env: Record<string, string>;
  readonly pid: number;
  /** The last 64 KiB of the server's stderr, for failure messages. */
  stderrTail(): string;
  /** Opens a raw WebSocket to the server (over the unix socket or TCP), resolved once open. */
  connect(): Promise<WebSocket>;
  /** SIGTERM, then SIGKILL after `graceMs` (default 3000); waits for exit, ends this server's TUIs, removes the temp dir. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/** Options of {@link startTui}: `cwd` becomes `-C`, `resumeThreadId` runs `codex resume <id>`. */
export interface TuiOptions {
  cwd?: string;
  resumeThreadId?: string;
  cols?: number;
  rows?: number;
  readyTimeoutMs?: number;
}

/** The real Codex TUI attached to a harness server inside a private tmux; `pid` is the TUI process. */
export interface Tui extends TmuxSession {
  readonly pid: number;
}

const stderrLimit = 64 * 1024;
/** The TUI is ready for a prompt: composer placeholder plus the status line (`fake-model <effort> · <cwd>`), which the loading splash lacks. */
export const TUI_READY = /Ask Codex to do anything[\s\S]*\n\s*fake-model \S+ · /;
const TRUST_PROMPT = /Trust this folder\?/;
const liveServers = new Map<number, { child: ChildProcess; tmp: string; socketTarget?: string }>();
const tuisByServer = new Map<number, Set<Tui>>();
let exitHookInstalled = false;
let tmuxCounter = 0;

/** The offline config.toml from codex-app-server.md for a fake provider at `baseUrl`, trusting `workspace`. */
export function offlineConfigToml(baseUrl: string, workspace: string): string {
  return `model = "fake-model"
model_provider = "fake"
approval_policy = "never"
sandbox_mode = "read-only"
check_for_update_on_startup = false
cli_auth_credentials_store = "file"

[model_providers.fake]
name = "fake"
base_url = ${JSON.stringify(baseUrl)}
wire_api = "responses"
env_key = "FAKE_OPENAI_API_KEY"
request_max_retries = 0
stream_max_retries = 0
supports_websockets = false

[features]
plugins = false
daemon_auto_start = false

[analytics]
enabled = false

[feedback]
enabled = false

[tui]
screen_reader_detection_done = true
show_tooltips = false

[projects.${JSON.stringify(workspace)}]
trust_level = "trusted"
`;
}

/** Starts `codex app-server --listen unix://<tmp>/app.sock | ws://127.0.0.1:0` offline; resolves once a WebSocket handshake succeeds. */
export async function startCodexAppServer(options: CodexAppServerOptions): Promise<CodexAppServer> {
  installExitHook();
  const bin = codexBinPath();
  // realpath: macOS /var → /private/var, so the trusted project path matches what Codex resolves.
  const tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), "codex-harness-")));
  const codexHome = path.join(tmp, "codex-home");
  const home = path.join(tmp, "home");
  const workspace = options.workspace ?? path.join(tmp, "workspace");
  for (const dir of [codexHome, home, workspace]) mkdirSync(dir, { recursive: true });
  writeFileSync(
    path.join(codexHome, "config.toml"),
    offlineConfigToml(options.model.baseUrl, workspace) + (options.extraConfig ?? ""),
  );
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    CODEX_HOME: codexHome,
    FAKE_OPENAI_API_KEY: "fake-key",
    LANG: "C.UTF-8",
    TERM: "xterm-256color",
    TMPDIR: tmp,
    // The TUI fetches an announcement tip from raw.githubusercontent.com at start-up whatever the config says;
    // a loopback proxy (the fake model refuses CONNECT) keeps that, and any other egress, off the network.
    ...proxyEnv(new URL(options.model.baseUrl).origin),
  };
  const socketPath = options.listen === "unix" ? path.join(tmp, "app.sock") : undefined;
  const listen = socketPath ? `unix://${socketPath}` : "ws://127.0.0.1:0";
  const child = spawn(bin, ["app-server", "--listen", listen, "--disable", "daemon_auto_start"], {
    cwd: workspace,
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.on("error", (error) => void (stderr += `\nspawn error: ${error.message}`));
  if (child.pid === undefined) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`codex app-server did not spawn (${bin})`);
  }
  const pid = child.pid;
  const entry: { child: ChildProcess; tmp: string; socketTarget?: string } = { child, tmp };
  liveServers.set(pid, entry);
  child.stderr?.on("data", (chunk: Buffer) => void (stderr = (stderr + chunk.toString()).slice(-stderrLimit)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let stopping: Promise<void> | undefined;

  const stop = (graceMs = 3_000): Promise<void> =>
    (stopping ??= (async () => {
      await Promise.all([...(tuisByServer.get(pid) ?? [])].map((tui) => tui.stop()));
      tuisByServer.delete(pid);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const done = await Promise.race([exited.then(() => true), delay(graceMs).then(() => false)]);
        if (!done) {
          child.kill("SIGKILL");
          await exited;
        }
      }
      liveServers.delete(pid);
      removeSocketTarget(entry.socketTarget);
      rmSync(tmp, { recursive: true, force: true });
    })());

  try {
    const deadline = Date.now() + (options.readyTimeoutMs ?? 20_000);
    let wsUrl: string | undefined;
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error("exited during start-up");
      if (!socketPath) wsUrl ??= /listening on: (ws:\/\/127\.0\.0\.1:\d+)/.exec(stripAnsi(stderr))?.[1];
      if ((socketPath || wsUrl) && (await handshake(socketPath, wsUrl))) break;
      if (Date.now() >= deadline) throw new Error("did not answer a WebSocket handshake in time");
      await delay(30);
    }
    // The unix listener is a symlink into /tmp/codex-daemon-<uid>/; SIGKILL would leave the target and its .lock behind.
    if (socketPath) entry.socketTarget = path.resolve(tmp, readlinkOrSelf(socketPath));
    return {
      endpoint: socketPath ? `unix://${socketPath}` : (wsUrl as string),
      socketPath,
      wsUrl,
      codexHome,
      home,
      workspace,
      env,
      pid,
      stderrTail: () => stderr,
      connect: () => openSocket(socketPath, wsUrl),
      stop,
    };
  } catch (error) {
    await stop();
    throw new Error(`codex app-server (${listen}): ${(error as Error).message}\nstderr:\n${stderr}`, { cause: error });
  }
}

/** Runs `codex [resume] --remote <endpoint> --disable daemon_auto_start` in a private tmux (120x40), past any trust prompt, until the composer shows. */
export async function startTui(server: CodexAppServer, options: TuiOptions = {}): Promise<Tui> {
  const args = ["--remote", server.endpoint, "--disable", "daemon_auto_start"];
  if (options.cwd) args.push("-C", options.cwd);
  const command = options.resumeThreadId
    ? [codexBinPath(), "resume", ...args, options.resumeThreadId]
    : [codexBinPath(), ...args];
  const socketPath = path.join(path.dirname(server.codexHome), `tmux-${++tmuxCounter}.sock`);
  const session = await startTmuxSession({
    command,
    socketPath,
    cwd: options.cwd ?? server.workspace,
    env: server.env,
    cols: options.cols ?? 120,
    rows: options.rows ?? 40,
  });
  const tui: Tui = Object.assign(session, { pid: session.panePid });
  const own = tuisByServer.get(server.pid) ?? new Set<Tui>();
  tuisByServer.set(server.pid, own.add(tui));
  const stopSession = session.stop;
  tui.stop = () => stopSession().finally(() => own.delete(tui));
  try {
    const timeoutMs = options.readyTimeoutMs ?? 20_000;
    const first = await tui.waitForScreen(new RegExp(`${TUI_READY.source}|${TRUST_PROMPT.source}`), timeoutMs);
    if (TRUST_PROMPT.test(first) && !TUI_READY.test(first)) {
      // "1. Trust and continue" is preselected; Codex then records the folder as trusted in config.toml.
      await tui.sendEnter();
      await tui.waitForScreen(TUI_READY, timeoutMs);
    }
    return tui;
  } catch (error) {
    await tui.stop();
    throw new Error(`codex TUI: ${(error as Error).message}\nserver stderr:\n${server.stderrTail()}`, { cause: error });
  }
}

/** True while the pid is running (zombies count as gone); re-exported for tests asserting nothing is left behind. */
export { processAlive };

function openSocket(socketPath: string | undefined, wsUrl: string | undefined): Promise<WebSocket> {
  const ws = socketPath
    ? new WebSocket("ws://localhost/", { createConnection: () => net.createConnection(socketPath) })
    : new WebSocket(wsUrl as string);
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

async function handshake(socketPath: string | undefined, wsUrl: string | undefined): Promise<boolean> {
  try {
    const ws = await openSocket(socketPath, wsUrl);
    ws.on("error", () => undefined);
    ws.terminate();
    return true;
  } catch {
    return false;
  }
}

/** Proxy variables (both cases) pointing at `proxy`, with loopback exempt so the model is reached directly. */
function proxyEnv(proxy: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ["http_proxy", "https_proxy", "all_proxy"]) env[name] = env[name.toUpperCase()] = proxy;
  env.no_proxy = env.NO_PROXY = "127.0.0.1,localhost,::1";
  return env;
}

function removeSocketTarget(target: string | undefined): void {
  if (!target) return;
  rmSync(target, { force: true });
  rmSync(`${target}.lock`, { force: true });
}

function readlinkOrSelf(file: string): string {
  try {
    return readlinkSync(file);
  } catch {
    return file;
  }
}

function stripAnsi(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: ESC starts the ANSI colour codes this strips
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** On process exit, SIGKILLs every server still registered and removes its temp dir (synchronous: exit hooks cannot wait). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const { child, tmp, socketTarget } of liveServers.values()) {
      child.kill("SIGKILL");
      removeSocketTarget(socketTarget);
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}
