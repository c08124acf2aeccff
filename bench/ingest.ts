/**
 * Ingest benchmark: simulated hosts → gateway → JetStream → registry → KV view, every part its own process
 * (nats-server, `claw-supervisor service rpc-gateway`, and the registry forked from bench/registry-process.ts,
 * the same `startRegistry` as `service registry`), the hosts speaking the host-agent protocol over WebSocket
 * from this process. Prints:
 *  - the raw JetStream publish+consume ceiling, measured on a nats-server of its own before the run and again
 *    after it (the machine's speed drifts within minutes), and their mean;
 *  - sustained ingest (events until the whole KV view is current) and its ratio to that mean;
 *  - p50/p99 latency from an event's emit time to its KV view update at a fixed 1,000 events/s over 1,000 sessions;
 *  - the registry's heap per session after a full GC, grown from 1,000 to 11,000 sessions;
 *  - CPU seconds per process during the sustained phase, and the registry's writes and notices;
 *  - CPU per event: the ceiling's (its nats-server, publisher and consumer) against the sustained phase's, in all
 *    and in the supervisor's own processes (nats-server, gateway, registry), which no count of free cores moves;
 *  - issue 17's targets (sustained at least 0.75x the ceiling; the registry's CPU per event at most the
 *    nats-server's in the same phase), met or not, and a JSON line of the figures last.
 * Sizes can be scaled with BENCH_SCALE (default 1). For investigation: BENCH_LATENCY_SECONDS, BENCH_TRACE=1
 * (latency per second), BENCH_SKIP_MEMORY=1, BENCH_MAX_BATCH (the registry's pull size), BENCH_PROFILE_DIR
 * (CPU profiles of the registry and gateway processes), BENCH_REGISTRY_HEAP_SAMPLES=<file> (the registry's
 * allocation sites, collected objects included), BENCH_REGISTRY_NODE_FLAGS (e.g. --trace-gc-nvp) with
 * BENCH_REGISTRY_STDOUT=<file> for what they print, BENCH_CPU_TRACE=1 (each process's CPU per 100 ms of the
 * sustained phase).
 */
import os from "node:os";
import { connect } from "@nats-io/transport-node";
import { ensureBus } from "../services/bus/index.js";
import { startNatsServer, type NatsTestServer } from "../test/support/nats-server.js";
import {
  connectHosts,
  cpuSeconds,
  cpuTimeline,
  paceEvents,
  quantile,
  sleep,
  startRegistryProcess,
  statusFlipper,
  watchView,
} from "./ingest-rig.js";
import { measureJetStreamCeiling, type CeilingResult } from "./jetstream-ceiling.js";
import { statusPayload, syncedPayload } from "./load-host.js";
import { startService, stopService, type ServiceProcess as Service } from "./service-process.js";

const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const SUSTAINED_EVENTS = Math.round(30_000 * SCALE);
const LATENCY_RATE = 1_000;
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? Math.max(3, Math.round(10 * SCALE)));
const MEMORY_SESSIONS = Math.round(10_000 * SCALE);

/** Thrown to end the run early (BENCH_SKIP_MEMORY) while still stopping everything. */
class SkipRest extends Error {}

/**
 * A ceiling run's figures, the nats-server's CPU seconds during it, and this process's (its publisher and
 * consumer, which do nothing else meanwhile).
 */
type CeilingRun = CeilingResult & { natsCpuSeconds: number; clientCpuSeconds: number };

/** One raw JetStream ceiling run on a nats-server of its own, stopped afterwards. */
async function ceilingRun(): Promise<CeilingRun> {
  const server = await startNatsServer();
  try {
    const nc = await connect({ servers: server.url });
    await ensureBus(nc);
    const cpuBefore = cpuSeconds(server.pid);
    const clientBefore = process.cpuUsage();
    const result = await measureJetStreamCeiling(nc, {
      events: SUSTAINED_EVENTS,
      hosts: 10,
      sessions: 1_000,
      consumer: "ceiling",
    });
    const natsCpuSeconds = cpuSeconds(server.pid) - cpuBefore;
    const client = process.cpuUsage(clientBefore);
    await nc.close();
    return { ...result, natsCpuSeconds, clientCpuSeconds: (client.user + client.system) / 1e6 };
  } finally {
    await server.stop();
  }
}

