/**
 * bench/scale.ts's stack: a nats-server, `claw-supervisor service rpc-gateway`, and one or more registry
 * instances each in its own process (bench/scale-registry-process.ts), seeded with a fleet of simulated hosts
 * through the gateway (bench/ingest-rig.ts's hosts, view watch and pacing); and the load phase: events at a fixed
 * rate across every session, with the event-to-view latency and the CPU each process used.
 */
import { fork } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ensureBus } from "../services/bus/index.js";
import { startNatsServer, type NatsTestServer } from "../test/support/nats-server.js";
import { createFleet, threadIds } from "./dashboard-rig.js";
import { connectHosts, cpuSeconds, paceEvents, sleep, statusFlipper, watchView } from "./ingest-rig.js";
import type { LoadHost } from "./load-host.js";
import { type ServiceProcess, startService, stopService } from "./service-process.js";

/** One registry instance in its own process. */
export interface RegistryInstance {
  name: string;
  pid: number;
  stats(): Promise<Record<string, number>>;
  /** The partitions it serves now. */
  serving(): Promise<number[]>;
  stop(): Promise<void>;
}

/** Forks bench/scale-registry-process.ts with `options` for `startRegistry`; resolves once it runs. */
export async function startRegistryInstance(
  natsUrl: string,
  name: string,
  options: Record<string, unknown>,
): Promise<RegistryInstance> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "scale-registry-process.js");
  const child = fork(script, [natsUrl, JSON.stringify(options)], {
    execArgv: process.env.BENCH_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [],
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  let log = "";
  child.stderr!.on("data", (c: Buffer) => void (log = (log + c.toString()).slice(-4_000)));
  /** The next IPC message (or the exit, as an error); each call's listeners are removed when it settles. */
  const next = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const onMessage = (m: unknown) => {
        child.off("exit", onExit);
        resolve(m as Record<string, unknown>);
      };
      const onExit = (code: number | null) => {
        child.off("message", onMessage);
        reject(new Error(`registry ${name} exited with ${code}:\n${log}`));
      };
      child.once("message", onMessage);
      child.once("exit", onExit);
    });
  await next();
  return {
    name,
    pid: child.pid!,
    async stats() {
      const reply = next();
      child.send("stats");
      return (await reply).stats as Record<string, number>;
    },
    async serving() {
      const reply = next();
      child.send("serving");
      return (await reply).serving as number[];
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.send("stop");
      await exited;
    },
  };
}

/** A running stack with its fleet in the registry's view. */
export interface ScaleStack {
  nats: NatsTestServer;
  nc: NatsConnection;
  gateway: ServiceProcess;
  registries: RegistryInstance[];
  hosts: LoadHost[];
  /** Thread ids per host, in `hosts` order. */
  threads: string[][];
  view: Awaited<ReturnType<typeof watchView>>;
  /** Seconds from the first `agent/thread.synced` to the whole fleet in the KV view. */
  seedSeconds: number;
  /** With several instances: ms from the last one's start until each served one partition. */
  balanceMs: number;
  stop(): Promise<void>;
}

/**
 * Starts nats-server, the gateway and one registry instance per entry of `registryOptions`, connects `hostCount`
 * simulated hosts and announces `perHost` sessions on each; resolves once every session is in the KV view.
 */
