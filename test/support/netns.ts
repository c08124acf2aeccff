/**
 * Hosts in network namespaces of their own, for tests that cut one host off the network (Linux, root, `ip`).
 * `createHostNetns` makes a namespace `claw-<pid>-<n>` joined to the root namespace by a veth pair on a private
 * /30 (`10.213.x.(4k+1)` on the root side, `.(4k+2)` inside); `cut()` and `heal()` take the root side's link
 * down and up, as a pulled cable would. Processes run inside with `ip netns exec`, which execs the command
 * (the child's pid is the command's own), and are stopped by that pid. Everything else (nats-server, the fake
 * model) stays on the root namespace's loopback: `bridgeIntoNetns` gives a loopback port inside the namespace
 * that reaches a root-side TCP port through a unix socket, so the host's model traffic does not cross the veth
 * and survives the cut, and nothing leaves this machine. `destroy()` (and a process exit hook) removes the
 * namespace and the veth; `sweepLeftoverNetns` removes those of test runs whose process is gone.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import WebSocket from "ws";
import { codexBinPath } from "./codex-bin.js";
import { offlineConfigToml } from "./codex-harness.js";
import { processAlive } from "./processes.js";

/** A network namespace joined to the root namespace by a veth pair; see the module comment. */
export interface HostNetns {
  /** The namespace, `claw-<pid>-<n>`. */
  readonly name: string;
  /** The veth end in the root namespace (the one `cut` takes down). */
  readonly rootIf: string;
  /** The veth end inside the namespace. */
  readonly hostIf: string;
  /** The root side's address, where root-namespace services the host must reach listen. */
  readonly rootAddress: string;
  /** The host's own address inside the namespace. */
  readonly hostAddress: string;
  /** `argv` run inside the namespace: `ip netns exec <name> ...argv`. */
  wrap(argv: string[]): string[];
  /**
   * Cuts the host off. `link` (default): the root side's link goes down, nothing passes either way.
   * `to-host`: only what the root side sends to the host is dropped (a qdisc that queues nothing), so the
   * host's packets still arrive but no answer, ack or pong gets back: a one-way failure.
   */
  cut(how?: "link" | "to-host"): void;
  /** Undoes `cut`: the link up again, nothing dropped. */
  heal(): void;
  /** Deletes the veth pair and the namespace (stop the processes inside first). Idempotent, synchronous. */
  destroy(): void;
}

const NAME_PREFIX = "claw-";
const created = new Set<HostNetns>();
/** Processes started in a namespace and not yet exited: killed by the exit hook if nobody stopped them. */
const running = new Set<ChildProcess>();
let counter = 0;
let exitHookInstalled = false;

/** Runs `ip ...args`; throws with its stderr when it fails. */
function ip(...args: string[]): string {
  const r = spawnSync("ip", args, { encoding: "utf8", timeout: 10_000 });
  if (r.error) throw new Error(`ip ${args.join(" ")}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** `ip ...args`, ignoring failure (clean-up of something that may already be gone). */
function ipQuiet(...args: string[]): void {
  spawnSync("ip", args, { stdio: "ignore", timeout: 10_000 });
}

/** Runs `tc ...args` (iproute2's traffic control); throws with its stderr when it fails. */
function tc(...args: string[]): void {
  const r = spawnSync("tc", args, { encoding: "utf8", timeout: 10_000 });
  if (r.error) throw new Error(`tc ${args.join(" ")}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`tc ${args.join(" ")} exited ${r.status}: ${r.stderr.trim()}`);
}

