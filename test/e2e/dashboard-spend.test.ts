/**
 * Spend and budgets in the dashboard (issue 19), every part real but the sessions' spend: nats-server, the
 * registry, the policy service, the dashboard server and the built page in Debian's Chromium. One session comes
 * through the registry from events a host agent publishes (services/registry/test-fleet.ts) and has no usage; three
 * are written into the registry's `codex-sessions` view as the registry writes a priced record (a session entry
 * with `usage` priced and, for one, a budget stop), so the page is tested apart from the metering. The fleet's cost
 * cell shows dollars (tokens on hover), tokens with a `?` naming the missing price, a budget stop, and `-`; a
 * change of usage shows without a reload; the session view shows model, tokens, cost, today's and the budget's
 * state; the attention queue lists the stopped session; a `budget-stopped` notice shows in the notices feed.
 */
import { jetstream } from "@nats-io/jetstream";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type BudgetState, type SessionUsage, utcDay } from "../../schemas/budget.js";
import { type FleetEvent, fleetPriorityOf } from "../../schemas/fleet.js";
import type { SessionEntry } from "../../schemas/registry-entry.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { KV_BUCKET_NAMES, openKvBucket, subjects } from "../../services/bus/index.js";
import { startPolicyService } from "../../services/policy/index.js";
import { FakeHost } from "../../services/registry/test-fleet.js";
import { sessionRecord } from "../../services/registry/test-records.js";
import { haveChromium, type TestBrowser, useBrowser } from "../support/browser.js";
import { addOperator, signIn, startTestDashboard, type TestDashboard } from "../support/dashboard.js";
import { startStack, type Stack } from "../support/stack.js";

const HOST = "spend-host";
const PRICED = "019b0000-0000-7000-8000-0000000000a1";
const UNPRICED = "019b0000-0000-7000-8000-0000000000b2";
const STOPPED = "019b0000-0000-7000-8000-0000000000c3";
const UNUSED = "019b0000-0000-7000-8000-0000000000d4";
const key = (thread: string) => `${HOST}.${thread}`;
const REASON = "used 61,000 of 50,000 tokens today (limit auto-day)";

let stack: Stack;
let dash: TestDashboard;
let token: string;
let fake: FakeHost;
const today = utcDay(Date.now());

const tokens = (input: number, cachedInput: number, output: number, reasoning = 0) => ({
  input,
  cachedInput,
  output,
  reasoning,
  total: input + output,
});
/** gpt-5 at $1.25 in, $0.125 cached, $10 out per million: what the registry writes for these tokens. */
const pricedUsage = (scale = 1): SessionUsage => ({
  model: "gpt-5",
  tokens: tokens(10_000 * scale, 2_000 * scale, 2_345 * scale, 300 * scale),
  costUsd: 0.0123 * scale,
  priced: true,
  days: { [today]: { tokens: tokens(2_000 * scale, 0, 1_400 * scale), costUsd: 0.01 * scale } },
});
const stop: BudgetState = {
  state: "stopped",
  id: `auto-day:${today}:${key(STOPPED)}`,
  limitId: "auto-day",
  periodKey: today,
  reason: REASON,
  by: "policy",
  atMs: Date.now() - 30_000,
  lifted: [],
};

/** Writes `record` into `codex-sessions` as a registry session entry (the value every reader parses). */
async function writeRecord(over: Partial<SessionRecord> & Pick<SessionRecord, "sessionId">): Promise<void> {
  const record = sessionRecord({ host: HOST, workspace: `/work/${over.sessionId}`, lastSeenAt: Date.now(), ...over });
  const entry: SessionEntry = {
    v: 1,
    hostId: HOST,
    threadId: record.sessionId,
    record,
    snapshot: null,
    applied: { epoch: "e2e-spend", seq: 1 },
  };
  const kv = await openKvBucket(stack.nc, KV_BUCKET_NAMES.sessions, { mustExist: true });
  await kv.put(key(record.sessionId), JSON.stringify(entry));
}

const stoppedRecord = (): SessionRecord =>
  sessionRecord({
    host: HOST,
    sessionId: STOPPED,
    workspace: `/work/${STOPPED}`,
    lastSeenAt: Date.now(),
    autonomous: true,
    model: "gpt-5",
    usage: pricedUsage(5),
    budget: stop,
    disposition: "blocked",
    summary: "migrating the billing tables",
  });

