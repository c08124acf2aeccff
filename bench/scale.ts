/**
 * Scale benchmark (issue 17): the fleet-wide view against the per-call design it replaces, and the registry's
 * cost with one and with two partitions, measured in one run; every part its own process (nats-server,
 * `claw-supervisor service rpc-gateway`, each registry instance forked from bench/scale-registry-process.ts, the
 * real codex app-servers), simulated hosts speaking the host-agent protocol from this process (bench/ingest's).
 *
 * A. `sessions list` over 10,000 sessions (100 simulated hosts x 100 threads, announced through the gateway into
 *    the registry's view): `listAllSessions` (what `claw-supervisor sessions` calls, pages of 1,000 from the
 *    registry's in-memory view) against the fan-out a per-call design does, `thread/list` on 50 real codex
 *    app-servers at once (200 stored threads each, seeded from real rollout files: bench/scale-codex.ts), following
 *    their pages, then merged; and the same fan-out with `useStateDbOnly: true` (the server answers from its state
 *    DB without reading the rollouts: the same threads, far cheaper). All from this process over connections
 *    already open (the fan-outs on raw JSON, no validation), rotating, after a warm-up; then each app-server
 *    alone, what one host's answer takes when it has its cores to itself. Target: the registry ≥ 20x faster.
 * B. For P = 1 and P = 2 registry partitions (P instances, each owning one partition), on a fresh stack each:
 *    1,000 events/s across the 10,000 sessions and 100 hosts, each event a status flip; event-to-view p50/p99 (the
 *    event's emit time to this process seeing its KV update) and CPU per event of each registry instance and of
 *    the nats-server (the baseline) from /proc/<pid>/stat.
 * Env: BENCH_HOSTS (100), BENCH_THREADS_PER_HOST (100), BENCH_APP_SERVERS (50), BENCH_RATE (1000),
 * BENCH_SECONDS (20), BENCH_LIST_ROUNDS (20), BENCH_PARTITIONS ("1,2"), BENCH_PROFILE_DIR (registry profiles).
 */
import os from "node:os";
import { listAllSessions } from "../services/clients/registry-queries.js";
import { RegistryConfig } from "../services/registry/index.js";
import { codexVersion } from "../test/support/codex-bin.js";
import { startFakeModel } from "../test/support/fake-model.js";
import { quantile, sleep } from "./ingest-rig.js";
import {
  mergeListed,
  recordRolloutTemplates,
  type RolloutTemplate,
  type SeededAppServer,
  startSeededAppServer,
} from "./scale-codex.js";
import { timeEachAlone, timeListWays } from "./scale-lists.js";
import { type LoadResult, runLoad, type ScaleStack, startScaleStack } from "./scale-rig.js";

