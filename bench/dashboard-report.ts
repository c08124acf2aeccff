/**
 * bench/dashboard.ts's results: what one run measured, printed as lines with the ratios against issue 16's targets
 * (p99 change-to-screen at most 2x the event-to-view p99; no long task over 50 ms after the first render; first
 * render at most 3x the registry's list time), and as one JSON line with --json.
 */
import type { Heap, LongTask } from "./dashboard-browser.js";
import { quantile } from "./ingest-rig.js";

/** Everything one run measured (latency arrays ascending). */
export interface Summary {
  machine: { nproc: number; cpu: string; node: string };
  sessions: number;
  hosts: number;
  rate: number;
  seconds: number;
  eventsSent: number;
  /** The share of the load aimed at the rows on screen, how many rows, how many events went to them. */
  onScreen: { share: number; rows: number; events: number };
  registryListMs: number[];
  eventToViewMs: number[];
  cpuSeconds: Record<string, number>;
  loadWallSeconds: number;
  browser?: {
    firstRenderMs: number;
    /** The page's clock (performance.now()) when the load started, and when its results were read. */
    loadStartMs: number;
    loadEndMs: number;
    /** The server's snapshot (median of 3), and how long after the registry's view it held every session. */
    serverSnapshot: { ms: number; bytes: number; caughtUpMs: number };
    changeToScreenMs: number[];
    /** Long tasks (any length: the API reports those over 50 ms) that started after the first render. */
    longTasks: LongTask[];
    heap: { afterFirstRender: Heap; endOfLoad: Heap; afterGc: Heap };
    problems: string[];
    viewMatchesServer: boolean;
  };
}

const LONG_TASK_MS = 50;
const stats = (xs: number[]) => ({
  n: xs.length,
  p50: quantile(xs, 0.5),
  p99: quantile(xs, 0.99),
  max: xs.at(-1) ?? NaN,
});
const ms = (x: number) => `${Math.round(x)} ms`;
const mib = (b: number) => Number((b / 2 ** 20).toFixed(1));