/** What the run measured for issue 17's two ingest targets, filled in as it goes. */
interface Findings {
  sustainedEventsPerSecond?: number;
  cpuSeconds?: Record<string, number>;
  events?: number;
}

async function main(): Promise<void> {
  console.log(
    `ingest benchmark: node ${process.version}, ${os.cpus().length} x ${os.cpus()[0]?.model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
  );

  const ceilingBefore = await ceilingRun();
  console.log(
    `raw JetStream publish+consume ceiling, before: ${Math.round(ceilingBefore.eventsPerSecond)} events/s (${ceilingBefore.events} events; ` +
      `nats-server CPU ${ceilingBefore.natsCpuSeconds.toFixed(2)} s)`,
  );

  const findings: Findings = {};
  let nats: NatsTestServer | undefined;
  const services: Service[] = [];
  const stops: (() => Promise<void>)[] = [];
  try {
    nats = await startNatsServer();
    const nc = await connect({ servers: nats.url });
    await ensureBus(nc);
    const gateway = await startService("rpc-gateway", nats.url, ["--port", "0"]);
    services.push(gateway);
    const registry = await startRegistryProcess(nats.url);
    stops.push(() => registry.stop());
    const view = await watchView(nc);
    // Every event flips its session between active and idle, so each one is a real change of the view
    // (an event that only refreshes lastSeenAt may wait for the registry's batch window by design).
    const flipper = statusFlipper();
    const gatewayUrl = String(gateway.ready.url);

    // Sustained: 10 hosts x 100 sessions, as fast as acks allow, until every session's view is current.
    const hosts = await connectHosts(nc, gatewayUrl, "load-", 10);
    const threads = hosts.map((h) =>
      Array.from({ length: 100 }, (_, i) => `${h.hostId}-t${String(i).padStart(3, "0")}`),
    );
    await Promise.all(
      hosts.map((h, hi) =>
        Promise.all(threads[hi]!.map((t) => h.send(t, "agent/thread.synced", syncedPayload(t, h.hostId)))),
      ),
    );
    await sleep(1_500);
    const perHost = Math.floor(SUSTAINED_EVENTS / hosts.length);
    const cpuPids = {
      "nats-server": nats.pid,
      gateway: gateway.child.pid!,
      registry: registry.pid,
      "load+watch": process.pid,
    };
    const statsBefore = await registry.stats();
    const cpuBefore = Object.fromEntries(Object.entries(cpuPids).map(([k, pid]) => [k, cpuSeconds(pid)]));
    const timeline = process.env.BENCH_CPU_TRACE ? cpuTimeline(cpuPids) : undefined;
    const started = performance.now();
    const lastSent = new Map<string, number>();
    await Promise.all(
      hosts.map(async (h, hi) => {
        const mine = threads[hi]!;
        const sends: Promise<void>[] = [];
        for (let i = 0; i < perHost; i++) {
          const t = mine[i % mine.length]!;
          const key = `${h.hostId}.${t}`;
          sends.push(flipper.send(h, t).then((at) => void lastSent.set(key, Math.max(at, lastSent.get(key) ?? 0))));
        }
        await Promise.all(sends);
      }),
    );
    const acked = performance.now();
    timeline?.mark("the gateway acked every event");
    // Current = every session's view carries its last event (lastSeenAt is that event's emittedAtMs).
    const current = () => [...lastSent].every(([key, at]) => (view.latest.get(key)?.lastSeenAt ?? 0) >= at);
    while (!current()) await sleep(20);
    const sustainedSeconds = (performance.now() - started) / 1000;
    if (timeline)
      console.log(["CPU ms per process, every 100 ms of the sustained phase:", ...timeline.stop()].join("\n"));
    const sent = perHost * hosts.length;
    findings.sustainedEventsPerSecond = sent / sustainedSeconds;
    findings.events = sent;
    findings.cpuSeconds = Object.fromEntries(
      Object.entries(cpuPids).map(([k, pid]) => [k, cpuSeconds(pid) - cpuBefore[k]!]),
    );
    console.log(
      `sustained ingest: ${Math.round(sent / sustainedSeconds)} events/s to a current KV view ` +
        `(${sent} events, 1,000 sessions, 10 hosts; gateway acked all after ${((acked - started) / 1000).toFixed(2)} s), ` +
        `ratio to the ceiling before ${(sent / sustainedSeconds / ceilingBefore.eventsPerSecond).toFixed(2)}`,
    );
    const statsAfter = await registry.stats();
    const delta = (k: string) => (statsAfter[k] ?? 0) - (statsBefore[k] ?? 0);
    console.log(
      `  registry: ${delta("sessionWrites")} session writes, ${delta("flushes")} flushes, ${delta("fleetStored")} FLEET notices for ${sent} events`,
    );
    console.log(
      `  CPU used in ${sustainedSeconds.toFixed(2)} s of wall time (${os.cpus().length} cores = ${(os.cpus().length * sustainedSeconds).toFixed(2)} s): ` +
        Object.entries(findings.cpuSeconds)
          .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
          .join(", "),
    );

    // Latency: a fixed 1,000 events/s spread over the same 1,000 sessions.
    await sleep(1_500);
    view.record(Date.now());
    const n = await paceEvents(LATENCY_RATE, LATENCY_SECONDS, (i) => {
      const hi = i % hosts.length;
      void flipper.send(hosts[hi]!, threads[hi]![Math.floor(i / hosts.length) % 100]!);
    });
    await Promise.all(hosts.map((h) => h.drain()));
    await sleep(1_500);
    view.record(0);
    const lat = [...view.latencies].sort((a, b) => a - b);
    if (process.env.BENCH_TRACE) {
      for (let s = 0; s < LATENCY_SECONDS; s++) {
        const inSecond = view.trace
          .filter(([at]) => at >= s * 1000 && at < (s + 1) * 1000)
          .map(([, l]) => l)
          .sort((a, b) => a - b);
        console.log(
          `  second ${s}: ${inSecond.length} updates, p50 ${quantile(inSecond, 0.5)} ms, p99 ${quantile(inSecond, 0.99)} ms`,
        );
      }
    }
    console.log(
      `latency at ${LATENCY_RATE} events/s over 1,000 sessions for ${LATENCY_SECONDS} s: ` +
        `p50 ${quantile(lat, 0.5)} ms, p99 ${quantile(lat, 0.99)} ms, max ${lat.at(-1)} ms (${lat.length} view updates for ${n} events)`,
    );

    // Memory: grow the registry from 1,000 to 1,000 + MEMORY_SESSIONS sessions.
    await sleep(2_000);
    if (process.env.BENCH_SKIP_MEMORY) throw new SkipRest();
    const heapBefore = await registry.heap();
    const memHosts = await connectHosts(nc, gatewayUrl, "mem-", 20);
    const perMemHost = Math.ceil(MEMORY_SESSIONS / memHosts.length);
    await Promise.all(
      memHosts.map(async (h) => {
        for (let i = 0; i < perMemHost; i++) {
          const t = `${h.hostId}-s${i}`;
          void h.send(t, "agent/thread.synced", syncedPayload(t, h.hostId));
          void h.send(t, "thread/status/changed", statusPayload(t, true));
        }
        await h.drain();
      }),
    );
    const expected = 1_000 + perMemHost * memHosts.length;
    while (view.latest.size < expected) await sleep(50);
    await sleep(3_000);
    const heapAfter = await registry.heap();
    const perSession = (heapAfter - heapBefore) / (perMemHost * memHosts.length);
    console.log(
      `registry memory (heap after GC): ${(heapBefore / 2 ** 20).toFixed(1)} MiB at 1,000 sessions, ${(heapAfter / 2 ** 20).toFixed(1)} MiB at ${expected} ` +
        `sessions: ${(perSession / 1024).toFixed(1)} KiB per session`,
    );
    for (const h of [...hosts, ...memHosts]) h.close();
    view.stop();
    await nc.close();
  } catch (err) {
    if (!(err instanceof SkipRest)) throw err;
  } finally {
    for (const stop of stops.reverse()) await stop();
    for (const s of services.reverse()) await stopService(s);
    await nats?.stop();
  }

  // The ceiling again, with the stack stopped: the machine's speed drifts within minutes (2-3x over a day), so the
  // ratio is taken against the mean of a ceiling measured before the run and one after it.
  const ceilingAfter = await ceilingRun();
  console.log(
    `raw JetStream publish+consume ceiling, after: ${Math.round(ceilingAfter.eventsPerSecond)} events/s (${ceilingAfter.events} events; ` +
      `nats-server CPU ${ceilingAfter.natsCpuSeconds.toFixed(2)} s)`,
  );
  reportTargets(findings, ceilingBefore, ceilingAfter);
}

/** Prints issue 17's two ingest targets against what this run measured, then one JSON line of the figures. */
function reportTargets(f: Findings, before: CeilingRun, after: CeilingRun): void {
  const { sustainedEventsPerSecond: sustained, cpuSeconds: cpu } = f;
  if (sustained === undefined || cpu === undefined) return;
  const ceiling = (before.eventsPerSecond + after.eventsPerSecond) / 2;
  const sustainedRatio = sustained / ceiling;
  const registryCpu = cpu.registry ?? Number.NaN;
  const natsCpu = cpu["nats-server"] ?? Number.NaN;
  // Both processes handle the same events in the same window, so CPU per event compares as CPU seconds.
  const cpuRatio = registryCpu / natsCpu;
  const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
  console.log(`targets (issue 17), ceiling = mean of before and after = ${Math.round(ceiling)} events/s:`);
  console.log(
    `  sustained ingest ${sustainedRatio.toFixed(2)}x the ceiling (at least 0.75x): ${verdict(sustainedRatio >= 0.75)}`,
  );
  console.log(
    `  registry CPU per event ${((registryCpu / (f.events ?? 1)) * 1e6).toFixed(0)} µs, nats-server's ${((natsCpu / (f.events ?? 1)) * 1e6).toFixed(0)} µs: ` +
      `${cpuRatio.toFixed(2)}x (at most 1x): ${verdict(cpuRatio <= 1)}`,
  );
  // CPU per event does not depend on how much of the machine is free, as the events/s ratio does: the ceiling's
  // nats-server plus its publisher and consumer, against the sustained phase's processes.
  const perEventUs = (seconds: number) => (seconds / (f.events ?? 1)) * 1e6;
  const ceilingCpuUs =
    (perEventUs(before.natsCpuSeconds + before.clientCpuSeconds) +
      perEventUs(after.natsCpuSeconds + after.clientCpuSeconds)) /
    2;
  const allCpuUs = perEventUs(Object.values(cpu).reduce((a, b) => a + b, 0));
  const supervisorCpuUs = perEventUs(natsCpu + (cpu.gateway ?? Number.NaN) + registryCpu);
  console.log(
    `CPU per event: ceiling ${ceilingCpuUs.toFixed(0)} µs (its nats-server, publisher and consumer; mean of both runs); ` +
      `sustained ${allCpuUs.toFixed(0)} µs in all, ${supervisorCpuUs.toFixed(0)} µs of it in nats-server, gateway and registry ` +
      `(${(supervisorCpuUs / ceilingCpuUs).toFixed(2)}x the ceiling's)`,
  );
  console.log(
    JSON.stringify({
      bench: "ingest",
      ceilingBefore: Math.round(before.eventsPerSecond),
      ceilingAfter: Math.round(after.eventsPerSecond),
      ceilingNatsCpuSeconds: [Number(before.natsCpuSeconds.toFixed(3)), Number(after.natsCpuSeconds.toFixed(3))],
      sustained: Math.round(sustained),
      sustainedRatio: Number(sustainedRatio.toFixed(3)),
      cpuSeconds: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, Number(v.toFixed(3))])),
      registryPerNatsCpu: Number(cpuRatio.toFixed(3)),
      cpuPerEventUs: {
        ceiling: Math.round(ceilingCpuUs),
        sustained: Math.round(allCpuUs),
        supervisor: Math.round(supervisorCpuUs),
      },
    }),
  );
}

await main();
