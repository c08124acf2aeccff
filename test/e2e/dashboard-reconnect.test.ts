/**
 * A reconnect in the middle of a burst loses no change. Every part real: nats-server, the registry folding
 * session events published as a host agent publishes them, the dashboard server, the built page in Debian's
 * Chromium. The page reaches the server through a loopback TCP proxy the test controls, so the WebSocket can be
 * cut (server side: every proxied socket destroyed) and new connections held back for a while, mid-burst, while
 * the registry keeps changing. At the end the page's `window.__clawView()` equals a freshly loaded page's, and
 * both equal the registry's KV view (each key's revision, each bucket's last sequence).
 */
import net from "node:net";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KV_BUCKET_NAMES, loadKvBucket } from "../../services/bus/index.js";
import { startPolicyService } from "../../services/policy/index.js";
import { FakeHost } from "../../services/registry/test-fleet.js";
import { haveChromium, useBrowser } from "../support/browser.js";
import { addOperator, type ClawView, clawView, signIn, startTestDashboard } from "../support/dashboard.js";
import { startStack, type Stack } from "../support/stack.js";
import { until } from "../support/wait.js";

const HOST = "burst-host";
const FIRST = 60;
const LATER = 40;
const thread = (i: number) => `thr-burst-${String(i).padStart(3, "0")}`;

/** A TCP proxy to `target()`: `cut()` destroys every open socket; `hold()` parks new ones until `release()`. */
interface Proxy {
  port: number;
  /** Connections whose first bytes were a WebSocket upgrade of /ws. */
  wsUpgrades: number;
  cut(): void;
  hold(): void;
  release(): void;
  stop(): Promise<void>;
}