export async function startScaleStack(
  registryOptions: Record<string, unknown>[],
  hostCount: number,
  perHost: number,
): Promise<ScaleStack> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const nats = await startNatsServer();
    stops.push(() => nats.stop());
    const nc = await connect({ servers: nats.url, name: "bench-scale" });
    stops.push(() => nc.close());
    await ensureBus(nc);
    const gateway = await startService("rpc-gateway", nats.url, ["--port", "0"]);
    stops.push(() => stopService(gateway));
    const registries: RegistryInstance[] = [];
    const partitioned = registryOptions.length > 1;
    for (const [i, options] of registryOptions.entries()) {
      const r = await startRegistryInstance(nats.url, partitioned ? `registry ${i}` : "registry", options);
      registries.push(r);
      stops.push(() => r.stop());
    }
    const balanceMs = partitioned ? await untilOneEach(registries) : 0;
    const view = await watchView(nc);
    stops.push(async () => view.stop());
    const hosts = await connectHosts(nc, String(gateway.ready.url), "scale-", hostCount);
    stops.push(async () => {
      for (const h of hosts) h.close();
    });
    const total = hostCount * perHost;
    const t0 = performance.now();
    await createFleet(hosts, perHost);
    for (const deadline = Date.now() + 180_000; view.latest.size < total; await sleep(100))
      if (Date.now() > deadline) throw new Error(`only ${view.latest.size} of ${total} sessions reached the view`);
    const seedSeconds = (performance.now() - t0) / 1000;
    return {
      nats,
      nc,
      gateway,
      registries,
      hosts,
      threads: hosts.map((h) => threadIds(h.hostId, perHost)),
      view,
      seedSeconds,
      balanceMs,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Waits (60 s at most) until every instance serves exactly one partition, a different one each: the first to
 * start takes every free partition, and the instances balance them through their presence keys every lease TTL
 * (services/registry/balance.ts). Resolves with how long that took, ms.
 */
async function untilOneEach(registries: RegistryInstance[]): Promise<number> {
  const t0 = performance.now();
  let serving: number[][] = [];
  for (const deadline = Date.now() + 60_000; Date.now() < deadline; await sleep(200)) {
    serving = await Promise.all(registries.map((r) => r.serving()));
    if (serving.every((s) => s.length === 1) && new Set(serving.flat()).size === registries.length)
      return performance.now() - t0;
  }
  throw new Error(`after 60 s the registry instances serve partitions ${JSON.stringify(serving)}, not one each`);
}

/** What one load phase measured. */
export interface LoadResult {
  sent: number;
  wallSeconds: number;
  /** Event-to-view latencies of the phase, ascending, ms. */
  latencies: number[];
  /** Events whose session's view never showed them (0 when every session is current). */
  notInView: number;
  /** CPU seconds per process over the phase (to the moment every session was current). */
  cpu: Record<string, number>;
  /** Per registry instance: events it took (applied, unchanged, duplicate or ignored) in the phase. */
  taken: Record<string, number>;
}

const TAKEN = ["eventsApplied", "eventsUnchanged", "eventsDuplicate", "eventsIgnored"];

/**
 * `rate` events/s for `seconds` s, round-robin over every host and then every session of it, each a status flip
 * (a real change of the view); waits until each session's view carries its last event (at most 30 s).
 */
export async function runLoad(stack: ScaleStack, rate: number, seconds: number): Promise<LoadResult> {
  const pids: Record<string, number> = {
    "nats-server": stack.nats.pid,
    gateway: stack.gateway.child.pid!,
    ...Object.fromEntries(stack.registries.map((r) => [r.name, r.pid])),
    "bench (hosts+watch)": process.pid,
  };
  const cpu = () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  const statsNow = () => Promise.all(stack.registries.map((r) => r.stats()));
  const flipper = statusFlipper();
  const lastSent = new Map<string, number>();
  const hosts = stack.hosts;
  const firstLatency = stack.view.latencies.length;
  const stats0 = await statsNow();
  const cpu0 = cpu();
  const start = Date.now();
  stack.view.record(start);
  const sent = await paceEvents(rate, seconds, (n) => {
    const hi = n % hosts.length;
    const mine = stack.threads[hi]!;
    const thread = mine[Math.floor(n / hosts.length) % mine.length]!;
    const key = `${hosts[hi]!.hostId}.${thread}`;
    void flipper.send(hosts[hi]!, thread).then((at) => void lastSent.set(key, Math.max(at, lastSent.get(key) ?? 0)));
  });
  await Promise.all(hosts.map((h) => h.drain()));
  const behind = () => [...lastSent].filter(([key, at]) => (stack.view.latest.get(key)?.lastSeenAt ?? 0) < at).length;
  for (const deadline = Date.now() + 30_000; behind() > 0 && Date.now() < deadline; ) await sleep(20);
  const cpu1 = cpu();
  const wallSeconds = (Date.now() - start) / 1000;
  await sleep(500);
  stack.view.record(0);
  const stats1 = await statsNow();
  return {
    sent,
    wallSeconds,
    latencies: stack.view.latencies.slice(firstLatency).sort((a, b) => a - b),
    notInView: behind(),
    cpu: Object.fromEntries(Object.keys(pids).map((k) => [k, cpu1[k]! - cpu0[k]!])),
    taken: Object.fromEntries(
      stack.registries.map((r, i) => [
        r.name,
        TAKEN.reduce((s, k) => s + (stats1[i]![k] ?? 0) - (stats0[i]![k] ?? 0), 0),
      ]),
    ),
  };
}