/** Prints `s` with its ratios and verdicts; with `json`, also one `{"bench":"dashboard",...}` line. */
export function printSummary(s: Summary, log: (line: string) => void, json: boolean): void {
  const list = stats(s.registryListMs);
  const e2v = stats(s.eventToViewMs);
  log("");
  log(
    `results (${s.sessions} sessions on ${s.hosts} hosts, ${s.rate} events/s for ${s.seconds} s, ${s.eventsSent} events):`,
  );
  log(
    `  baseline: registry list of all sessions over the bus: median ${ms(list.p50)} (${list.n} runs, max ${ms(list.max)})`,
  );
  log(
    `  baseline: event-to-view (bench/ingest's measure, same load): p50 ${ms(e2v.p50)}, p99 ${ms(e2v.p99)}, max ${ms(e2v.max)} (${e2v.n} view updates)`,
  );
  const cpu = Object.entries(s.cpuSeconds).map(([k, v]) => `${k} ${v.toFixed(2)} s`);
  log(`  CPU during the load (${s.loadWallSeconds.toFixed(1)} s wall, ${s.machine.nproc} cores): ${cpu.join(", ")}`);
  const out: Record<string, unknown> = {
    bench: "dashboard",
    machine: s.machine,
    sessions: s.sessions,
    hosts: s.hosts,
    rate: s.rate,
    seconds: s.seconds,
    eventsSent: s.eventsSent,
    onScreen: s.onScreen,
    registryListMs: { median: Math.round(list.p50), max: Math.round(list.max), runs: s.registryListMs.map(Math.round) },
    eventToViewMs: e2v,
    cpuSeconds: s.cpuSeconds,
  };
  const b = s.browser;
  if (b) {
    const c2s = stats(b.changeToScreenMs);
    const long = b.longTasks.filter((t) => t.durationMs > LONG_TASK_MS);
    const longest = Math.max(0, ...b.longTasks.map((t) => t.durationMs));
    const c2sRatio = c2s.p99 / e2v.p99;
    const renderRatio = b.firstRenderMs / list.p50;
    const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
    log(
      `  server snapshot to a WebSocket client in this process (median of 3): ${ms(b.serverSnapshot.ms)}, ${mib(b.serverSnapshot.bytes)} MiB; ` +
        `the server held every session ${ms(b.serverSnapshot.caughtUpMs)} after the registry's view did`,
    );
    log(`  Chromium: first render of the fleet ${ms(b.firstRenderMs)} after navigation`);
    log(
      `  Chromium: change-to-screen p50 ${ms(c2s.p50)}, p99 ${ms(c2s.p99)}, max ${ms(c2s.max)} (${c2s.n} changes shown on rendered rows; ` +
        `${s.onScreen.events} events aimed at the ${s.onScreen.rows} rows on screen)`,
    );
    log(
      `  Chromium: ${long.length} long tasks over ${LONG_TASK_MS} ms after the first render (longest ${ms(longest)}, ` +
        `${b.longTasks.length} reported in all)`,
    );
    const when = (t: LongTask) =>
      `${ms(t.durationMs)} at ${t.startMs < b.loadStartMs ? `+${ms(t.startMs - b.firstRenderMs)} after the first render` : `+${ms(t.startMs - b.loadStartMs)} into the load`}`;
    if (long.length)
      log(`    ${long.map(when).join(", ")} (the load ran ${ms(b.loadEndMs - b.loadStartMs)} until read)`);
    log(
      `  Chromium: JS heap used ${mib(b.heap.afterFirstRender.usedBytes)} MiB after the first render, ` +
        `${mib(b.heap.endOfLoad.usedBytes)} MiB at the end of the load, ${mib(b.heap.afterGc.usedBytes)} MiB after a full GC`,
    );
    log(`  the page's view equals a fresh server snapshot after the load: ${b.viewMatchesServer ? "yes" : "NO"}`);
    if (b.problems.length) log(`  page problems (${b.problems.length}): ${b.problems.slice(0, 5).join(" | ")}`);
    log("targets:");
    log(`  p99 change-to-screen / p99 event-to-view = ${c2sRatio.toFixed(2)} (target <= 2): ${verdict(c2sRatio <= 2)}`);
    log(
      `  long tasks over ${LONG_TASK_MS} ms after first render = ${long.length} (target 0): ${verdict(long.length === 0)}`,
    );
    log(`  first render / registry list = ${renderRatio.toFixed(2)} (target <= 3): ${verdict(renderRatio <= 3)}`);
    Object.assign(out, {
      firstRenderMs: Math.round(b.firstRenderMs),
      serverSnapshot: {
        ms: Math.round(b.serverSnapshot.ms),
        mib: mib(b.serverSnapshot.bytes),
        caughtUpMs: Math.round(b.serverSnapshot.caughtUpMs),
      },
      changeToScreenMs: c2s,
      longTasksOver50Ms: {
        count: long.length,
        longestMs: Math.round(longest),
        startsAfterLoadStartMs: long.map((t) => Math.round(t.startMs - b.loadStartMs)),
      },
      heapMiB: {
        afterFirstRender: mib(b.heap.afterFirstRender.usedBytes),
        endOfLoad: mib(b.heap.endOfLoad.usedBytes),
        afterGc: mib(b.heap.afterGc.usedBytes),
      },
      viewMatchesServer: b.viewMatchesServer,
      pageProblems: b.problems.length,
      ratios: { changeToScreenP99OverEventToViewP99: c2sRatio, firstRenderOverRegistryList: renderRatio },
      targetsMet: { changeToScreen: c2sRatio <= 2, longTasks: long.length === 0, firstRender: renderRatio <= 3 },
    });
  }
  if (json) log(JSON.stringify(out));
}
