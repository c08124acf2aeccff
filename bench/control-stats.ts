/**
 * The control benchmark's sampling and statistics: A/B pairs of supervisor and direct calls, nearest-rank
 * quantiles, and each op's summary against the targets for what the supervisor may add.
 */
import { performance } from "node:perf_hooks";

/** Most the supervisor may add to a direct call's p50, in ms. */
export const TARGET_P50_MS = 3;
/** Most the supervisor may add to a direct call's p99, in ms. */
export const TARGET_P99_MS = 15;

/** Nearest-rank quantile of sorted samples. */
const quantile = (sorted: number[], q: number): number =>
  sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1))] ?? NaN;

/** The timed samples of one op, in ms, per path. */
export interface Pair {
  supervisor: number[];
  direct: number[];
}

/** One op's figures: p50 and p99 per path, what the supervisor adds, the ratio, and whether the targets are met. */
export interface OpResult {
  op: string;
  samples: number;
  direct: { p50: number; p99: number };
  supervisor: { p50: number; p99: number };
  added: { p50: number; p99: number };
  ratio: { p50: number; p99: number };
  met: { p50: boolean; p99: boolean };
}

/** The figures of one op's samples. Pure. */
export function summarise(op: string, pair: Pair): OpResult {
  const d = [...pair.direct].sort((a, b) => a - b);
  const s = [...pair.supervisor].sort((a, b) => a - b);
  const direct = { p50: quantile(d, 0.5), p99: quantile(d, 0.99) };
  const supervisor = { p50: quantile(s, 0.5), p99: quantile(s, 0.99) };
  const added = { p50: supervisor.p50 - direct.p50, p99: supervisor.p99 - direct.p99 };
  return {
    op,
    samples: Math.min(d.length, s.length),
    direct,
    supervisor,
    added,
    ratio: { p50: supervisor.p50 / direct.p50, p99: supervisor.p99 / direct.p99 },
    met: { p50: added.p50 <= TARGET_P50_MS, p99: added.p99 <= TARGET_P99_MS },
  };
}

/**
 * Runs `warmup` then `rounds` A/B pairs; each sample is `prepare` (untimed), the timed call, `settle` (untimed).
 * The order within a pair alternates so drift hits both paths alike.
 */
export async function abPairs<P>(
  rounds: number,
  warmup: number,
  steps: {
    prepare: () => Promise<P>;
    supervisor: (p: P) => Promise<unknown>;
    direct: (p: P) => Promise<unknown>;
    settle: (p: P, result: unknown) => Promise<void>;
  },
): Promise<Pair> {
  const pair: Pair = { supervisor: [], direct: [] };
  const one = async (which: "supervisor" | "direct", record: boolean) => {
    const p = await steps.prepare();
    const t0 = performance.now();
    const result = await steps[which](p);
    const ms = performance.now() - t0;
    await steps.settle(p, result);
    if (record) pair[which].push(ms);
  };
  for (let i = 0; i < warmup + rounds; i++) {
    const record = i >= warmup;
    const order: ("supervisor" | "direct")[] = i % 2 === 0 ? ["supervisor", "direct"] : ["direct", "supervisor"];
    for (const which of order) await one(which, record);
  }
  return pair;
}
