/**
 * Part A of bench/scale.ts: ways of listing the whole fleet, timed in rounds that alternate between them (the
 * order rotating each round, so drift and caches hit every way alike), with the CPU the processes answering each
 * way used; and each app-server asked alone, the floor of a fan-out whose servers each have a machine of their own.
 */
import { cpuSeconds, quantile } from "./ingest-rig.js";
import type { SeededAppServer } from "./scale-codex.js";

/** One way of listing: `run` lists everything (and checks the count); `pids` are the processes that answer it. */
export interface ListWay {
  name: string;
  run(): Promise<void>;
  pids: number[];
}

/** What one way measured: wall times ascending (ms) and the answering processes' CPU per list (ms). */
export interface ListTimes {
  ms: number[];
  cpuMsPerList: number;
  p50: number;
  p95: number;
}

/** Runs every way `warmup` times, then `rounds` rounds of one each, rotating which goes first. */
export async function timeListWays(ways: ListWay[], rounds: number, warmup = 2): Promise<Map<string, ListTimes>> {
  for (let i = 0; i < warmup; i++) for (const way of ways) await way.run();
  const samples = new Map(ways.map((w) => [w.name, { ms: [] as number[], cpu: 0 }]));
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < ways.length; k++) {
      const way = ways[(r + k) % ways.length]!;
      const into = samples.get(way.name)!;
      const cpu0 = way.pids.reduce((s, pid) => s + cpuSeconds(pid), 0);
      const t0 = performance.now();
      await way.run();
      into.ms.push(performance.now() - t0);
      into.cpu += way.pids.reduce((s, pid) => s + cpuSeconds(pid), 0) - cpu0;
    }
  }
  return new Map(
    [...samples].map(([name, { ms, cpu }]) => {
      const sorted = [...ms].sort((a, b) => a - b);
      return [
        name,
        { ms: sorted, cpuMsPerList: (cpu * 1000) / rounds, p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95) },
      ];
    }),
  );
}

/** Each server's whole list asked alone, one server at a time (ms, ascending): what one host's answer takes. */
export async function timeEachAlone(servers: SeededAppServer[], stateDbOnly: boolean): Promise<number[]> {
  const ms: number[] = [];
  for (const s of servers) {
    const t0 = performance.now();
    await s.listAll(stateDbOnly);
    ms.push(performance.now() - t0);
  }
  return ms.sort((a, b) => a - b);
}
