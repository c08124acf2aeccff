/**
 * Debian's Chromium, driven headless through playwright-core (never a browser a tool downloads), for the
 * dashboard's tests. Each launch gets a fresh user-data-dir (removed on close). Every page of the context is
 * watched: console errors, uncaught page errors, CSP violations (the `securitypolicyviolation` event) and
 * crashes are collected as problems; `useBrowser()` fails each test that left one. Screenshots go to
 * `test-results/dashboard/<name>.png` (gitignored) for a person to look at.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type BrowserContext, chromium, type ConsoleMessage, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll } from "vitest";

/** Where Debian's `chromium` package puts the browser; `.ci/run` installs it when missing. */
export const CHROMIUM_PATH = "/usr/bin/chromium";
/** True when {@link CHROMIUM_PATH} exists; the browser tests skip (saying so) only when it does not. */
export const haveChromium = existsSync(CHROMIUM_PATH);
/** Why a browser test file skipped, printed once by {@link useBrowser}. */
export const NO_CHROMIUM = `skipped: ${CHROMIUM_PATH} is missing (Debian's chromium package: apt-get install chromium; .ci/run installs it)`;
if (!haveChromium) console.warn(`browser tests ${NO_CHROMIUM}`);

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The folder screenshots are saved in. */
export const SCREENSHOT_DIR = path.join(repoRoot, "test-results", "dashboard");

/** The flags the brief fixes; playwright adds its own pipe and user-data-dir flags. */
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];

/** One thing that went wrong in a page. */
export interface PageProblem {
  kind: "console" | "pageerror" | "csp" | "crash";
  text: string;
  /** The page's URL, or for a console message the resource or script it names. */
  url: string;
}

/** A console error a test expects, matched on its text and the URL it names (both must match). */
export interface ExpectedConsoleError {
  text: RegExp;
  url: RegExp;
}

/** A launched Chromium with one persistent context; see the module comment. */
export interface TestBrowser {
  readonly context: BrowserContext;
  /** Problems seen since the last {@link TestBrowser.takeProblems}. */
  readonly problems: readonly PageProblem[];
  /** A new watched page (the context's first blank page is reused once). */
  newPage(): Promise<Page>;
  /** Lets one kind of console error pass until the end of the current test (e.g. a 401 the sign-in screen causes). */
  expectConsoleError(expected: ExpectedConsoleError): void;
  /** Returns and clears the problems, and clears the expected console errors. */
  takeProblems(): PageProblem[];
  /** Throws, listing them, when problems were collected (and clears them). */
  assertNoProblems(): void;
  /** Saves a full-page screenshot of `page` to test-results/dashboard/<name>.png; resolves with the path. */
  screenshot(page: Page, name: string): Promise<string>;
  /** Closes the browser and removes its user-data-dir. Idempotent. */
  close(): Promise<void>;
}

/** Launches Debian's Chromium with a fresh profile; throws (saying so) when it is not installed. */
export async function launchBrowser(viewport = { width: 1280, height: 800 }): Promise<TestBrowser> {
  if (!haveChromium) throw new Error(NO_CHROMIUM);
  const userDataDir = mkdtempSync(path.join(os.tmpdir(), "claw-chromium-"));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_FLAGS,
      viewport,
      timeout: 30_000,
    });
  } catch (err) {
    rmSync(userDataDir, { recursive: true, force: true });
    throw err;
  }
  let problems: PageProblem[] = [];
  let expected: ExpectedConsoleError[] = [];
  const watched = new WeakSet<Page>();

  await context.exposeBinding("__clawReportCsp", ({ page }, violation: unknown) => {
    problems.push({ kind: "csp", text: JSON.stringify(violation), url: page.url() });
  });
  // A string, not a function: this file is type-checked without the DOM library.
  await context.addInitScript(`document.addEventListener("securitypolicyviolation", (e) =>
    window.__clawReportCsp({ directive: e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile,
      line: e.lineNumber, sample: e.sample }));`);
  const onConsole = (msg: ConsoleMessage): void => {
    if (msg.type() !== "error") return;
    const text = msg.text();
    const url = msg.location().url || msg.page()?.url() || "";
    if (expected.some((e) => e.text.test(text) && e.url.test(url))) return;
    problems.push({ kind: "console", text, url });
  };
  const watch = (page: Page): Page => {
    if (watched.has(page)) return page;
    watched.add(page);
    page.on("console", onConsole);
    page.on("pageerror", (err) =>
      problems.push({ kind: "pageerror", text: err.stack ?? err.message, url: page.url() }),
    );
    page.on("crash", () => problems.push({ kind: "crash", text: "the page crashed", url: page.url() }));
    return page;
  };
  context.on("page", watch);
  let blank: Page | undefined = context.pages()[0];
  if (blank) watch(blank);
  let closing: Promise<void> | undefined;
  const takeProblems = (): PageProblem[] => {
    const out = problems;
    problems = [];
    expected = [];
    return out;
  };

  return {
    context,
    get problems() {
      return problems;
    },
    async newPage() {
      const reuse = blank;
      blank = undefined;
      return watch(reuse ?? (await context.newPage()));
    },
    expectConsoleError: (e) => void expected.push(e),
    takeProblems,
    assertNoProblems() {
      const out = takeProblems();
      if (out.length > 0)
        throw new Error(
          `the page had ${out.length} problem(s):\n${out.map((p) => `  [${p.kind}] ${p.text} (${p.url})`).join("\n")}`,
        );
    },
    async screenshot(page, name) {
      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      const file = path.join(SCREENSHOT_DIR, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    close: () =>
      (closing ??= (async () => {
        await context.close().catch(() => undefined);
        rmSync(userDataDir, { recursive: true, force: true });
      })()),
  };
}

/**
 * A browser for the enclosing suite: launched before its tests, closed after them; after each test its
 * problems are checked, so a console error, page error or CSP violation fails the test that caused it.
 */
export function useBrowser(viewport?: { width: number; height: number }): TestBrowser {
  let browser: TestBrowser | undefined;
  beforeAll(async () => {
    if (haveChromium) browser = await launchBrowser(viewport);
  }, 60_000);
  afterEach(() => browser?.assertNoProblems());
  afterAll(() => browser?.close(), 30_000);
  return new Proxy({} as TestBrowser, {
    get(_target, key) {
      if (browser === undefined) throw new Error(`the browser is not launched (reading ${String(key)})`);
      const value = Reflect.get(browser, key, browser) as unknown;
      return typeof value === "function" ? value.bind(browser) : value;
    },
  });
}
