/**
 * The dashboard's doors, every part real (nats-server, registry, policy service, the dashboard server, the built
 * page in Debian's Chromium, operators added with the built CLI): without a session cookie the page shows
 * sign-in and the API and WebSocket refuse; a WebSocket from another Origin is refused even with a good cookie;
 * the cookie without the session's key (what another server on another port of 127.0.0.1 receives) is refused;
 * a viewer sees no controls, and its control request sent straight to the server is refused and audited; a
 * revoked operator's cookie stops working.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditRecord } from "../../schemas/audit.js";
import { listAllSessions } from "../../services/clients/registry-queries.js";
import { startPolicyService } from "../../services/policy/index.js";
import { haveChromium, useBrowser } from "../support/browser.js";
import {
  addOperator,
  sessionCookie,
  sessionKey,
  signIn,
  startTestDashboard,
  type TestDashboard,
  tryWebSocket,
  type WsOutcome,
} from "../support/dashboard.js";
import { startStack, type Stack } from "../support/stack.js";
import { until } from "../support/wait.js";

const HOST = "sec-host";
/** The one session: spawned on the real codex, so the viewer's page reads a real transcript. */
let THREAD: string;
let KEY: string;
/** Every control's test id: a viewer's page has none of them. */
const CONTROLS = [
  "send-text",
  "send-mode",
  "send-submit",
  "interrupt",
  "approve",
  "decline",
  "reply-text",
  "reply-submit",
  "mark-select",
];

let stack: Stack;
let dash: TestDashboard;
let origin: string;
const tokens: Record<string, string> = {};