const HOSTS = Number(process.env.BENCH_HOSTS ?? 100);
const PER_HOST = Number(process.env.BENCH_THREADS_PER_HOST ?? 100);
const APP_SERVERS = Number(process.env.BENCH_APP_SERVERS ?? 50);
const RATE = Number(process.env.BENCH_RATE ?? 1_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const LIST_ROUNDS = Number(process.env.BENCH_LIST_ROUNDS ?? 20);
const PARTITIONS = (process.env.BENCH_PARTITIONS ?? "1,2").split(",").map(Number);
const TEMPLATES = 4;
const TARGET_LIST_RATIO = 20;
const SESSIONS = HOSTS * PER_HOST;

const log = (line: string) => console.log(line);
const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
const ms = (v: number) => `${v.toFixed(v < 10 ? 1 : 0)} ms`;
const us = (seconds: number, events: number) => (events ? (seconds * 1e6) / events : NaN);

/**
 * `startRegistry` options of each instance for `p` partitions, or why there are none: the registry gained its
 * partitions with issue 17; until then only P = 1 runs.
 */
function instanceOptions(p: number): Record<string, unknown>[] | string {
  if (p === 1) return [{}];
  if (!("partitions" in RegistryConfig.shape))
    return "this registry has no `partitions` option yet (startRegistry; issue 17's partitioned registry has not landed)";
  return Array.from({ length: p }, (_, i) => ({ partitions: p, instance: `scale-${i}` }));
}

async function main(): Promise<void> {
  log(
    `scale benchmark: node ${process.version}, codex-cli ${await codexVersion()}, ${os.cpus().length} x ${os.cpus()[0]?.model}, ` +
      `${Math.round(os.totalmem() / 2 ** 30)} GiB, load average ${loadAverage()}`,
  );
  log(
    `fleet: ${SESSIONS} sessions = ${HOSTS} simulated hosts x ${PER_HOST} threads; per-call baseline: ${APP_SERVERS} real codex app-servers x ${SESSIONS / APP_SERVERS} stored threads`,
  );
  const model = await startFakeModel({ defaultReply: { kind: "text", text: "Done: the test is fixed." } });
  const loads = new Map<number, LoadResult & { instances: string[] }>();
  let stack: ScaleStack | undefined;
  let servers: SeededAppServer[] = [];
  try {
    const t0 = performance.now();
    const templates: RolloutTemplate[] = await recordRolloutTemplates(model.baseUrl, TEMPLATES);
    log(
      `recorded ${TEMPLATES} real threads (one turn each, fake model) on a real app-server in ${((performance.now() - t0) / 1000).toFixed(1)} s: ` +
        "their rollout files are the templates every seeded thread is copied from",
    );

    for (const p of PARTITIONS) {
      const options = instanceOptions(p);
      if (typeof options === "string") {
        log(`\nP = ${p}: not run: ${options}`);
        continue;
      }
      log(
        `\nP = ${p}: ${options.length} registry instance(s)${p > 1 ? ", each to own one partition" : ""}` +
          `; load average ${loadAverage()}`,
      );
      stack = await startScaleStack(options, HOSTS, PER_HOST);
      if (p > 1) {
        const serving = await Promise.all(stack.registries.map((r) => r.serving()));
        log(
          `  the instances balanced to one partition each (${stack.registries.map((r, i) => `${r.name}: [${serving[i]}]`).join(", ")}) ` +
            `${(stack.balanceMs / 1000).toFixed(1)} s after the last one started`,
        );
      }
      log(
        `  ${SESSIONS} sessions announced through the gateway and in the KV view after ${stack.seedSeconds.toFixed(1)} s`,
      );
      await sleep(2_000);
      const load = await runLoad(stack, RATE, SECONDS);
      loads.set(p, { ...load, instances: stack.registries.map((r) => r.name) });
      printLoad(
        p,
        load,
        stack.registries.map((r) => r.name),
      );

      if (p === PARTITIONS[0]) {
        servers = await startAppServers(model.baseUrl, templates);
        await compareLists(stack, servers);
        await Promise.all(servers.map((s) => s.stop()));
        servers = [];
      } else {
        const times = await timeListWays([{ name: "registry", run: () => registryList(stack!), pids: [] }], 5, 1);
        log(`  registry list of ${SESSIONS} with ${p} instances answering: p50 ${ms(times.get("registry")!.p50)} of 5`);
      }
      await stack.stop();
      stack = undefined;
    }
    printSummary(loads);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await stack?.stop();
    await model.stop();
  }
}

async function startAppServers(modelUrl: string, templates: RolloutTemplate[]): Promise<SeededAppServer[]> {
  const perServer = SESSIONS / APP_SERVERS;
  const servers: SeededAppServer[] = [];
  const t0 = performance.now();
  try {
    for (let i = 0; i < APP_SERVERS; i += 5) {
      const batch = Array.from({ length: Math.min(5, APP_SERVERS - i) }, (_, k) =>
        startSeededAppServer(modelUrl, templates, perServer, `app${i + k}`),
      );
      for (const r of await Promise.allSettled(batch)) {
        if (r.status === "fulfilled") servers.push(r.value);
        else throw r.reason;
      }
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.stop()));
    throw err;
  }
  log(
    `  ${APP_SERVERS} codex app-servers up with ${perServer} stored threads each (rollouts seeded, indexed by each server at start) ` +
      `in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return servers;
}

async function registryList(stack: ScaleStack): Promise<void> {
  const { sessions } = await listAllSessions(stack.nc, {}, Infinity, 30_000);
  if (sessions.length !== SESSIONS) throw new Error(`the registry listed ${sessions.length} of ${SESSIONS} sessions`);
}

async function fanOutList(servers: SeededAppServer[], stateDbOnly: boolean): Promise<void> {
  const merged = mergeListed(await Promise.all(servers.map((s) => s.listAll(stateDbOnly))));
  if (merged.length !== SESSIONS) throw new Error(`the fan-out listed ${merged.length} of ${SESSIONS} threads`);
}

const REGISTRY_WAY = "registry view: listAllSessions, pages of 1,000";
const FAN_OUT = "fan-out: thread/list on each, merged (baseline)";
const FAN_OUT_DB = "fan-out: thread/list useStateDbOnly, merged";

/** Part A: the registry's list against the two fan-outs, alternating; then each app-server alone. */
async function compareLists(stack: ScaleStack, servers: SeededAppServer[]): Promise<void> {
  const appPids = servers.map((s) => s.pid);
  const times = await timeListWays(
    [
      { name: REGISTRY_WAY, run: () => registryList(stack), pids: stack.registries.map((r) => r.pid) },
      { name: FAN_OUT, run: () => fanOutList(servers, false), pids: appPids },
      { name: FAN_OUT_DB, run: () => fanOutList(servers, true), pids: appPids },
    ],
    LIST_ROUNDS,
  );
  const alone = await timeEachAlone(servers, false);
  const aloneDb = await timeEachAlone(servers, true);
  const registry = times.get(REGISTRY_WAY)!;
  log(
    `  A. sessions list over ${SESSIONS} sessions, ${LIST_ROUNDS} rounds a way after 2 of warm-up, rotating; every list checked complete ` +
      `(load average ${loadAverage()}):`,
  );
  log(`     ${"way".padEnd(52)} ${"p50".padStart(8)} ${"p95".padStart(8)}  CPU a list  registry faster by (p50, p95)`);
  for (const [name, t] of times) {
    const faster =
      name === REGISTRY_WAY
        ? ""
        : `${(t.p50 / registry.p50).toFixed(1)}x, ${(t.p95 / registry.p95).toFixed(1)}x` +
          `  (target ${TARGET_LIST_RATIO}x: ${t.p50 / registry.p50 >= TARGET_LIST_RATIO ? "met" : "MISSED"})`;
    const who = name === REGISTRY_WAY ? "registry" : `${servers.length} app-servers`;
    log(
      `     ${name.padEnd(52)} ${ms(t.p50).padStart(8)} ${ms(t.p95).padStart(8)}  ${`${t.cpuMsPerList.toFixed(0)} ms`.padStart(7)} ` +
        `(${who})  ${faster}`,
    );
  }
  log(
    `     one app-server alone (${SESSIONS / servers.length} threads), each of the ${servers.length} in turn: thread/list p50 ${ms(quantile(alone, 0.5))}, ` +
      `max ${ms(alone.at(-1)!)}; useStateDbOnly p50 ${ms(quantile(aloneDb, 0.5))}, max ${ms(aloneDb.at(-1)!)}`,
  );
  log(
    `     (all ${servers.length} app-servers share this machine's ${os.cpus().length} cores, so a fan-out here waits for their summed CPU; ` +
      "with a machine per host it would wait for the slowest host alone, plus the network and the merge)",
  );
}

function printLoad(p: number, load: LoadResult, instances: string[]): void {
  const lat = load.latencies;
  const nats = us(load.cpu["nats-server"]!, load.sent);
  log(
    `  B. load: ${load.sent} events at ${RATE}/s over ${SESSIONS} sessions and ${HOSTS} hosts (${load.wallSeconds.toFixed(1)} s to a current view` +
      `${load.notInView ? `; ${load.notInView} sessions NOT current after 30 s` : ""})`,
  );
  log(
    `     event-to-view: p50 ${quantile(lat, 0.5)} ms, p99 ${quantile(lat, 0.99)} ms, max ${lat.at(-1)} ms (${lat.length} view updates)`,
  );
  log(`     nats-server (baseline): ${load.cpu["nats-server"]!.toFixed(2)} s CPU, ${nats.toFixed(0)} µs per event`);
  for (const name of instances) {
    const cpu = load.cpu[name]!;
    const taken = load.taken[name] ?? 0;
    log(
      `     ${name}: ${cpu.toFixed(2)} s CPU, took ${taken} events: ${us(cpu, taken).toFixed(0)} µs per event it took, ` +
        `${us(cpu, load.sent).toFixed(0)} µs per fleet event, ${(us(cpu, load.sent) / nats).toFixed(2)}x the nats-server's`,
    );
  }
  log(
    `     gateway ${load.cpu.gateway!.toFixed(2)} s, bench (hosts+watch) ${load.cpu["bench (hosts+watch)"]!.toFixed(2)} s CPU` +
      ` (P = ${p}; 2 cores = ${(2 * load.wallSeconds).toFixed(1)} s)`,
  );
}

function printSummary(loads: Map<number, LoadResult & { instances: string[] }>): void {
  if (loads.size === 0) return;
  log(`\nsummary of B, ${RATE} events/s over ${SESSIONS} sessions and ${HOSTS} hosts, each P on a fresh stack:`);
  log(
    `  ${"P".padEnd(2)} ${"p50 ms".padStart(7)} ${"p99 ms".padStart(7)} ${"nats µs/event".padStart(14)} ${"registries µs/event".padStart(20)}  ` +
      "each instance: µs per event it took (its µs per fleet event / the nats-server's)",
  );
  for (const [p, l] of loads) {
    const nats = us(l.cpu["nats-server"]!, l.sent);
    const all = us(
      l.instances.reduce((s, n) => s + l.cpu[n]!, 0),
      l.sent,
    );
    const each = l.instances
      .map((n) => `${us(l.cpu[n]!, l.taken[n] ?? 0).toFixed(0)} µs (${(us(l.cpu[n]!, l.sent) / nats).toFixed(2)}x)`)
      .join(", ");
    log(
      `  ${String(p).padEnd(2)} ${String(quantile(l.latencies, 0.5)).padStart(7)} ${String(quantile(l.latencies, 0.99)).padStart(7)} ` +
        `${nats.toFixed(0).padStart(14)} ${`${all.toFixed(0)} (${(all / nats).toFixed(2)}x)`.padStart(20)}  ${each}`,
    );
  }
}

await main();
