import { rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  findExecutable,
  hostPortOf,
  killAllNatsServersNow,
  liveNatsServerPids,
  spawnNatsServer,
  stopNatsServer,
  waitForNatsInfo,
  waitForPortsFile,
  type NatsServerProcess,
} from "../../services/bus/server-process.js";

/** Options for one test nats-server; everything is optional. */
export interface StartNatsServerOptions {
  /** Client port; default: the OS picks a free one. Never 4222 (the machine's own server). */
  port?: number;
  /** JetStream store; default: a fresh temp dir removed on stop. A dir passed in is the caller's and kept. */
  storeDir?: string;
  /** Extra config text appended to the generated config file (e.g. an `authorization {}` block). */
  config?: string;
  serverName?: string;
  /** Internal to `startNatsCluster`: join a cluster. */
  cluster?: { name: string; port: number; routePorts: number[] };
  /** Also open an HTTP monitoring port (reported as `monitorUrl`). */
  monitoring?: boolean;
  startTimeoutMs?: number;
}

/** A running test nats-server on 127.0.0.1. */
export interface NatsTestServer {
  url: string;
  port: number;
  pid: number;
  storeDir: string;
  configFile: string;
  monitorUrl: string | undefined;
  /** The last lines the server logged. */
  logTail(): string;
  /** SIGTERM, SIGKILL after a timeout, wait for exit, remove the temp dirs this launcher created. */
  stop(): Promise<void>;
}

/** A running test JetStream cluster. */
export interface NatsTestCluster {
  urls: string[];
  servers: NatsTestServer[];
  stop(): Promise<void>;
}

const LOOPBACK = "127.0.0.1";
const RESERVED_PORT = 4222;
const tempDirs = new Set<string>();
let processHooksInstalled = false;