/** A request sent straight to the server from Node (not the page), with the given cookie, key and the right Origin. */
const api = (path: string, init: { cookie?: string; key?: string; body?: unknown; origin?: string } = {}) =>
  fetch(`${dash.url}${path}`, {
    method: init.body === undefined ? "GET" : "POST",
    headers: {
      ...(init.cookie ? { cookie: init.cookie } : {}),
      ...(init.key ? { "x-claw-key": init.key } : {}),
      ...(init.body === undefined ? {} : { "content-type": "application/json", origin: init.origin ?? origin }),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
const markCommand = (key: string) => ({
  verb: "mark",
  args: { target: { hostId: HOST, sessionId: THREAD }, disposition: "blocked" },
  idempotencyKey: key,
});
/** Refused: the upgrade answered `status`, or the socket closed with `closeCode` before any snapshot. */
const expectRefused = (outcome: WsOutcome, status: number, closeCode: number): void => {
  if (outcome.kind === "refused") expect(outcome.status).toBe(status);
  else expect(outcome).toMatchObject({ kind: "closed", code: closeCode });
};

beforeAll(async () => {
  if (!haveChromium) return; // the suite skips, saying why (test/support/browser.ts)
  stack = await startStack({
    hostId: HOST,
    model: {},
    registry: { sweepIntervalMs: 60_000, degradedAfterMs: 60_000, offlineAfterMs: 60_000, staleAfterMs: 60_000 },
  });
  const policy = await startPolicyService({ nc: stack.nc, logger: stack.quiet });
  stack.defer(() => policy.stop());
  dash = await startTestDashboard(stack);
  origin = dash.url;
  await stack.startAgent();
  await stack.hostOnline();
  const spawned = await stack.cli(
    "spawn",
    "a task to look at",
    "--cwd",
    stack.server.workspace,
    "--host",
    HOST,
    "--json",
  );
  expect(spawned.code, spawned.stderr).toBe(0);
  THREAD = (JSON.parse(spawned.stdout) as { data: { sessionId: string } }).data.sessionId;
  KEY = `${HOST}.${THREAD}`;
  await until("the spawned session idle", async () =>
    (await listAllSessions(stack.nc, { host: HOST })).sessions.find(
      (s) => s.sessionId === THREAD && s.status === "idle",
    ),
  );
  for (const [name, role] of [
    ["alice", "operator"],
    ["vic", "viewer"],
    ["rita", "operator"],
  ] as const)
    tokens[name] = await addOperator(stack, name, role);
}, 90_000);

afterAll(() => stack?.stop());

describe.skipIf(!haveChromium)("the dashboard's doors", () => {
  const browser = useBrowser();

  it("without a session cookie: the page shows sign-in, /api/me and /api/command answer 401, the WebSocket is refused", async () => {
    const page = await browser.newPage();
    browser.expectConsoleError({ text: /status of 401/, url: /\/api\/me$/ });
    await page.goto(dash.url);
    await page.getByTestId("signin-token").waitFor();
    expect(await page.getByTestId("nav-fleet").count()).toBe(0);
    await browser.screenshot(page, "signin");

    const me = await api("/api/me");
    expect(me.status).toBe(401);
    expect(await me.json()).toMatchObject({ ok: false, code: "unauthenticated" });
    const command = await api("/api/command", { body: markCommand("no-cookie-1") });
    expect(command.status).toBe(401);
    expectRefused(await tryWebSocket(dash.url, { origin }), 401, 4401);
    // A forged cookie is no better than none.
    const forged = "claw_session=eyJ0b2tlbklkIjoiMDAwMDAwMDAwMDAwMDAwMCJ9.forged";
    expect((await api("/api/me", { cookie: forged })).status).toBe(401);
    expectRefused(await tryWebSocket(dash.url, { origin, cookie: forged }), 401, 4401);
    // Nothing was marked by the refused command.
    const s = (await listAllSessions(stack.nc, { host: HOST })).sessions.find((x) => x.sessionId === THREAD);
    expect(s?.disposition).toBeNull();
  });

  it("a WebSocket from another Origin is refused, though its cookie is good (the same cookie from the right Origin gets the snapshot)", async () => {
    await browser.context.clearCookies();
    const page = await browser.newPage();
    await signIn(browser, page, dash.url, tokens.alice as string);
    const cookie = await sessionCookie(browser, dash.url);
    const key = await sessionKey(browser, dash.url);
    expect(await tryWebSocket(dash.url, { origin, cookie }, { key })).toMatchObject({ kind: "snapshot" });
    // The cookie alone (what a server on another port of 127.0.0.1 gets from the browser) is refused.
    expectRefused(await tryWebSocket(dash.url, { origin, cookie }), 401, 4401);
    expect((await api("/api/me", { cookie })).status).toBe(401);
    expect((await api("/api/me", { cookie, key })).status).toBe(200);
    expectRefused(await tryWebSocket(dash.url, { origin: "http://evil.example", cookie }), 403, 4403);
    expectRefused(await tryWebSocket(dash.url, { origin: "http://127.0.0.1:1", cookie }), 403, 4403);
    expectRefused(await tryWebSocket(dash.url, { cookie }), 403, 4403);
    // And a control request from another Origin is refused too.
    const cross = await api("/api/command", {
      cookie,
      body: markCommand("cross-origin-1"),
      origin: "http://evil.example",
    });
    expect(cross.status).toBe(403);
    await page.close();
  });

  it("a viewer sees no controls; its control request sent straight to the server is refused (403) and audited", async () => {
    await browser.context.clearCookies();
    const page = await browser.newPage();
    await signIn(browser, page, dash.url, tokens.vic as string);
    await page.goto(`${dash.url}/#/fleet`);
    await page.locator(`[data-testid="fleet-row"][data-key="${KEY}"]`).waitFor();
    await page.goto(`${dash.url}/#/session/${KEY}`);
    await page.locator(`[data-testid="session-view"][data-key="${KEY}"]`).waitFor();
    await page.getByTestId("transcript-item").first().waitFor({ timeout: 10_000 });
    await browser.screenshot(page, "viewer-session");
    for (const id of CONTROLS) expect(await page.getByTestId(id).count(), `viewer sees ${id}`).toBe(0);
    await page.goto(`${dash.url}/#/`);
    await page.getByTestId("nav-attention").waitFor();
    for (const id of CONTROLS) expect(await page.getByTestId(id).count(), `viewer sees ${id} in attention`).toBe(0);

    const cookie = await sessionCookie(browser, dash.url);
    const key = await sessionKey(browser, dash.url);
    const me = await api("/api/me", { cookie, key });
    expect(await me.json()).toEqual({ ok: true, data: { name: "vic", role: "viewer" } });
    const refused = await api("/api/command", { cookie, key, body: markCommand("viewer-mark-1") });
    expect(refused.status).toBe(403);
    expect(await refused.json()).toMatchObject({ ok: false, code: "denied" });
    const denied = await until("the viewer's refusal in the audit trail", async () => {
      const out = await stack.cli("audit", "--caller", "vic", "--json");
      const records = (JSON.parse(out.stdout) as { data: AuditRecord[] }).data;
      return records.find((r) => r.kind === "decision" && r.verb === "mark" && r.decision?.allow === false);
    });
    expect(denied).toMatchObject({
      caller: { role: "viewer", id: "vic" },
      target: { sessionId: THREAD },
      decision: { allow: false, code: "denied" },
    });
    const s = (await listAllSessions(stack.nc, { host: HOST })).sessions.find((x) => x.sessionId === THREAD);
    expect(s?.disposition).toBeNull();
    await page.close();
  });

  it("a revoked operator's cookie stops working: the API answers 401 and a reload shows sign-in", async () => {
    await browser.context.clearCookies();
    const page = await browser.newPage();
    await signIn(browser, page, dash.url, tokens.rita as string);
    const cookie = await sessionCookie(browser, dash.url);
    const key = await sessionKey(browser, dash.url);
    expect((await api("/api/me", { cookie, key })).status).toBe(200);
    const revoked = await stack.cli("operator", "revoke", "rita", "--json");
    expect(revoked.code, revoked.stderr).toBe(0);
    // The server caches a token's status for 5 s.
    await until(
      "the revoked cookie refused",
      async () => (await api("/api/me", { cookie, key })).status === 401,
      10_000,
    );
    expectRefused(await tryWebSocket(dash.url, { origin, cookie }, { key }), 401, 4401);
    expect((await api("/api/command", { cookie, key, body: markCommand("revoked-1") })).status).toBe(401);
    browser.expectConsoleError({ text: /status of 401/, url: /\/api\/me$/ });
    await page.reload();
    await page
      .getByTestId("signin-token")
      .waitFor()
      .catch(async (err: Error) => {
        // Seen once in CI under load (not reproduced since): say what the page showed and what /api/me answers now.
        await browser.screenshot(page, "revoked-reload-stuck");
        const shown = await page
          .locator("body")
          .textContent({ timeout: 2_000 })
          .then((t) => t ?? "")
          .catch(() => "(unreadable)");
        const me = await api("/api/me", { cookie, key });
        throw new Error(`${err.message}\nthe page shows: ${shown.slice(0, 300)}\n/api/me answers ${me.status}`);
      });
    // And its token no longer signs in.
    await page.getByTestId("signin-token").fill(tokens.rita as string);
    browser.expectConsoleError({ text: /status of 401/, url: /\/api\/signin$/ });
    await page.getByTestId("signin-submit").click();
    await expect.poll(() => page.getByTestId("signin-token").count()).toBe(1);
    await page.waitForTimeout(300);
    expect(await page.getByTestId("conn-status").count()).toBe(0);
    await page.close();
  });
});
