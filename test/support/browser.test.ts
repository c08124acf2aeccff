/** The browser rig catches what a dashboard test must fail on: console errors, page errors and CSP violations. */
import { existsSync, rmSync, statSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { haveChromium, launchBrowser, NO_CHROMIUM, type TestBrowser } from "./browser.js";

const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; object-src 'none'";
const pages: Record<string, { type: string; body: string; status?: number }> = {
  "/clean": {
    type: "text/html",
    body: '<!doctype html><title>ok</title><script src="/ok.js"></script><p id="p">ok</p>',
  },
  "/ok.js": { type: "text/javascript", body: "document.title = 'ran';" },
  "/inline": { type: "text/html", body: "<!doctype html><title>x</title><script>document.title='inline ran'</script>" },
  "/throws": { type: "text/html", body: '<!doctype html><script src="/throw.js"></script>' },
  "/throw.js": { type: "text/javascript", body: "setTimeout(() => { throw new Error('boom 41c9'); });" },
  "/logs": { type: "text/html", body: '<!doctype html><script src="/log.js"></script>' },
  "/log.js": { type: "text/javascript", body: "console.error('logged 77ab');" },
  "/fetch401": { type: "text/html", body: '<!doctype html><script src="/f.js"></script>' },
  "/f.js": { type: "text/javascript", body: "fetch('/api/me').then(r => { document.title = String(r.status); });" },
  "/api/me": { type: "application/json", body: '{"ok":false}', status: 401 },
  // Chromium asks for it on every page: a 404 there is a console error like any other.
  "/favicon.ico": { type: "image/x-icon", body: "", status: 204 },
};

describe.skipIf(!haveChromium)("the browser test rig", () => {
  let server: http.Server;
  let base: string;
  let browser: TestBrowser;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const page = pages[req.url ?? ""];
      if (!page) return void res.writeHead(404).end();
      res.writeHead(page.status ?? 200, { "content-type": page.type, "content-security-policy": CSP }).end(page.body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchBrowser();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await new Promise((r) => server?.close(r));
  });

  it("sees no problem on a clean page, and saves its screenshot", async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/clean`);
    await expect.poll(() => page.title()).toBe("ran");
    const file = await browser.screenshot(page, "rig-clean");
    expect(statSync(file).size).toBeGreaterThan(100);
    rmSync(file);
    expect(() => browser.assertNoProblems()).not.toThrow();
  });

  it("fails on an inline script the CSP blocks", async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/inline`);
    await expect.poll(() => browser.problems.some((p) => p.kind === "csp")).toBe(true);
    expect(await page.title()).toBe("x");
    expect(() => browser.assertNoProblems()).toThrow(/\[csp\].*script-src/);
  });

  it("fails on an uncaught error and on console.error", async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/throws`);
    await expect.poll(() => browser.problems.map((p) => p.kind)).toContain("pageerror");
    await page.goto(`${base}/logs`);
    await expect.poll(() => browser.problems.map((p) => p.text).join()).toContain("logged 77ab");
    expect(() => browser.assertNoProblems()).toThrow(/boom 41c9[\s\S]*logged 77ab/);
  });

  it("fails on a 401 the page fetched, unless the test said it expects it", async () => {
    const page = await browser.newPage();
    await page.goto(`${base}/fetch401`);
    await expect.poll(() => page.title()).toBe("401");
    await expect.poll(() => browser.problems.length).toBeGreaterThan(0);
    expect(() => browser.assertNoProblems()).toThrow(/401/);
    browser.expectConsoleError({ text: /status of 401/, url: /\/api\/me$/ });
    await page.reload();
    await expect.poll(() => page.title()).toBe("401");
    await new Promise((r) => setTimeout(r, 200));
    expect(() => browser.assertNoProblems()).not.toThrow();
  });
});

describe.skipIf(haveChromium)("without chromium", () => {
  it("says why the browser tests skip", () => {
    expect(existsSync("/usr/bin/chromium")).toBe(false);
    expect(NO_CHROMIUM).toMatch(/apt-get install chromium/);
  });
});