/**
 * Why host namespaces cannot be made here, or undefined when they can: it needs Linux, root, iproute2's `ip`
 * and `tc`, and a kernel and container that allow a namespace, a veth pair and a pfifo qdisc (tried once, then
 * removed).
 */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== "linux") return `network namespaces need Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return "creating network namespaces and veth pairs needs root";
  for (const tool of ["ip", "tc"]) {
    const version = spawnSync(tool, ["-V"], { encoding: "utf8" });
    if (version.error || version.status !== 0) return `the '${tool}' tool (iproute2) is not installed`;
  }
  const name = `${NAME_PREFIX}${process.pid}-probe`;
  const rootIf = `cw${process.pid}pr`;
  try {
    ip("netns", "add", name);
    ip("link", "add", rootIf, "type", "veth", "peer", "name", `cw${process.pid}ph`);
    tc("qdisc", "add", "dev", rootIf, "root", "pfifo", "limit", "0");
    return undefined;
  } catch (err) {
    return `this machine refuses a network namespace, a veth pair or a pfifo qdisc (${(err as Error).message.split("\n")[0]})`;
  } finally {
    ipQuiet("link", "del", rootIf);
    ipQuiet("netns", "del", name);
  }
}

/** Removes the namespaces and root-side veths that earlier test runs made and whose process is gone. */
export function sweepLeftoverNetns(): void {
  const deadRun = (pid: string): boolean => Number(pid) !== process.pid && !processAlive(Number(pid));
  for (const line of ip("netns", "list").split("\n")) {
    const m = /^(claw-(\d+)-\S+)/.exec(line);
    if (m?.[1] && m[2] && deadRun(m[2])) ipQuiet("netns", "del", m[1]);
  }
  for (const line of ip("-o", "link", "show").split("\n")) {
    const m = /^\d+:\s+(cw(\d+)[np]\d*[rh])[@:]/.exec(line);
    if (m?.[1] && m[2] && deadRun(m[2])) ipQuiet("link", "del", m[1]);
  }
}

/** Makes a host namespace with its veth pair and addresses, links up; see the module comment. */
export function createHostNetns(): HostNetns {
  installExitHook();
  const n = counter++;
  const name = `${NAME_PREFIX}${process.pid}-${n}`;
  const rootIf = `cw${process.pid}n${n}r`;
  const hostIf = `cw${process.pid}n${n}h`;
  const [rootAddress, hostAddress] = freeSubnet(n);
  let destroyed = false;
  /** Fixed neighbour entries both ways, so a one-way cut does not also stop the other way by starving ARP. */
  const pinNeighbours = (): void => {
    const rootMac = readFileSync(`/sys/class/net/${rootIf}/address`, "utf8").trim();
    const hostMac = /link\/ether ([0-9a-f:]+)/.exec(ip("-n", name, "link", "show", hostIf))?.[1];
    if (!hostMac) throw new Error(`no MAC address on ${hostIf} in ${name}`);
    ip("neigh", "replace", hostAddress, "lladdr", hostMac, "dev", rootIf, "nud", "permanent");
    ip("-n", name, "neigh", "replace", rootAddress, "lladdr", rootMac, "dev", hostIf, "nud", "permanent");
  };
  const ns: HostNetns = {
    name,
    rootIf,
    hostIf,
    rootAddress,
    hostAddress,
    wrap: (argv) => ["ip", "netns", "exec", name, ...argv],
    cut(how = "link") {
      if (how === "link") ip("link", "set", rootIf, "down");
      else tc("qdisc", "replace", "dev", rootIf, "root", "pfifo", "limit", "0");
    },
    heal() {
      spawnSync("tc", ["qdisc", "del", "dev", rootIf, "root"], { stdio: "ignore", timeout: 10_000 });
      ip("link", "set", rootIf, "up");
      pinNeighbours();
    },
    destroy() {
      if (destroyed) return;
      destroyed = true;
      created.delete(ns);
      // Deleting either end removes the pair; the namespace goes once no process is left in it.
      ipQuiet("link", "del", rootIf);
      ipQuiet("netns", "del", name);
    },
  };
  created.add(ns);
  try {
    ip("netns", "add", name);
    ip("link", "add", rootIf, "type", "veth", "peer", "name", hostIf);
    ip("link", "set", hostIf, "netns", name);
    ip("addr", "add", `${rootAddress}/30`, "dev", rootIf);
    ip("link", "set", rootIf, "up");
    ip("-n", name, "addr", "add", `${hostAddress}/30`, "dev", hostIf);
    ip("-n", name, "link", "set", hostIf, "up");
    ip("-n", name, "link", "set", "lo", "up");
    pinNeighbours();
    return ns;
  } catch (err) {
    ns.destroy();
    throw err;
  }
}

/** A /30 in 10.213.0.0/16 that no root-namespace address uses: [root side, host side]. */
function freeSubnet(n: number): [string, string] {
  const used = ip("-4", "-o", "addr", "show");
  for (let i = 0; i < 256 * 64; i++) {
    const slot = (process.pid * 64 + n + i) % (256 * 64);
    const third = Math.floor(slot / 64);
    const base = (slot % 64) * 4;
    const prefix = `10.213.${third}.`;
    const taken = [...used.matchAll(/inet 10\.213\.(\d+)\.(\d+)\//g)].some(
      (m) => Number(m[1]) === third && Math.floor(Number(m[2]) / 4) * 4 === base,
    );
    if (!taken) return [`${prefix}${base + 1}`, `${prefix}${base + 2}`];
  }
  throw new Error("no free /30 left in 10.213.0.0/16");
}

/** A process started inside a namespace. */
export interface NsProcess {
  readonly child: ChildProcess;
  /** The command's own pid (`ip netns exec` execs it). */
  readonly pid: number;
  /** The last 64 KiB of its stdout and stderr, interleaved. */
  output(): string;
  /** Resolves with the exit code (or the signal name) once it has exited. */
  readonly exited: Promise<number | string>;
  /** SIGTERM, SIGKILL after `graceMs` (default 5000); resolves once it has exited. Idempotent. */
  stop(graceMs?: number): Promise<void>;
}

const OUTPUT_LIMIT = 64 * 1024;

/** Runs `argv` inside `ns` with exactly `env`; see {@link NsProcess}. */
export function spawnInNetns(ns: HostNetns, argv: string[], opts: { env: NodeJS.ProcessEnv; cwd?: string }): NsProcess {
  const [cmd, ...args] = ns.wrap(argv) as [string, ...string[]];
  const child = spawn(cmd, args, { env: opts.env, cwd: opts.cwd, stdio: ["ignore", "pipe", "pipe"] });
  if (child.pid === undefined) throw new Error(`could not spawn ${argv.join(" ")} in ${ns.name}`);
  const pid = child.pid;
  installExitHook();
  running.add(child);
  let out = "";
  const add = (chunk: Buffer): void => void (out = (out + chunk.toString("utf8")).slice(-OUTPUT_LIMIT));
  child.stdout!.on("data", add);
  child.stderr!.on("data", add);
  child.on("error", (err) => void (out += `\nspawn error: ${err.message}`));
  const exited = new Promise<number | string>((resolve) =>
    child.once("exit", (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? -1);
    }),
  );
  let stopping: Promise<void> | undefined;
  return {
    child,
    pid,
    output: () => out,
    exited,
    stop: (graceMs = 5_000) =>
      (stopping ??= (async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        process.kill(pid, "SIGTERM");
        const done = await Promise.race([exited.then(() => true), delay(graceMs).then(() => false)]);
        if (!done) {
          process.kill(pid, "SIGKILL");
          await exited;
        }
      })()),
  };
}

/** A loopback port inside a namespace that reaches a root-namespace TCP port. */
export interface NetnsBridge {
  /** The port on 127.0.0.1 inside the namespace. */
  readonly port: number;
  /** The in-namespace forwarder's pid. */
  readonly pid: number;
  stop(): Promise<void>;
}

/** Forwards each connection to 127.0.0.1:<port> inside the namespace to a unix socket (path in argv[1]). */
const BRIDGE_SCRIPT = `
const net = require("node:net");
const target = process.argv[1];
const server = net.createServer((inside) => {
  const out = net.connect(target);
  const end = () => { inside.destroy(); out.destroy(); };
  inside.on("error", end); out.on("error", end); inside.on("close", end); out.on("close", end);
  inside.pipe(out).pipe(inside);
});
server.listen(0, "127.0.0.1", () => console.log("bridge-port " + server.address().port));
process.on("SIGTERM", () => process.exit(0));
`;

/**
 * Makes `target` (a TCP port in the root namespace) reachable inside `ns` at 127.0.0.1:<port>: a forwarder
 * in the namespace hands each connection to a unix socket that this process serves by connecting to `target`.
 * Unix sockets live in the file system, so the bridge does not cross the veth and a cut does not break it.
 */
export async function bridgeIntoNetns(ns: HostNetns, target: { host: string; port: number }): Promise<NetnsBridge> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "claw-netns-bridge-"));
  const socketPath = path.join(dir, "bridge.sock");
  const sockets = new Set<net.Socket>();
  const server = net.createServer((inner) => {
    const outer = net.connect(target.port, target.host);
    for (const s of [inner, outer]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => {
        sockets.delete(s);
        inner.destroy();
        outer.destroy();
      });
    }
    inner.pipe(outer).pipe(inner);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, () => resolve());
  });
  const forwarder = spawnInNetns(ns, [process.execPath, "-e", BRIDGE_SCRIPT, socketPath], {
    env: { PATH: process.env.PATH },
  });
  const stop = async (): Promise<void> => {
    await forwarder.stop();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const port = await untilValue(
      () => Number(/bridge-port (\d+)/.exec(forwarder.output())?.[1]) || undefined,
      () => forwarder.child.exitCode !== null,
      10_000,
    );
    return { port, pid: forwarder.pid, stop };
  } catch (err) {
    await stop();
    throw new Error(`bridge into ${ns.name}: ${(err as Error).message}\n${forwarder.output()}`, { cause: err });
  }
}

/** A real `codex app-server` running inside a namespace on a unix socket (reachable from the root namespace too). */
export interface NetnsCodexAppServer {
  /** `unix:///abs/app.sock`. */
  readonly endpoint: string;
  readonly socketPath: string;
  readonly codexHome: string;
  readonly home: string;
  readonly workspace: string;
  /** The environment it runs with (a host agent on the same host gets the same). */
  readonly env: Record<string, string>;
  readonly pid: number;
  output(): string;
  /** Stops it by its pid, removes its socket target and its temp dir. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts the real codex app-server inside `ns`, offline against `modelBaseUrl` (an address reachable inside the
 * namespace, e.g. a {@link bridgeIntoNetns} port), with the same config as the codex harness; resolves once it
 * answers a WebSocket handshake on its unix socket.
 */
