/**
 * The page side of bench/dashboard.ts: Debian's Chromium through playwright-core (never a downloaded browser),
 * headless with a fresh profile, signed in by its session cookie, on `/?metrics=1#/fleet`. Reads the page's
 * own hooks (`window.__clawMetrics`: first render and change-to-screen latencies; `window.__clawView()`),
 * long tasks from a PerformanceObserver installed before the page's scripts, and the JS heap over CDP.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { type BrowserContext, type CDPSession, chromium, type Page } from "playwright-core";

/** Debian's chromium package. */
export const CHROMIUM_PATH = "/usr/bin/chromium";
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];

/** One long task the page's main thread ran (performance.now() ms). */
export interface LongTask {
  startMs: number;
  durationMs: number;
}

/** The page's JS heap (CDP Runtime.getHeapUsage), bytes. */
export interface Heap {
  usedBytes: number;
  totalBytes: number;
}

/** The fleet page, open and first rendered. */
export interface FleetPage {
  page: Page;
  /** The Chromium profile dir (names every Chromium process of this run). */
  userDataDir: string;
  /** Console errors and page errors seen so far. */
  problems: string[];
  /** `__clawMetrics.firstRenderAtMs`: ms from navigation to the first paint of the snapshot's rows. */
  firstRenderAtMs: number;
  /** Keys of the fleet rows inside the viewport now. */
  onScreenKeys(): Promise<string[]>;
  /** Change-to-screen latencies so far (ms, in the order the page recorded them). */
  changeToScreen(): Promise<number[]>;
  /** Long tasks so far. */
  longTasks(): Promise<LongTask[]>;
  /** The JS heap; after a full GC when `gc`. */
  heap(gc?: boolean): Promise<Heap>;
  /** `__clawView()`'s sessions: [key, revision] sorted. */
  viewSessions(): Promise<[string, number][]>;
  /** Starts the page's CPU profiler (CDP Profiler). */
  startProfile(): Promise<void>;
  /** Stops it and writes the profile (a .cpuprofile for DevTools) to `file`. */
  stopProfile(file: string): Promise<void>;
  close(): Promise<void>;
}

/** Installed before the page's scripts (a string: the bench compiles without the DOM lib): every long task. */
const OBSERVE_LONG_TASKS = `
  window.__benchLongTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__benchLongTasks.push({ startMs: e.startTime, durationMs: e.duration });
  }).observe({ type: "longtask", buffered: true });`;

/** Keys of the fleet rows whose box meets the viewport (evaluated in the page). */
const ON_SCREEN_KEYS = `[...document.querySelectorAll('[data-testid="fleet-row"]')]
  .filter((el) => { const r = el.getBoundingClientRect(); return r.height > 0 && r.bottom > 0 && r.top < window.innerHeight; })
  .map((el) => el.dataset.key ?? "")`;

/**
 * Launches Chromium, sets the session cookie and the session's key (the page's localStorage `claw-key`), opens the
 * fleet with metrics on and waits for its first render.
 */
export async function openFleetPage(
  url: string,
  cookie: { name: string; value: string; key: string },
): Promise<FleetPage> {
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), "claw-bench-chromium-"));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport: { width: 1280, height: 800 },
      timeout: 30_000,
    });
    await context.addCookies([{ name: cookie.name, value: cookie.value, url, httpOnly: true, sameSite: "Strict" }]);
    // Every document runs it; one without storage (about:blank) throws, which does not matter.
    const setKey = `try { localStorage.setItem("claw-key", ${JSON.stringify(cookie.key)}); } catch {}`;
    await context.addInitScript({ content: setKey });
    await context.addInitScript({ content: OBSERVE_LONG_TASKS });
    const page = context.pages()[0] ?? (await context.newPage());
    const problems: string[] = [];
    page.on("console", (m) => void (m.type() === "error" && problems.push(`console: ${m.text()}`)));
    page.on("pageerror", (e) => void problems.push(`pageerror: ${e.message}`));
    page.on("crash", () => void problems.push("the page crashed"));
    await page.goto(`${url}/?metrics=1#/fleet`);
    // A function, not a string: a string predicate is eval'd in the page, which its CSP forbids.
    await page.waitForFunction(
      () =>
        typeof (globalThis as { __clawMetrics?: { firstRenderAtMs?: unknown } }).__clawMetrics?.firstRenderAtMs ===
        "number",
      undefined,
      { timeout: 120_000, polling: 100 },
    );
    const firstRenderAtMs = (await page.evaluate("window.__clawMetrics.firstRenderAtMs")) as number;
    const cdp: CDPSession = await context.newCDPSession(page);
    const ctx = context;
    return {
      page,
      userDataDir,
      problems,
      firstRenderAtMs,
      onScreenKeys: () => page.evaluate(ON_SCREEN_KEYS) as Promise<string[]>,
      changeToScreen: () => page.evaluate("window.__clawMetrics.changeToScreen.slice()") as Promise<number[]>,
      longTasks: () => page.evaluate("window.__benchLongTasks.slice()") as Promise<LongTask[]>,
      async heap(gc = false) {
        if (gc) await cdp.send("HeapProfiler.collectGarbage");
        const h = await cdp.send("Runtime.getHeapUsage");
        return { usedBytes: h.usedSize, totalBytes: h.totalSize };
      },
      viewSessions: async () =>
        ((await page.evaluate("window.__clawView()")) as { sessions: [string, number][] }).sessions,
      async startProfile() {
        await cdp.send("Profiler.enable");
        await cdp.send("Profiler.start");
      },
      async stopProfile(file) {
        const { profile } = await cdp.send("Profiler.stop");
        writeFileSync(file, JSON.stringify(profile));
      },
      async close() {
        await ctx.close().catch(() => undefined);
        rmSync(userDataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await context?.close().catch(() => undefined);
    rmSync(userDataDir, { recursive: true, force: true });
    throw err;
  }
}