/** The session view reads the transcript; the fake host has no app-server, so `read` is refused (503). */
const allowTranscriptRefusal = (browser: TestBrowser) =>
  browser.expectConsoleError({ text: /status of 503/, url: /\/api\/command$/ });
const costCell = (page: Page, thread: string) =>
  page.locator(`[data-testid="fleet-row"][data-key="${key(thread)}"]`).getByTestId("fleet-cost");
const openSession = async (page: Page, thread: string) => {
  await page.evaluate(`location.hash = ${JSON.stringify(`#/session/${key(thread)}`)}`);
  await page.locator(`[data-testid="session-view"][data-key="${key(thread)}"]`).waitFor();
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
  token = await addOperator(stack, "penny", "operator");
  fake = new FakeHost({ nc: stack.nc, js: jetstream(stack.nc) }, HOST);
  fake.nowMs = Date.now();
  await fake.synced(UNUSED, { repo: "app", preview: "nothing spent yet" });
  await writeRecord({ sessionId: PRICED, repo: "app", model: "gpt-5", usage: pricedUsage(), autonomous: true });
  await writeRecord({
    sessionId: UNPRICED,
    repo: "web",
    model: "mystery-1",
    usage: { ...pricedUsage(), model: "mystery-1", costUsd: null, priced: false, days: {} },
  });
  await writeRecord(stoppedRecord());
}, 90_000);

afterAll(() => stack?.stop());