async function startProxy(target: () => number): Promise<Proxy> {
  const open = new Set<net.Socket>();
  let parked: net.Socket[] = [];
  let holding = false;
  const proxy = { wsUpgrades: 0 } as Proxy;
  const forward = (client: net.Socket): void => {
    const upstream = net.connect(target(), "127.0.0.1");
    open.add(upstream);
    upstream.on("close", () => open.delete(upstream));
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    client.once("data", (first: Buffer) => {
      if (first.toString("latin1").startsWith("GET /ws")) proxy.wsUpgrades++;
    });
    client.pipe(upstream).pipe(client);
  };
  const server = net.createServer((client) => {
    open.add(client);
    client.on("close", () => open.delete(client));
    client.on("error", () => undefined);
    if (holding) parked.push(client);
    else forward(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return Object.assign(proxy, {
    port: (server.address() as net.AddressInfo).port,
    cut: () => {
      for (const s of open) s.destroy();
    },
    hold: () => void (holding = true),
    release: () => {
      holding = false;
      for (const client of parked.splice(0)) if (!client.destroyed) forward(client);
      parked = [];
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  });
}

/** The registry's view as `__clawView()` states it: each bucket's last sequence and every key's revision. */
async function kvView(stack: Stack): Promise<ClawView> {
  const jsm = await jetstreamManager(stack.nc);
  const lastSeq = async (bucket: string) => (await jsm.streams.info(`KV_${bucket}`)).state.last_seq;
  const entries = async (bucket: string) =>
    [...(await loadKvBucket(stack.nc, bucket))]
      .map(([key, e]): [string, number] => [key, e.revision])
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    rev: { sessions: await lastSeq(KV_BUCKET_NAMES.sessions), hosts: await lastSeq(KV_BUCKET_NAMES.hosts) },
    sessions: await entries(KV_BUCKET_NAMES.sessions),
    hosts: await entries(KV_BUCKET_NAMES.hosts),
  };
}

let stack: Stack;
let proxy: Proxy;
let pageUrl: string;
let token: string;
let fake: FakeHost;

beforeAll(async () => {
  if (!haveChromium) return; // the suite skips, saying why (test/support/browser.ts)
  stack = await startStack({
    hostId: HOST,
    model: {},
    // No sweeps in this test: the only writes to the view are the burst's.
    registry: { sweepIntervalMs: 60_000, degradedAfterMs: 60_000, offlineAfterMs: 60_000, staleAfterMs: 60_000 },
  });
  const policy = await startPolicyService({ nc: stack.nc, logger: stack.quiet });
  stack.defer(() => policy.stop());
  let dashboardPort = 0;
  proxy = await startProxy(() => dashboardPort);
  stack.defer(() => proxy.stop());
  pageUrl = `http://127.0.0.1:${proxy.port}`;
  const dash = await startTestDashboard(stack, { allowedOrigins: [pageUrl] });
  dashboardPort = Number(new URL(dash.url).port);
  token = await addOperator(stack, "bea", "operator");
  fake = new FakeHost({ nc: stack.nc, js: jetstream(stack.nc) }, HOST);
  fake.nowMs = Date.now();
  for (let i = 0; i < FIRST; i++) await fake.synced(thread(i), { preview: `burst task ${i}` });
  await until("the first sessions in the view", async () => (await kvView(stack)).sessions.length === FIRST);
}, 90_000);

afterAll(() => stack?.stop());

/** Waits until the page's view is `want`; fails with both views when it does not get there. */
async function viewReaches(page: Page, want: ClawView, what: string): Promise<ClawView> {
  let last: ClawView | undefined;
  try {
    return await until(
      what,
      async () => {
        last = await clawView(page);
        return JSON.stringify(last) === JSON.stringify(want) ? last : undefined;
      },
      15_000,
    );
  } catch (err) {
    expect(last, `${(err as Error).message}`).toEqual(want);
    throw err;
  }
}

describe.skipIf(!haveChromium)("a reconnect in the middle of a burst", () => {
  const browser = useBrowser();

  it("ends with the same view as a fresh load, and as the registry's", async () => {
    const page = await browser.newPage();
    let navigations = 0;
    page.on("framenavigated", (f) => void (f === page.mainFrame() && navigations++));
    await signIn(browser, page, pageUrl, token);
    await page.goto(`${pageUrl}/#/fleet`);
    await viewReaches(page, await kvView(stack), "the page at the first sessions");
    const navigationsBefore = navigations;
    const upgradesBefore = proxy.wsUpgrades;
    expect(upgradesBefore).toBeGreaterThanOrEqual(1);

    // The burst: turns on the first sessions and new sessions, ~600 events over ~3 s; the cut a third of the way.
    const steps = 300;
    let progress = 0;
    const burst = (async () => {
      for (let step = 0; step < steps; step++, progress = step) {
        const i = step % FIRST;
        const turn = `turn-${step}`;
        if (step % 7 === 3 && step / 7 < LATER) await fake.synced(thread(FIRST + Math.floor(step / 7)));
        await fake.startTurn(thread(i), turn);
        if (step % 3 !== 0) await fake.completeTurn(thread(i), turn);
        if (step % 10 === 9) await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await until("a third of the burst published", () => progress >= steps / 3, 20_000);
    const atDrop = await clawView(page);
    proxy.hold();
    proxy.cut();
    await expect.poll(() => page.getByTestId("conn-status").textContent(), { timeout: 5_000 }).not.toBe("live");
    await browser.screenshot(page, "reconnecting");
    // Held back for 1 s while the registry keeps changing.
    await new Promise((r) => setTimeout(r, 1_000));
    const whileAway = await kvView(stack);
    proxy.release();
    await burst;
    await until(
      "the registry done with the burst",
      async () => (await kvView(stack)).sessions.length === FIRST + LATER,
      20_000,
    );
    let settled = await kvView(stack);
    await until(
      "the registry quiet",
      async () => {
        await new Promise((r) => setTimeout(r, 300));
        const now = await kvView(stack);
        const quiet = JSON.stringify(now) === JSON.stringify(settled);
        settled = now;
        return quiet;
      },
      20_000,
    );
    // Changes happened while the page was away, after what it had.
    expect(whileAway.rev.sessions).toBeGreaterThan(atDrop.rev.sessions);
    expect(settled.rev.sessions).toBeGreaterThan(whileAway.rev.sessions);

    const resumed = await viewReaches(page, settled, "the reconnected page at the registry's view");
    expect(await page.getByTestId("conn-status").textContent()).toBe("live");
    expect(proxy.wsUpgrades, "the page opened a second WebSocket").toBeGreaterThan(upgradesBefore);
    expect(navigations, "the page reconnected without a reload").toBe(navigationsBefore);
    await browser.screenshot(page, "fleet-after-reconnect");

    const fresh = await browser.newPage();
    await fresh.goto(`${pageUrl}/#/fleet`);
    const loaded = await viewReaches(fresh, settled, "a fresh page at the registry's view");
    expect(await clawView(page)).toEqual(await clawView(fresh));
    expect(resumed).toEqual(loaded);
    expect(loaded.sessions).toHaveLength(FIRST + LATER);
    await fresh.close();
    await page.close();
  });
});
