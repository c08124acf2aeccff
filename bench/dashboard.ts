/**
 * Dashboard benchmark (issue 16): 10,000 sessions and 1,000 events/s for 10 s through the real stack, every part its
 * own process (nats-server; `claw-supervisor service rpc-gateway` and `service policy`; the registry forked from
 * bench/registry-process.ts; the dashboard server forked from bench/dashboard-process.ts), simulated hosts speaking
 * the host-agent protocol from this process (as bench/ingest does), and the built page in Debian's Chromium
 * (playwright-core, headless, fresh profile) on `/?metrics=1#/fleet`, signed in as an operator minted through
 * `codex.admin.operator.add`. Measured in one run:
 *  - in Chromium: the first render of the whole fleet (navigation to the first paint of the snapshot's rows,
 *    the page's `__clawMetrics.firstRenderAtMs`), change-to-screen latency (`__clawMetrics.changeToScreen`: the
 *    registry's KV write of a change to the frame that showed its row) during the load, long tasks over 50 ms after
 *    the first render (PerformanceObserver 'longtask' installed before the page's scripts), the JS heap (CDP);
 *  - baselines from this process: the registry's list of every session over the bus (listAllSessions, timed several
 *    times) and bench/ingest's event-to-view latency (event emitted to KV update seen) under the same load.
 * A share of the load (BENCH_ON_SCREEN_SHARE, default 0.1) goes to the rows inside the viewport after the first
 * render, so changes to rows on screen are measured; the rest goes round-robin over every session.
 * Also printed: how long after the registry's view the dashboard server held every session (it follows their
 * creation live), and its snapshot to a WebSocket client in this process.
 * Flags: --json (a summary line at the end), --baseline-only (no dashboard nor browser). Env: BENCH_SESSIONS,
 * BENCH_HOSTS, BENCH_RATE, BENCH_SECONDS, BENCH_ON_SCREEN_SHARE, BENCH_PROFILE_DIR (CPU profiles of the services,
 * and of the page during the load).
 */
import { existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { ensureBus } from "../services/bus/index.js";
import { type NatsTestServer, startNatsServer } from "../test/support/nats-server.js";
import { CHROMIUM_PATH, type FleetPage, type Heap, openFleetPage } from "./dashboard-browser.js";
import { printSummary, type Summary } from "./dashboard-report.js";
import {
  addOperator,
  byKey,
  createFleet,
  cpuSecondsOfProcessesNaming,
  type DashboardProcess,
  readSnapshot,
  signIn,
  startDashboardProcess,
  threadIds,
  timeRegistryList,
} from "./dashboard-rig.js";
import {
  connectHosts,
  cpuSeconds,
  paceEvents,
  quantile,
  sleep,
  startRegistryProcess,
  statusFlipper,
  watchView,
} from "./ingest-rig.js";
import { type ServiceProcess, startService, stopService } from "./service-process.js";

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 10_000);
const HOSTS = Number(process.env.BENCH_HOSTS ?? 20);
const RATE = Number(process.env.BENCH_RATE ?? 1_000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ON_SCREEN_SHARE = Number(process.env.BENCH_ON_SCREEN_SHARE ?? 0.1);
const LIST_TIMES = 5;
const JSON_OUT = process.argv.includes("--json");
const BASELINE_ONLY = process.argv.includes("--baseline-only");
const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "dashboard", "web");

const log = (line: string) => console.log(line);
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;