describe.skipIf(!haveChromium)("spend and budgets in the dashboard", () => {
  const browser = useBrowser();
  let page: Page;
  beforeEach(() => allowTranscriptRefusal(browser));

  it("the fleet shows each session's cost: dollars, tokens with a '?' for no price, a budget stop, '-'", async () => {
    page = await browser.newPage();
    await signIn(browser, page, dash.url, token);
    await page.getByTestId("nav-fleet").click();
    for (const t of [PRICED, UNPRICED, STOPPED, UNUSED]) await costCell(page, t).waitFor({ timeout: 10_000 });

    const priced = costCell(page, PRICED);
    expect(await priced.getAttribute("data-cost")).toBe("priced");
    expect(await priced.locator(".main").textContent()).toBe("$0.0123");
    expect(await priced.locator(".sub").textContent()).toBe("12.3k tok");
    const title = await priced.getAttribute("title");
    expect(title).toContain("12,345 tokens: 10,000 in (2,000 cached), 2,345 out (300 reasoning)");
    expect(title).toContain("today: 3,400 tokens · $0.0100");

    const unpriced = costCell(page, UNPRICED);
    expect(await unpriced.getAttribute("data-cost")).toBe("unpriced");
    expect(await unpriced.locator(".main").textContent()).toBe("12.3k tok ?");
    expect(await unpriced.locator("abbr.flag").getAttribute("title")).toBe("no price for mystery-1");
    expect(await unpriced.locator(".sub").textContent()).toBe("no price for mystery-1");

    const stopped = costCell(page, STOPPED);
    expect(await stopped.getAttribute("data-budget")).toBe("stopped");
    expect(await stopped.locator(".main").textContent()).toBe("$0.0615");
    expect(await stopped.locator(".sub").textContent()).toBe("stopped by budget");
    expect(await stopped.getAttribute("title")).toContain(`stopped by budget auto-day (day ${today}): ${REASON}`);

    expect(await costCell(page, UNUSED).getAttribute("data-cost")).toBe("none");
    expect(await costCell(page, UNUSED).locator(".main").textContent()).toBe("-");
    await browser.screenshot(page, "spend-fleet");

    // More usage: the cell follows without a reload.
    let loads = 0;
    page.on("load", () => loads++);
    await writeRecord({ sessionId: PRICED, repo: "app", model: "gpt-5", usage: pricedUsage(4), autonomous: true });
    await expect.poll(() => priced.locator(".main").textContent(), { timeout: 10_000 }).toBe("$0.0492");
    expect(await priced.locator(".sub").textContent()).toBe("49.4k tok");
    expect(loads).toBe(0);
  });

  it("the session view shows model, tokens, cost and today's; a stopped one its budget and how to lift it", async () => {
    await openSession(page, PRICED);
    expect(await page.getByTestId("session-model").textContent()).toBe("gpt-5");
    expect(await page.getByTestId("session-tokens").textContent()).toBe(
      "49,380 tokens: 40,000 in (8,000 cached), 9,380 out (1,200 reasoning)",
    );
    expect(await page.getByTestId("session-cost").textContent()).toBe("$0.0492");
    expect(await page.getByTestId("session-today").textContent()).toBe("13,600 tokens · $0.0400");
    expect(await page.getByTestId("session-budget").count()).toBe(0);
    await browser.screenshot(page, "spend-session");

    await openSession(page, UNPRICED);
    expect(await page.getByTestId("session-cost").textContent()).toBe("? no price for mystery-1");
    expect(await page.getByTestId("session-today").textContent()).toBe("nothing yet");

    await openSession(page, STOPPED);
    const budget = page.getByTestId("session-budget");
    expect(await budget.getAttribute("data-state")).toBe("stopped");
    const text = await budget.textContent();
    expect(text).toContain(`stopped by budget auto-day (day ${today}): ${REASON} · by policy`);
    expect(await page.getByTestId("budget-lift-command").textContent()).toMatch(
      new RegExp(`^claw-supervisor budget lift ${HOST}/\\S+$`),
    );
    await browser.screenshot(page, "spend-session-stopped");

    await openSession(page, UNUSED);
    expect(await page.getByTestId("session-tokens").textContent()).toBe("none reported yet");
    expect(await page.getByTestId("session-cost").textContent()).toBe("-");
  });

  it("the attention queue lists the stopped session with its budget's reason", async () => {
    await page.getByTestId("nav-attention").click();
    const entry = page
      .locator(`[data-testid="attention-row"][data-key="${key(STOPPED)}"]`)
      .and(page.locator('[data-needs="budget"]'));
    await entry.waitFor({ timeout: 10_000 });
    expect(await entry.locator('li[data-need="budget"]').textContent()).toBe(
      `stopped by a budget limit auto-day (${today}): ${REASON}`,
    );
    // Nothing else here needs a person.
    expect(await page.locator('[data-testid="attention-row"][data-section="needs"]').count()).toBe(1);
    await browser.screenshot(page, "spend-attention");
  });

  it("a budget-stopped notice shows in the notices feed, kept by the budget filter", async () => {
    await page.getByTestId("nav-notices").click();
    await page.getByTestId("notices-count").waitFor();
    // As the registry publishes it when the record's budget turns `stopped`.
    const notice: FleetEvent = {
      id: `budget-stopped-${STOPPED}-e2e`,
      kind: "budget-stopped",
      priority: fleetPriorityOf["budget-stopped"],
      hostId: HOST,
      sessionId: STOPPED,
      atMs: Date.now(),
      previousStatus: "active",
      session: stoppedRecord(),
      host: null,
    };
    await jetstream(stack.nc).publish(subjects.fleet(notice.kind), JSON.stringify(notice), { msgID: notice.id });
    // And one that is not about a budget: the filter leaves it out.
    await fake.status(UNUSED, { type: "active", activeFlags: [] });
    await fake.status(UNUSED, { type: "idle" });

    const row = page.locator('[data-testid="notice-row"][data-kind="budget-stopped"]');
    await row.waitFor({ timeout: 10_000 });
    expect(await row.getAttribute("data-key")).toBe(key(STOPPED));
    expect(await row.getAttribute("data-priority")).toBe("high");
    expect(await row.textContent()).toContain(`stopped by a budget: ${REASON}: migrating the billing tables`);
    await page.locator('[data-testid="notice-row"][data-kind="session-idle"]').waitFor({ timeout: 10_000 });
    await browser.screenshot(page, "spend-notices");

    await page.getByTestId("notices-filter").selectOption("budget");
    await expect.poll(() => page.getByTestId("notice-row").count()).toBe(1);
    await row.getByRole("link", { name: "open session" }).click();
    await page.getByTestId("session-budget").waitFor();
  });
});