export async function startCodexAppServerInNetns(
  ns: HostNetns,
  opts: { modelBaseUrl: string; readyTimeoutMs?: number },
): Promise<NetnsCodexAppServer> {
  const tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), "claw-netns-codex-")));
  const codexHome = path.join(tmp, "codex-home");
  const home = path.join(tmp, "home");
  const workspace = path.join(tmp, "workspace");
  for (const dir of [codexHome, home, workspace]) mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(codexHome, "config.toml"), offlineConfigToml(opts.modelBaseUrl, workspace));
  // The model's origin is also the proxy (it refuses CONNECT): nothing else is reachable from the namespace anyway.
  const proxy = new URL(opts.modelBaseUrl).origin;
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    CODEX_HOME: codexHome,
    FAKE_OPENAI_API_KEY: "fake-key",
    LANG: "C.UTF-8",
    TERM: "xterm-256color",
    TMPDIR: tmp,
    http_proxy: proxy,
    https_proxy: proxy,
    all_proxy: proxy,
    HTTP_PROXY: proxy,
    HTTPS_PROXY: proxy,
    ALL_PROXY: proxy,
    no_proxy: "127.0.0.1,localhost,::1",
    NO_PROXY: "127.0.0.1,localhost,::1",
  };
  const socketPath = path.join(tmp, "app.sock");
  const proc = spawnInNetns(
    ns,
    [codexBinPath(), "app-server", "--listen", `unix://${socketPath}`, "--disable", "daemon_auto_start"],
    { env, cwd: workspace },
  );
  let socketTarget: string | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await proc.stop(3_000);
      // The unix listener is a symlink into /tmp/codex-daemon-<uid>/: remove the target and its lock too.
      if (socketTarget) {
        rmSync(socketTarget, { force: true });
        rmSync(`${socketTarget}.lock`, { force: true });
      }
      rmSync(tmp, { recursive: true, force: true });
    })());
  try {
    await untilValue(
      async () => ((await handshake(socketPath)) ? true : undefined),
      () => proc.child.exitCode !== null || proc.child.signalCode !== null,
      opts.readyTimeoutMs ?? 20_000,
    );
    socketTarget = path.resolve(tmp, readlinkOrSelf(socketPath));
  } catch (err) {
    await stop();
    throw new Error(`codex app-server in ${ns.name}: ${(err as Error).message}\n${proc.output()}`, { cause: err });
  }
  return {
    endpoint: `unix://${socketPath}`,
    socketPath,
    codexHome,
    home,
    workspace,
    env,
    pid: proc.pid,
    output: proc.output,
    stop,
  };
}

async function handshake(socketPath: string): Promise<boolean> {
  const ws = new WebSocket("ws://localhost/", { createConnection: () => net.createConnection(socketPath) });
  ws.on("error", () => undefined);
  const opened = await new Promise<boolean>((resolve) => {
    ws.once("open", () => resolve(true));
    ws.once("error", () => resolve(false));
  });
  ws.terminate();
  return opened;
}

/** Polls `probe` until it gives a value; rejects when `gone()` (the process died) or after `timeoutMs`. */
async function untilValue<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  gone: () => boolean,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (gone()) throw new Error("exited during start-up");
    if (Date.now() > deadline) throw new Error(`not ready within ${timeoutMs} ms`);
    await delay(30);
  }
}

function readlinkOrSelf(file: string): string {
  try {
    return readlinkSync(file);
  } catch {
    return file;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** On exit, kills what still runs in a namespace and removes every namespace and veth (synchronous: exit hooks cannot wait). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of running) child.kill("SIGKILL");
    for (const ns of [...created]) ns.destroy();
  });
}