function killServersAndRemoveTempDirs(): void {
  killAllNatsServersNow();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

function installProcessHooks(): void {
  if (processHooksInstalled) return;
  processHooksInstalled = true;
  process.on("exit", killServersAndRemoveTempDirs);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = (): void => {
      killServersAndRemoveTempDirs();
      process.removeListener(sig, onSignal);
      // Keep the default behaviour (terminate) when nobody else handles the signal.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/** Absolute path of nats-server on PATH; throws when it is missing. */
export function natsServerBinary(): string {
  const binary = findExecutable("nats-server");
  if (!binary) throw new Error("nats-server is not on PATH (apt-get install nats-server)");
  return binary;
}

/** Pids of test servers still running in this process (for leak checks). */
export function runningNatsServerPids(): number[] {
  return liveNatsServerPids();
}

function renderConfig(opts: StartNatsServerOptions, storeDir: string, name: string): string {
  const lines = [
    `server_name: ${JSON.stringify(name)}`,
    `host: ${JSON.stringify(LOOPBACK)}`,
    `port: ${opts.port ?? -1}`,
    `jetstream {`,
    `  store_dir: ${JSON.stringify(storeDir)}`,
    `}`,
  ];
  if (opts.monitoring) lines.push(`http: ${JSON.stringify(`${LOOPBACK}:-1`)}`);
  if (opts.cluster) {
    const routes = opts.cluster.routePorts.map((p) => JSON.stringify(`nats-route://${LOOPBACK}:${p}`));
    lines.push(
      `cluster {`,
      `  name: ${JSON.stringify(opts.cluster.name)}`,
      `  listen: ${JSON.stringify(`${LOOPBACK}:${opts.cluster.port}`)}`,
      `  routes: [${routes.join(", ")}]`,
      `}`,
    );
  }
  if (opts.config) lines.push(opts.config);
  return `${lines.join("\n")}\n`;
}

/** Starts nats-server with JetStream on 127.0.0.1 and resolves once it accepts clients. */
export async function startNatsServer(opts: StartNatsServerOptions = {}): Promise<NatsTestServer> {
  if (opts.port === RESERVED_PORT) throw new Error("port 4222 belongs to the machine's own nats-server");
  const binary = natsServerBinary();
  installProcessHooks();
  const workDir = await mkdtemp(join(tmpdir(), "claw-nats-"));
  tempDirs.add(workDir);
  const storeDir = opts.storeDir ?? join(workDir, "store");
  const name = opts.serverName ?? `test-${process.pid}-${workDir.slice(-6)}`;
  const configFile = join(workDir, "nats-server.conf");
  await writeFile(configFile, renderConfig(opts, storeDir, name));
  const proc: NatsServerProcess = spawnNatsServer(binary, ["-c", configFile, "--ports_file_dir", workDir]);
  const stop = async (): Promise<void> => {
    await stopNatsServer(proc);
    await rm(workDir, { recursive: true, force: true });
    tempDirs.delete(workDir);
  };
  try {
    const timeoutMs = opts.startTimeoutMs ?? 15_000;
    const ports = await waitForPortsFile(proc, workDir, timeoutMs);
    const url = ports.nats[0] as string;
    const { port } = hostPortOf(url);
    await waitForNatsInfo(proc, LOOPBACK, port, timeoutMs);
    return {
      url,
      port,
      pid: proc.pid,
      storeDir,
      configFile,
      monitorUrl: ports.monitoring?.[0],
      logTail: () => proc.logTail(),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** `count` distinct free loopback ports (held open together so they differ, then released). */
export async function freePorts(count: number): Promise<number[]> {
  const holders = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<import("node:net").Server>((resolve, reject) => {
          const srv = createServer();
          srv.once("error", reject);
          srv.listen(0, LOOPBACK, () => resolve(srv));
        }),
    ),
  );
  const ports = holders.map((srv) => {
    const addr = srv.address();
    if (addr === null || typeof addr === "string") throw new Error("no port assigned");
    return addr.port;
  });
  await Promise.all(holders.map((srv) => new Promise((resolve) => srv.close(resolve))));
  return ports;
}

interface JszMeta {
  meta_cluster?: { leader?: string; replicas?: { name: string; current: boolean }[] };
}

async function metaCluster(monitorUrl: string): Promise<JszMeta["meta_cluster"]> {
  try {
    const res = await fetch(`${monitorUrl}/jsz`, { signal: AbortSignal.timeout(1_000) });
    return res.ok ? ((await res.json()) as JszMeta).meta_cluster : undefined;
  } catch {
    return undefined;
  }
}

// Every node must agree on a meta leader, and the leader (the only node that lists
// replicas in /jsz) must see all other peers as current, or R3 placement can fail.
async function clusterReady(servers: NatsTestServer[]): Promise<boolean> {
  const metas = await Promise.all(servers.map((s) => metaCluster(s.monitorUrl as string)));
  const leader = metas[0]?.leader;
  if (!leader || metas.some((m) => m?.leader !== leader)) return false;
  return metas.some((m) => (m?.replicas ?? []).filter((r) => r.current).length === servers.length - 1);
}

async function waitForMetaLeader(servers: NatsTestServer[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await clusterReady(servers)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const tails = servers.map((s) => `--- ${s.url}\n${s.logTail()}`).join("\n");
  throw new Error(`JetStream cluster elected no meta leader with all peers current in ${timeoutMs} ms\n${tails}`);
}

async function startClusterOnce(size: number, config: string | undefined, timeoutMs: number): Promise<NatsTestCluster> {
  const routePorts = await freePorts(size);
  const name = `claw-test-${process.pid}-${routePorts[0]}`;
  const started = await Promise.allSettled(
    routePorts.map((port, i) =>
      startNatsServer({
        serverName: `${name}-n${i + 1}`,
        cluster: { name, port, routePorts: routePorts.filter((p) => p !== port) },
        monitoring: true,
        startTimeoutMs: timeoutMs,
        ...(config === undefined ? {} : { config }),
      }),
    ),
  );
  const servers = started.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    await stop();
    throw failed.reason;
  }
  try {
    await waitForMetaLeader(servers, timeoutMs);
  } catch (err) {
    await stop();
    throw err;
  }
  return { urls: servers.map((s) => s.url), servers, stop };
}

/** Starts a `size`-node JetStream cluster on loopback and resolves once it has a meta leader and all peers. */
export async function startNatsCluster(
  size = 3,
  opts: { config?: string; startTimeoutMs?: number } = {},
): Promise<NatsTestCluster> {
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  let lastError: unknown;
  // A route port picked as free can be taken before the server binds it: try again with new ports.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startClusterOnce(size, opts.config, timeoutMs);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}
