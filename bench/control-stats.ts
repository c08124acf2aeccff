/**
 * The control benchmark's sampling and statistics: A/B pairs of supervisor and direct calls, nearest-rank
 * quantiles, each op's summary against the targets for what the supervisor may add, and the baseline (one
 * JetStream publish-ack round trip and one NATS request round trip, measured in the same run) each op's added
 * p50 is also set against.
 */
import { performance } from "node:perf_hooks";

/** Most the supervisor may add to a direct call's p50, in ms. */
export const TARGET_P50_MS = 3;
/** Most the supervisor may add to a direct call's p99, in ms. */
export const TARGET_P99_MS = 15;
/** Most the supervisor's added p50 may be, as a multiple of the baseline's p50 (publish-ack + request). */
export const TARGET_BASELINE_RATIO = 3;

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

/** The baseline's samples, in ms, per round trip. */
export interface BaselineSamples {
  jsPublishAck: number[];
  request: number[];
}

/** The baseline's figures: p50 and p99 per round trip, and their p50s added (a command's least: one of each). */
export interface Baseline {
  samples: number;
  jsPublishAck: { p50: number; p99: number };
  request: { p50: number; p99: number };
  /** jsPublishAck.p50 + request.p50: what each op's added p50 is set against. */
  p50: number;
}

/** How an op's added p50 compares with the baseline: as a multiple of it and of each round trip. */
export interface BaselineRatio {
  op: string;
  addedP50: number;
  /** addedP50 / baseline.p50 */
  ratio: number;
  perPublishAck: number;
  perRequest: number;
  met: boolean;
}

/** Runs `warmup` then `rounds` pairs of the two round trips, alternating which goes first, into `into`. */
export async function baselineSamples(
  rounds: number,
  warmup: number,
  ops: { jsPublishAck: () => Promise<unknown>; request: () => Promise<unknown> },
  into: BaselineSamples = { jsPublishAck: [], request: [] },
): Promise<BaselineSamples> {
  for (let i = 0; i < warmup + rounds; i++) {
    const order: (keyof BaselineSamples)[] = i % 2 === 0 ? ["jsPublishAck", "request"] : ["request", "jsPublishAck"];
    for (const which of order) {
      const t0 = performance.now();
      await ops[which]();
      const ms = performance.now() - t0;
      if (i >= warmup) into[which].push(ms);
    }
  }
  return into;
}

/** The baseline's figures. Pure. */
export function summariseBaseline(b: BaselineSamples): Baseline {
  const fig = (xs: number[]) => {
    const sorted = [...xs].sort((x, y) => x - y);
    return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
  };
  const jsPublishAck = fig(b.jsPublishAck);
  const request = fig(b.request);
  return {
    samples: Math.min(b.jsPublishAck.length, b.request.length),
    jsPublishAck,
    request,
    p50: jsPublishAck.p50 + request.p50,
  };
}

/** Each op's added p50 against the baseline. Pure. */
export function baselineRatios(results: OpResult[], baseline: Baseline): BaselineRatio[] {
  return results.map((r) => ({
    op: r.op,
    addedP50: r.added.p50,
    ratio: r.added.p50 / baseline.p50,
    perPublishAck: r.added.p50 / baseline.jsPublishAck.p50,
    perRequest: r.added.p50 / baseline.request.p50,
    met: r.added.p50 <= TARGET_BASELINE_RATIO * baseline.p50,
  }));
}
