/**
 * The control benchmark's report: the table, the baseline and each op's added p50 against it, the verdict per
 * target, notes on the run, and the JSON line.
 */
import os from "node:os";
import { performance } from "node:perf_hooks";
import {
  type Baseline,
  type BaselineRatio,
  type OpResult,
  TARGET_BASELINE_RATIO,
  TARGET_P50_MS,
  TARGET_P99_MS,
} from "./control-stats.js";

/** What the report says about the run beside the figures. */
export interface RunInfo {
  topology: string;
  turnPhase: string;
  policyInstances: number;
  /** `performance.now()` when the run started. */
  startedAt: number;
  cpus: os.CpuInfo[];
}

/**
 * Prints the report with `say` (silent under `--json`), then the machine-readable line on stdout whatever
 * `say` does: the last line of the output is always that line.
 */
export function printReport(
  results: OpResult[],
  against: { baseline: Baseline; ratios: BaselineRatio[] },
  run: RunInfo,
  say: (line?: string) => void,
): void {
  const ms = (v: number) => `${v.toFixed(2)} ms`;
  const x = (v: number) => `${v.toFixed(2)}x`;
  const cols: [string, number][] = [
    ["op", 28],
    ["direct p50", 11],
    ["direct p99", 11],
    ["superv. p50", 12],
    ["superv. p99", 12],
    ["added p50", 10],
    ["added p99", 10],
    ["ratio p50", 10],
    ["ratio p99", 10],
  ];
  say();
  say(cols.map(([h, w], i) => (i === 0 ? h.padEnd(w) : h.padStart(w))).join(" "));
  for (const r of results) {
    const cells = [
      r.op,
      ms(r.direct.p50),
      ms(r.direct.p99),
      ms(r.supervisor.p50),
      ms(r.supervisor.p99),
      ms(r.added.p50),
      ms(r.added.p99),
      x(r.ratio.p50),
      x(r.ratio.p99),
    ];
    say(cells.map((c, i) => (i === 0 ? c.padEnd(cols[i]![1]) : c.padStart(cols[i]![1]))).join(" "));
  }
  say();
  say(`targets: added p50 at most ${TARGET_P50_MS} ms, added p99 at most ${TARGET_P99_MS} ms`);
  for (const r of results) {
    const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
    say(
      `  ${r.op.padEnd(28)} p50 +${r.added.p50.toFixed(2)} ms: ${verdict(r.met.p50)}; p99 +${r.added.p99.toFixed(2)} ms: ${verdict(r.met.p99)}`,
    );
  }
  const { baseline: b, ratios } = against;
  say();
  say(
    `baseline (${b.samples} samples each, half before the ops and half after, from the caller's connection): ` +
      `JetStream publish to AUDIT until its ack p50 ${ms(b.jsPublishAck.p50)} (p99 ${ms(b.jsPublishAck.p99)}), ` +
      `NATS request to a trivial responder p50 ${ms(b.request.p50)} (p99 ${ms(b.request.p99)}); one of each: ${ms(b.p50)}`,
  );
  say(
    `target: each op's added p50 at most ${TARGET_BASELINE_RATIO}x that baseline (${ms(TARGET_BASELINE_RATIO * b.p50)})`,
  );
  for (const r of ratios) {
    say(
      `  ${r.op.padEnd(28)} added p50 ${ms(r.addedP50)} = ${x(r.ratio)} the baseline (${x(r.perPublishAck)} a publish-ack, ` +
        `${x(r.perRequest)} a request): ${r.met ? "met" : "NOT met"}`,
    );
  }
  say("notes: send finds the agent's view of the thread settled and idle, so the agent starts the turn without a");
  say("  look-up, like the direct path; steer and interrupt go to a turn the agent already knows (no look-up either),");
  say(
    run.turnPhase === "streaming"
      ? "  once it streams its answer (BENCH_TURN_PHASE=start: as soon as the registry shows it)."
      : "  as soon as the registry shows it, inside the app-server's start-up work for the turn.",
  );
  say(
    run.topology === "single"
      ? "  Every service shares this process's event loop (as in 'claw-supervisor up')."
      : "  Gateway, registry, policy service and host agent each run as their own process (as deployed).",
  );
  say(
    `  ${run.policyInstances} policy instance(s) in queue group "policy"; rate limits are shared through KV codex-policy-state.`,
  );
  say(
    `run: ${((performance.now() - run.startedAt) / 1000).toFixed(1)} s, load average at the end ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  console.log(
    JSON.stringify({
      bench: "control",
      node: process.version,
      topology: run.topology,
      turnPhase: run.turnPhase,
      cpus: run.cpus.length,
      cpu: run.cpus[0]?.model ?? null,
      memGiB: Math.round(os.totalmem() / 2 ** 30),
      policyInstances: run.policyInstances,
      targets: { addedP50Ms: TARGET_P50_MS, addedP99Ms: TARGET_P99_MS, addedP50PerBaseline: TARGET_BASELINE_RATIO },
      baseline: b,
      results,
      againstBaseline: ratios,
    }),
  );
}
