/**
 * The dashboard on a test stack, as its browser tests use it: the server started in-process on a free port
 * (startDashboard, serving the built page from dist/dashboard/web), operators added with the built CLI
 * (`claw-supervisor operator add`, as a person does), signing in through the page, and the page's test hooks.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { expect } from "vitest";
import WebSocket from "ws";
import { startDashboard } from "../../services/dashboard/server/index.js";
import type { TestBrowser } from "./browser.js";
import type { Stack } from "./stack.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
/** Where `npm run build` puts the page. */
export const WEB_DIR = path.join(repoRoot, "dist", "dashboard", "web");

/** A dashboard server started for a test; stopped with the stack. */
export interface TestDashboard {
  /** `http://127.0.0.1:<port>`: also the Origin the server accepts. */
  url: string;
  stop(): Promise<void>;
}

/** Starts the dashboard server on the stack's bus (port 0), stopped with the stack; `extra` goes to startDashboard. */
export async function startTestDashboard(
  stack: Stack,
  extra: Partial<Parameters<typeof startDashboard>[0]> = {},
): Promise<TestDashboard> {
  if (!existsSync(path.join(WEB_DIR, "index.html")))
    throw new Error(`${WEB_DIR}/index.html is missing: run 'npm run build' first`);
  const dashboard = await startDashboard({
    nc: stack.nc,
    host: "127.0.0.1",
    port: 0,
    cookieSecret: randomBytes(32).toString("base64url"),
    webDir: WEB_DIR,
    logger: stack.quiet,
    ...extra,
  });
  stack.defer(() => dashboard.stop());
  return dashboard;
}

/** The operator token `claw-supervisor operator add` printed (once). */
export const OPERATOR_TOKEN = /cso_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/;

/** `claw-supervisor operator add <name> --role <role> --json` with the built CLI; resolves with the token it printed. */
export async function addOperator(stack: Stack, name: string, role: "operator" | "viewer"): Promise<string> {
  const out = await stack.cli("operator", "add", name, "--role", role, "--json");
  expect(out.code, `operator add: ${out.stderr}${out.stdout}`).toBe(0);
  const token = OPERATOR_TOKEN.exec(out.stdout)?.[0];
  expect(token, `no token in operator add's output:\n${out.stdout}`).toBeDefined();
  return token as string;
}

/**
 * Opens the dashboard signed out, checks the sign-in screen, signs in with `token` and waits for the live feed.
 * The sign-in screen is what `GET /api/me` answering 401 shows, and Chromium logs that 401 as a console error:
 * the one console error this allows, for the current test only.
 */
export async function signIn(browser: TestBrowser, page: Page, url: string, token: string): Promise<void> {
  browser.expectConsoleError({ text: /status of 401/, url: /\/api\/me$/ });
  await page.goto(url);
  await page.getByTestId("signin-token").fill(token);
  await page.getByTestId("signin-submit").click();
  await expect.poll(() => page.getByTestId("conn-status").textContent(), { timeout: 10_000 }).toBe("live");
}

/** The page's canonical view (`window.__clawView()`): its revision and every session's and host's revision. */
export interface ClawView {
  rev: { sessions: number; hosts: number };
  sessions: [string, number][];
  hosts: [string, number][];
}

/** Reads `window.__clawView()` from the page. */
export function clawView(page: Page): Promise<ClawView> {
  return page.evaluate("window.__clawView()") as Promise<ClawView>;
}

/** The `claw_session` cookie of the browser, as a `Cookie` header value, for requests sent straight to the server. */
export async function sessionCookie(browser: TestBrowser, url: string): Promise<string> {
  const cookie = (await browser.context.cookies(url)).find((c) => c.name === "claw_session");
  expect(cookie, "no claw_session cookie after signing in").toBeDefined();
  return `claw_session=${cookie?.value}`;
}

/** The session key the page keeps in its origin's localStorage (`claw-key`), to send as `X-Claw-Key` from Node. */
export async function sessionKey(browser: TestBrowser, url: string): Promise<string> {
  const origin = new URL(url).origin;
  const state = await browser.context.storageState();
  const key = state.origins.find((o) => o.origin === origin)?.localStorage.find((e) => e.name === "claw-key")?.value;
  expect(key, `no claw-key in ${origin}'s localStorage after signing in`).toBeDefined();
  return key as string;
}

/** How a WebSocket to `/ws` went: refused before the upgrade, closed (with the frames it got first), or fed. */
export type WsOutcome =
  | { kind: "refused"; status: number }
  | { kind: "closed"; code: number; messages: { type: string }[] }
  | { kind: "snapshot"; message: { type: "snapshot" } }
  | { kind: "error"; message: string };

/**
 * Opens `/ws` of `url` from Node with the given headers (an Origin, a Cookie), says hello (with the session `key`
 * when given), and reports the first thing that happens: the upgrade refused, the socket closed, or a snapshot.
 * Closes it in every case.
 */
export function tryWebSocket(
  url: string,
  headers: Record<string, string>,
  o: { key?: string; timeoutMs?: number } = {},
): Promise<WsOutcome> {
  const timeoutMs = o.timeoutMs ?? 5_000;
  const ws = new WebSocket(`${url.replace(/^http/, "ws")}/ws`, { headers });
  const messages: { type: string }[] = [];
  return new Promise<WsOutcome>((resolve) => {
    const done = (outcome: WsOutcome): void => {
      clearTimeout(timer);
      ws.removeAllListeners();
      ws.on("error", () => undefined);
      ws.terminate();
      resolve(outcome);
    };
    const timer = setTimeout(() => done({ kind: "error", message: `nothing within ${timeoutMs} ms` }), timeoutMs);
    ws.on("unexpected-response", (_req, res) => done({ kind: "refused", status: res.statusCode ?? 0 }));
    ws.on("open", () =>
      ws.send(JSON.stringify({ type: "hello", since: null, ...(o.key === undefined ? {} : { key: o.key }) })),
    );
    ws.on("message", (data) => {
      const message = JSON.parse(String(data)) as { type: string };
      messages.push(message);
      if (message.type === "snapshot") done({ kind: "snapshot", message: message as { type: "snapshot" } });
    });
    ws.on("close", (code) => done({ kind: "closed", code, messages }));
    ws.on("error", (err) => done({ kind: "error", message: err.message }));
  });
}
