/**
 * What bench/ingest.ts and bench/dashboard.ts share: the registry in its own process, simulated hosts with real
 * host tokens, a watch of the sessions KV view that measures event-to-view latency (an event's `emittedAtMs`,
 * which the registry stores as the record's `lastSeenAt`, to the moment this process sees the KV update), and
 * events sent at a fixed rate, each one flipping its session between active and idle so that each is a real change.
 */
import { fork } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/transport-node";
import { KV_BUCKET_NAMES, openKvBucket } from "../services/bus/index.js";
import { createHostToken, openHostTokenBucket } from "../services/rpc-gateway/index.js";
import { connectLoadHost, type LoadHost, statusPayload } from "./load-host.js";

/** Resolves after `ms`. */
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The `q` quantile of ascending `sorted` (NaN when empty). */
export const quantile = (sorted: readonly number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/** CPU seconds (user + system) a process has used so far, from /proc. */
export const cpuSeconds = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
};

/**
 * For investigation: samples each process's CPU every `everyMs` until `stop()`, which returns one line per
 * sample (ms since the start, then each process's CPU ms in that interval): whether the cores were full, and
 * which process had them, phase by phase. /proc counts in 10 ms ticks, so single samples are coarse.
 */
export function cpuTimeline(pids: Record<string, number>, everyMs = 100) {
  const started = performance.now();
  const read = () => Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)]));
  let last = read();
  const lines: string[] = [];
  const timer = setInterval(() => {
    const now = read();
    const busy = Object.keys(now).map((k) => `${k} ${Math.round((now[k]! - last[k]!) * 1000)}`);
    lines.push(`  +${Math.round(performance.now() - started)} ms: ${busy.join(", ")}`);
    last = now;
  }, everyMs);
  return {
    /** Adds a line marking a moment (e.g. "gateway acked all"). */
    mark: (what: string) => void lines.push(`  +${Math.round(performance.now() - started)} ms: ${what}`),
    stop: (): string[] => {
      clearInterval(timer);
      return lines;
    },
  };
}

/** The registry in its own process (bench/registry-process.ts); `heap()` answers the heap used after a full GC. */
export async function startRegistryProcess(natsUrl: string) {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "registry-process.js");
  const child = fork(script, [natsUrl], {
    execArgv: [
      "--expose-gc",
      ...(process.env.BENCH_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : []),
      // For investigation: more node flags for the registry (e.g. --trace-gc), its stdout to a file.
      ...(process.env.BENCH_REGISTRY_NODE_FLAGS?.split(" ").filter(Boolean) ?? []),
    ],
    stdio: [
      "ignore",
      process.env.BENCH_REGISTRY_STDOUT ? openSync(process.env.BENCH_REGISTRY_STDOUT, "w") : "ignore",
      "pipe",
      "ipc",
    ],
  });
  let log = "";
  child.stderr!.on("data", (c: Buffer) => void (log = (log + c.toString()).slice(-4_000)));
  const next = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      child.once("message", (m) => resolve(m as Record<string, unknown>));
      child.once("exit", (code) => reject(new Error(`registry process exited with ${code}:\n${log}`)));
    });
  await next();
  return {
    pid: child.pid!,
    async heap(): Promise<number> {
      const reply = next();
      child.send("heap");
      const r = await reply;
      if (!r.gc) throw new Error("the registry process has no gc(): run it with --expose-gc");
      return r.heapUsed as number;
    },
    async stats(): Promise<Record<string, number>> {
      const reply = next();
      child.send("stats");
      return (await reply).stats as Record<string, number>;
    },
    async stop(): Promise<void> {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.send("stop");
      await exited;
    },
  };
}

/** Watches the sessions KV bucket; reports each update's delay behind the event that caused it. */
export async function watchView(nc: NatsConnection) {
  const kv = await openKvBucket(nc, KV_BUCKET_NAMES.sessions);
  const latest = new Map<string, { lastSeenAt: number; status: string }>();
  const latencies: number[] = [];
  const trace: [number, number][] = [];
  /** Updates caused by events emitted at or after this time (unix ms) are measured; 0 = none. */
  let recordFrom = 0;
  const iter = await kv.watch({ include: "updates" });
  void (async () => {
    for await (const e of iter) {
      if (e.operation !== "PUT") continue;
      const entry = e.json<{ record: { lastSeenAt: number; status: string } }>();
      latest.set(e.key, { lastSeenAt: entry.record.lastSeenAt, status: entry.record.status });
      if (recordFrom && entry.record.lastSeenAt >= recordFrom) {
        latencies.push(Date.now() - entry.record.lastSeenAt);
        if (process.env.BENCH_TRACE)
          trace.push([entry.record.lastSeenAt - recordFrom, Date.now() - entry.record.lastSeenAt]);
      }
    }
  })();
  return {
    latest,
    latencies,
    trace,
    record: (fromMs: number) => void (recordFrom = fromMs),
    stop: () => iter.stop(),
  };
}

/** Connects `count` simulated hosts `<prefix><i>` to the gateway at `url`, each with a host token of its own. */
export async function connectHosts(
  nc: NatsConnection,
  url: string,
  prefix: string,
  count: number,
): Promise<LoadHost[]> {
  const kv = await openHostTokenBucket(nc);
  const hosts: LoadHost[] = [];
  for (let i = 0; i < count; i++) {
    const hostId = `${prefix}${i}`;
    hosts.push(await connectLoadHost(url, hostId, (await createHostToken(kv, hostId)).token));
  }
  return hosts;
}

/** Flips each session between active and idle: every event it makes is a real change of the view. */
export function statusFlipper() {
  const activeNow = new Map<string, boolean>();
  const flip = (threadId: string): boolean => {
    const next = !(activeNow.get(threadId) ?? false);
    activeNow.set(threadId, next);
    return next;
  };
  /** Sends `host` one status flip of `threadId`; resolves with its emit time once acked. */
  const send = (host: LoadHost, threadId: string): Promise<number> =>
    host.send(threadId, "thread/status/changed", statusPayload(threadId, flip(threadId)));
  return { flip, send };
}

/**
 * Calls `emit(n)` for n = 0, 1, … at `rate` per second for `seconds`, in 10 ms ticks kept to the wall clock;
 * `onSecond(s)` after each whole second. Resolves with the number emitted.
 */
export async function paceEvents(
  rate: number,
  seconds: number,
  emit: (n: number) => void,
  onSecond?: (second: number) => void,
): Promise<number> {
  const tickMs = 10;
  const perTick = (rate * tickMs) / 1000;
  const ticks = (seconds * 1000) / tickMs;
  const ticksPerSecond = 1000 / tickMs;
  let n = 0;
  const t0 = performance.now();
  for (let tick = 0; tick < ticks; tick++) {
    for (let k = 0; k < perTick; k++, n++) emit(n);
    if ((tick + 1) % ticksPerSecond === 0) onSecond?.((tick + 1) / ticksPerSecond);
    const next = t0 + (tick + 1) * tickMs;
    await sleep(Math.max(0, next - performance.now()));
  }
  return n;
}