/** Polls `probe` every 100 ms until it is true; throws naming `what` after `ms`. */
async function until(what: string, ms: number, probe: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

async function main(): Promise<void> {
  const machine = { nproc: os.cpus().length, cpu: os.cpus()[0]?.model ?? "?", node: process.version };
  log(`dashboard benchmark: node ${machine.node}, ${machine.nproc} x ${machine.cpu}, load average ${os.loadavg()[0]}`);
  if (!BASELINE_ONLY && !existsSync(CHROMIUM_PATH))
    throw new Error(`${CHROMIUM_PATH} is missing: apt-get install chromium`);
  if (!BASELINE_ONLY && !existsSync(path.join(WEB_DIR, "index.html")))
    throw new Error(`${WEB_DIR}/index.html is missing: run 'npm run build'`);
  const perHost = Math.ceil(SESSIONS / HOSTS);
  const total = perHost * HOSTS;

  let nats: NatsTestServer | undefined;
  const services: ServiceProcess[] = [];
  const stops: (() => Promise<void>)[] = [];
  try {
    nats = await startNatsServer();
    const nc = await connect({ servers: nats.url, name: "bench" });
    stops.push(() => nc.close());
    await ensureBus(nc);
    const gateway = await startService("rpc-gateway", nats.url, ["--port", "0"]);
    services.push(gateway);
    const policy = await startService("policy", nats.url);
    services.push(policy);
    const registry = await startRegistryProcess(nats.url);
    stops.push(() => registry.stop());
    let dashboard: DashboardProcess | undefined;
    if (!BASELINE_ONLY) {
      dashboard = await startDashboardProcess(nats.url, WEB_DIR);
      stops.push(() => dashboard!.stop());
      log(`stack up: nats-server, gateway, policy, registry, dashboard at ${dashboard.url}`);
    } else log("stack up: nats-server, gateway, policy, registry (--baseline-only: no dashboard, no browser)");

    const view = await watchView(nc);
    stops.push(async () => view.stop());
    const hosts = await connectHosts(nc, String(gateway.ready.url), "fleet-", HOSTS);
    stops.push(async () => {
      for (const h of hosts) h.close();
    });
    log(`creating ${total} sessions on ${HOSTS} hosts ...`);
    const created0 = performance.now();
    await createFleet(hosts, perHost);
    await until(`${total} sessions in the KV view`, 120_000, () => view.latest.size >= total);
    const viewCompleteAt = performance.now();
    log(`  all ${total} sessions in the registry's view after ${((viewCompleteAt - created0) / 1000).toFixed(1)} s`);
    await sleep(2_000);

    const listMs = sorted(await timeRegistryList(nc, total, LIST_TIMES));
    log(
      `registry list of all ${total} sessions over the bus (listAllSessions, pages of 1,000), ${LIST_TIMES} times: ` +
        `median ${quantile(listMs, 0.5).toFixed(0)} ms (${listMs.map((m) => m.toFixed(0)).join(", ")})`,
    );

    let page: FleetPage | undefined;
    let onScreen: string[] = [];
    let snapshot: { ms: number; bytes: number; caughtUpMs: number } | undefined;
    let heapAfterRender: Heap | undefined;
    let cookieHeader = "";
    let sessionKey = "";
    if (dashboard) {
      const token = await addOperator(nc, "bench", "viewer");
      const cookie = await signIn(dashboard.url, token);
      cookieHeader = `${cookie.name}=${cookie.value}`;
      sessionKey = cookie.key;
      log("signed in: operator 'bench' (role viewer), minted through codex.admin.operator.add");
      let told = 0;
      await until("the dashboard server's snapshot to hold every session", 120_000, async () => {
        const held = (await readSnapshot(dashboard!.url, cookieHeader, sessionKey)).sessions.length;
        if (held < total && performance.now() - told > 2_000) {
          told = performance.now();
          log(
            `  the dashboard holds ${held} of ${total} sessions ${((told - viewCompleteAt) / 1000).toFixed(1)} s after the registry's view`,
          );
        }
        if (held < total) await sleep(400);
        return held >= total;
      });
      const dashboardCaughtUpMs = performance.now() - viewCompleteAt;
      // Timed only once the server holds the whole view (before that it may still be reading the KV history).
      const snaps: { ms: number; bytes: number }[] = [];
      for (let i = 0; i < 3; i++) snaps.push(await readSnapshot(dashboard.url, cookieHeader, sessionKey));
      snaps.sort((a, b) => a.ms - b.ms);
      snapshot = { ...snaps[1]!, caughtUpMs: dashboardCaughtUpMs };
      log(
        `  the dashboard server held all ${total} sessions ${(dashboardCaughtUpMs / 1000).toFixed(1)} s after the registry's view did; ` +
          `its snapshot to a WebSocket client in this process: median ${snapshot.ms.toFixed(0)} ms of 3 (${snaps.map((x) => x.ms.toFixed(0)).join(", ")}), ${mib(snapshot.bytes)}`,
      );
      log("opening /?metrics=1#/fleet in Chromium ...");
      page = await openFleetPage(dashboard.url, cookie);
      stops.push(() => page!.close());
      log(`first render of the fleet: ${page.firstRenderAtMs.toFixed(0)} ms after navigation`);
      await sleep(2_000);
      onScreen = await page.onScreenKeys();
      heapAfterRender = await page.heap();
      log(`  ${onScreen.length} fleet rows on screen; JS heap ${mib(heapAfterRender.usedBytes)}`);
      if (onScreen.length === 0) throw new Error("no fleet-row inside the viewport after the first render");
    } else onScreen = threadIds(hosts[0]!.hostId, 30).map((t) => `${hosts[0]!.hostId}.${t}`);

    // The load: RATE events/s for SECONDS s; every 1/ON_SCREEN_SHARE-th to a row on screen, the rest round-robin.
    const byHost = new Map(hosts.map((h) => [h.hostId, h]));
    const targets = onScreen.map((key) => {
      const dot = key.indexOf(".");
      return { host: byHost.get(key.slice(0, dot))!, thread: key.slice(dot + 1) };
    });
    if (targets.some((t) => !t.host)) throw new Error(`an on-screen key names no bench host: ${onScreen.join(", ")}`);
    const threads = hosts.map((h) => threadIds(h.hostId, perHost));
    const flipper = statusFlipper();
    let spread = 0;
    let aimed = 0;
    const c2sBefore = page ? (await page.changeToScreen()).length : 0;
    const loadStartPageMs = page ? ((await page.page.evaluate("performance.now()")) as number) : 0;
    const pids: Record<string, number> = {
      "nats-server": nats.pid,
      gateway: gateway.child.pid!,
      policy: policy.child.pid!,
      registry: registry.pid,
      ...(dashboard ? { dashboard: dashboard.pid } : {}),
      "bench (load+watch+driver)": process.pid,
    };
    const cpu = (): Record<string, number> => ({
      ...Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, cpuSeconds(pid)])),
      ...(page ? { "chromium (all its processes)": cpuSecondsOfProcessesNaming(page.userDataDir) } : {}),
    });
    const cpu0 = cpu();
    log(
      `load: ${RATE} events/s for ${SECONDS} s; ${Math.round(ON_SCREEN_SHARE * 100)}% of them go to the ${targets.length} rows ` +
        `${page ? "on the first screen of #/fleet (read from the DOM after the first render)" : `${hosts[0]!.hostId}'s first ${targets.length} sessions`}` +
        `, the rest round-robin over all ${total} sessions`,
    );
    if (page && process.env.BENCH_PROFILE_DIR) await page.startProfile();
    const loadStart = Date.now();
    view.record(loadStart);
    const sent = await paceEvents(
      RATE,
      SECONDS,
      (n) => {
        if (Math.floor((n + 1) * ON_SCREEN_SHARE) > Math.floor(n * ON_SCREEN_SHARE)) {
          const t = targets[aimed++ % targets.length]!;
          void flipper.send(t.host, t.thread);
        } else {
          const hi = spread % HOSTS;
          void flipper.send(hosts[hi]!, threads[hi]![Math.floor(spread / HOSTS) % perHost]!);
          spread++;
        }
      },
      (s) =>
        void (page ? page.changeToScreen() : Promise.resolve([])).then((c) =>
          log(
            `  ${s}/${SECONDS} s: ${s * RATE} events sent, ${view.latencies.length} view updates seen` +
              (page ? `, ${c.length - c2sBefore} changes shown on rendered rows` : ""),
          ),
        ),
    );
    await Promise.all(hosts.map((h) => h.drain()));
    await sleep(2_000);
    if (page && process.env.BENCH_PROFILE_DIR) {
      const file = path.join(process.env.BENCH_PROFILE_DIR, "page.cpuprofile");
      await page.stopProfile(file);
      log(`  the page's CPU profile during the load: ${file}`);
    }
    view.record(0);
    const cpu1 = cpu();
    const loadSeconds = (Date.now() - loadStart) / 1000;

    const summary: Summary = {
      machine,
      sessions: total,
      hosts: HOSTS,
      rate: RATE,
      seconds: SECONDS,
      eventsSent: sent,
      onScreen: { share: ON_SCREEN_SHARE, rows: targets.length, events: aimed },
      registryListMs: listMs,
      eventToViewMs: sorted(view.latencies),
      cpuSeconds: Object.fromEntries(Object.keys(cpu1).map((k) => [k, cpu1[k]! - (cpu0[k] ?? 0)])),
      loadWallSeconds: loadSeconds,
    };
    if (page && dashboard) {
      summary.browser = {
        firstRenderMs: page.firstRenderAtMs,
        loadStartMs: loadStartPageMs,
        loadEndMs: (await page.page.evaluate("performance.now()")) as number,
        serverSnapshot: snapshot!,
        changeToScreenMs: sorted((await page.changeToScreen()).slice(c2sBefore)),
        longTasks: (await page.longTasks()).filter((t) => t.startMs >= page!.firstRenderAtMs),
        heap: { afterFirstRender: heapAfterRender!, endOfLoad: await page.heap(), afterGc: await page.heap(true) },
        problems: page.problems,
        viewMatchesServer: await viewMatches(page, dashboard.url, cookieHeader, sessionKey),
      };
    }
    printSummary(summary, log, JSON_OUT);
  } finally {
    for (const stop of stops.reverse()) await stop().catch((e: Error) => log(`(stopping: ${e.message})`));
    for (const s of services.reverse()) await stopService(s);
    await nats?.stop();
  }
}

/** Whether the page's view (every session's revision) equals a fresh snapshot from the server. */
async function viewMatches(page: FleetPage, url: string, cookie: string, key: string): Promise<boolean> {
  const [mine, fresh] = await Promise.all([page.viewSessions(), readSnapshot(url, cookie, key)]);
  return JSON.stringify(byKey(mine)) === JSON.stringify(fresh.sessions);
}

await main();
