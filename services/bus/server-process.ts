import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants as fsConstants, statSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { connect as tcpConnect } from "node:net";
import { delimiter, join } from "node:path";
import { BusError } from "./errors.js";

/** Listen URLs a nats-server wrote to its ports file (`--ports_file_dir`). */
export interface NatsPortsFile {
  nats: string[];
  monitoring?: string[];
  cluster?: string[];
}

/** A running nats-server child process. */
export interface NatsServerProcess {
  pid: number;
  /** Settles when the process has exited (never rejects). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True once the process has exited. */
  hasExited(): boolean;
  /** The last lines the server logged, for error messages. */
  logTail(): string;
}

const LOG_TAIL_LINES = 40;
const POLL_MS = 25;
const live = new Map<number, ChildProcess>();
let exitHookInstalled = false;

/** Absolute path of the first executable `name` on `pathEnv` (default `$PATH`), or undefined. */
export function findExecutable(name: string, pathEnv: string = process.env.PATH ?? ""): string | undefined {
  for (const dir of pathEnv.split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/** Pids of nats-server children started by this process that have not exited yet. */
export function liveNatsServerPids(): number[] {
  return [...live.keys()];
}

/** SIGKILLs every live nats-server child synchronously; safe inside a process 'exit' handler. */
export function killAllNatsServersNow(): void {
  for (const pid of live.keys()) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Children must not outlive us, even when a caller forgot to stop them.
  process.on("exit", killAllNatsServersNow);
}

/** Spawns `binary args...`; the child is SIGKILLed when this process exits, whatever happens. */
export function spawnNatsServer(binary: string, args: string[]): NatsServerProcess {
  installExitHook();
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"] });
  const tail: string[] = [];
  const remember = (chunk: Buffer): void => {
    for (const line of chunk.toString("utf8").split("\n")) {
      if (line.trim() === "") continue;
      tail.push(line);
      if (tail.length > LOG_TAIL_LINES) tail.shift();
    }
  };
  child.stdout?.on("data", remember);
  child.stderr?.on("data", remember);
  let done = false;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => {
      done = true;
      if (child.pid !== undefined) live.delete(child.pid);
      resolve({ code, signal });
    });
    child.once("error", (err) => {
      done = true;
      tail.push(`spawn failed: ${err.message}`);
      if (child.pid !== undefined) live.delete(child.pid);
      resolve({ code: null, signal: null });
    });
  });
  if (child.pid === undefined) {
    return { pid: -1, exited, hasExited: () => true, logTail: () => tail.join("\n") };
  }
  live.set(child.pid, child);
  return { pid: child.pid, exited, hasExited: () => done, logTail: () => tail.join("\n") };
}

function startFailure(proc: NatsServerProcess, what: string): BusError {
  return new BusError("nats_server_failed", `nats-server (pid ${proc.pid}) ${what}\n${proc.logTail()}`);
}

/** Waits for the server's ports file in `dir` and returns its listen URLs; rejects if the server exits first. */
export async function waitForPortsFile(
  proc: NatsServerProcess,
  dir: string,
  timeoutMs: number,
): Promise<NatsPortsFile> {
  const deadline = Date.now() + timeoutMs;
  const suffix = `_${proc.pid}.ports`;
  while (Date.now() < deadline) {
    if (proc.hasExited()) throw startFailure(proc, "exited during start-up");
    const name = (await readdir(dir)).find((f) => f.endsWith(suffix));
    if (name) {
      try {
        const parsed = JSON.parse(await readFile(join(dir, name), "utf8")) as NatsPortsFile;
        if (Array.isArray(parsed.nats) && parsed.nats.length > 0) return parsed;
      } catch {
        // Partially written; read it again on the next poll.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw startFailure(proc, `wrote no ports file in ${timeoutMs} ms`);
}

function readsInfo(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port });
    let seen = "";
    const finish = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => finish(false));
    socket.on("error", () => finish(false));
    socket.on("data", (chunk) => {
      seen += chunk.toString("utf8");
      if (seen.startsWith("INFO ")) finish(true);
      else if (seen.length >= 5) finish(false);
    });
  });
}

/** Waits until `host:port` greets a TCP client with the NATS `INFO` line; rejects if the server exits first. */
export async function waitForNatsInfo(
  proc: NatsServerProcess,
  host: string,
  port: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.hasExited()) throw startFailure(proc, "exited during start-up");
    if (await readsInfo(host, port)) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  throw startFailure(proc, `did not accept connections on ${host}:${port} in ${timeoutMs} ms`);
}

/** Sends SIGTERM to the pid, SIGKILL after `graceMs`, and resolves once the process has exited. */
export async function stopNatsServer(proc: NatsServerProcess, graceMs = 5_000): Promise<void> {
  if (proc.hasExited()) return;
  const signal = (sig: NodeJS.Signals): void => {
    try {
      process.kill(proc.pid, sig);
    } catch {
      // Exited between the check and the signal.
    }
  };
  signal("SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const forced = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      signal("SIGKILL");
      resolve();
    }, graceMs);
  });
  await Promise.race([proc.exited, forced]);
  clearTimeout(timer);
  await proc.exited;
}

/** Host and port of a `nats://host:port` URL. Pure. */
export function hostPortOf(url: string): { host: string; port: number } {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}
