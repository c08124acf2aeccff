/**
 * The dashboard end to end, every part real: nats-server, gateway, registry, policy service, a host agent on a
 * real codex app-server talking to the fake model, a person's TUI started through `claw-supervisor launch` under
 * tmux, the dashboard server and the built page in Debian's Chromium, an operator added with the built CLI.
 * Signing in works; the TUI's session shows in the fleet within 2 s; a slow turn shows active then idle without
 * a reload; text sent from the session view shows on the TUI; interrupt ends a turn; an autonomous session's held
 * approval shows in the attention queue, and approving it there lets its command run.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditRecord } from "../../schemas/audit.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { listAllSessions } from "../../services/clients/registry-queries.js";
import { startPolicyService, type PolicyService } from "../../services/policy/index.js";
import { haveChromium, useBrowser } from "../support/browser.js";
import { TUI_READY } from "../support/codex-harness.js";
import { addOperator, signIn, startTestDashboard, type TestDashboard } from "../support/dashboard.js";
import { functionCallOutputs, SLOW, userTexts } from "../support/fake-model.js";
import { startStack, type Stack } from "../support/stack.js";
import type { TmuxSession } from "../support/tmux.js";
import { untilWith } from "../support/wait.js";

const HOST = "dash-host";
const ANSWER = "Hello from the fake model.";
/** Marker for a turn long enough to interrupt (15 s of streaming). */
const LONG = "[long]";
const OPERATOR = "olga";

let stack: Stack;
let policy: PolicyService | undefined;
let dash: TestDashboard;
let token: string;
const until = untilWith({ timeoutMs: 20_000 });

const session = async (id: string, pred: (s: SessionRecord) => boolean = () => true) => {
  const s = (await listAllSessions(stack.nc, { host: HOST })).sessions.find((x) => x.sessionId === id);
  return s && pred(s) ? s : undefined;
};
const row = (page: Page, testId: string, key: string) => page.locator(`[data-testid="${testId}"][data-key="${key}"]`);

beforeAll(async () => {
  if (!haveChromium) return; // the suite skips, saying why (test/support/browser.ts)
  stack = await startStack({
    hostId: HOST,
    model: {
      route: (r) => {
        if (functionCallOutputs(r).length > 0) return { kind: "text", text: "The command finished." };
        const cmd = /run-a-command cmd=([^\s"\\]+)/.exec(JSON.stringify(r))?.[1]?.replaceAll("_", " ");
        if (cmd)
          return {
            kind: "functionCall",
            name: "exec_command",
            arguments: { cmd, sandbox_permissions: "require_escalated", justification: "the test asks for it" },
          };
        const last = userTexts(r).at(-1) ?? "";
        if (last.includes(LONG)) return { kind: "slow", text: "a very long answer", chunks: 60, delayMs: 250 };
        if (last.includes(SLOW)) return { kind: "slow", text: "working on it slowly", chunks: 12, delayMs: 250 };
        return { kind: "text", text: ANSWER };
      },
    },
  });
  policy = await startPolicyService({ nc: stack.nc, logger: stack.quiet });
  stack.defer(() => policy?.stop());
  await stack.startAgent({ presencePollMs: 200 });
  await stack.hostOnline();
  // An ask rule: an autonomous session's `echo dash-approve ...` waits for a person's answer.
  const current = (
    JSON.parse((await stack.cli("policy", "get", "--json")).stdout) as {
      data: { inForce: { document: Record<string, unknown> } };
    }
  ).data.inForce.document;
  const file = path.join(stack.stateDir, "policy-ask.json");
  writeFileSync(
    file,
    JSON.stringify({
      ...current,
      approvals: [{ id: "ask-dash", target: { host: HOST }, ask: { commandPrefixes: ["echo dash-approve"] } }],
    }),
  );
  const set = await stack.cli("policy", "set", file);
  expect(set.code, set.stderr).toBe(0);
  await until("the ask policy in force", () => policy?.policyRevision() !== null);
  dash = await startTestDashboard(stack);
  token = await addOperator(stack, OPERATOR, "operator");
}, 90_000);

afterAll(() => stack?.stop());

describe.skipIf(!haveChromium)("the dashboard on the real stack", () => {
  const browser = useBrowser();
  let page: Page;
  let tui: TmuxSession;
  let key: string;
  let threadId: string;
  let navigations = 0;

  it("signs in, and the TUI's session appears in the fleet within 2 s", async () => {
    page = await browser.newPage();
    page.on("framenavigated", (f) => void (f === page.mainFrame() && navigations++));
    await signIn(browser, page, dash.url, token);
    await page.getByTestId("nav-attention").waitFor();
    await browser.screenshot(page, "attention-empty");
    await page.getByTestId("nav-fleet").click();
    await page.getByTestId("fleet-search").waitFor();

    tui = await stack.tui(["launch", "--endpoint", stack.server.endpoint, "--cd", stack.server.workspace], "tui");
    await tui.waitForScreen(TUI_READY, 30_000);
    // The 2 s run from when the TUI shows it is ready (its session started), as in fleet.test.ts: a person who
    // opens a TUI sees it in the dashboard's fleet within 2 s.
    const readyAt = Date.now();
    const fleetRow = page.locator(`[data-testid="fleet-row"][data-key^="${HOST}."]`);
    await fleetRow.first().waitFor({ timeout: 2_000 });
    const shownAfterMs = Date.now() - readyAt;
    expect(shownAfterMs).toBeLessThanOrEqual(2_000);
    const listed = await until("the TUI's session in the registry", async () =>
      (await listAllSessions(stack.nc, { host: HOST, humanAttached: true })).sessions.at(0),
    );
    threadId = listed.sessionId;
    key = `${HOST}.${threadId}`;
    expect(await fleetRow.count()).toBe(1);
    expect(await fleetRow.getAttribute("data-key")).toBe(key);
    await row(page, "fleet-row", key).and(page.locator('[data-status="idle"]')).waitFor();
    await browser.screenshot(page, "fleet");
  });

  it("a slow turn shows active, then idle, without a reload", async () => {
    const navigationsBefore = navigations;
    await tui.sendKeys(`please think about it ${SLOW}`);
    await tui.sendEnter();
    await row(page, "fleet-row", key).and(page.locator('[data-status="active"]')).waitFor({ timeout: 10_000 });
    await browser.screenshot(page, "fleet-active");
    await row(page, "fleet-row", key).and(page.locator('[data-status="idle"]')).waitFor({ timeout: 20_000 });
    await tui.waitForScreen("working on it slowly", 10_000);
    expect(navigations).toBe(navigationsBefore);
  });

  it("text sent from the session view shows on the TUI, and in the transcript", async () => {
    await page.evaluate(`location.hash = ${JSON.stringify(`#/session/${key}`)}`);
    await row(page, "session-view", key).waitFor({ timeout: 5_000 });
    await page.getByTestId("send-text").fill("hello from the dashboard 7f3a");
    await page.getByTestId("send-submit").click();
    const result = page.getByTestId("command-result").first();
    await expect.poll(() => result.textContent(), { timeout: 10_000 }).toBeTruthy();
    expect(await result.textContent()).not.toMatch(/error|denied|fail|refused/i);
    const screen = await tui.waitForScreen(/hello from the dashboard 7f3a[\s\S]*Hello from the fake model\./, 20_000);
    expect(screen).toContain("hello from the dashboard 7f3a");
    await page
      .getByTestId("transcript-item")
      .filter({ hasText: "hello from the dashboard 7f3a" })
      .first()
      .waitFor({ timeout: 10_000 });
    await browser.screenshot(page, "session");
    await until("the session idle again", () => session(threadId, (s) => s.status === "idle"));
  });

  it("interrupt ends a running turn", async () => {
    const before = stack.model.requests.length;
    await page.getByTestId("send-text").fill(`a long task ${LONG}`);
    await page.getByTestId("send-submit").click();
    await stack.model.waitForRequest((r, i) => i >= before && (userTexts(r).at(-1) ?? "").includes(LONG), 15_000);
    const index = stack.model.requests.findIndex((r, i) => i >= before && (userTexts(r).at(-1) ?? "").includes(LONG));
    await until("the long turn active in the registry", () => session(threadId, (s) => s.activeTurnId !== null));
    const clickedAt = Date.now();
    await page.getByTestId("interrupt").click();
    await until(
      "the turn ended in the registry",
      () => session(threadId, (s) => s.activeTurnId === null && s.status !== "active"),
      10_000,
    );
    // The answer would have streamed for 15 s: the turn ended well before it, its stream cut.
    expect(Date.now() - clickedAt).toBeLessThan(10_000);
    await until("the model's stream cut", () => stack.model.abortedIndexes.includes(index), 5_000);
    await browser.screenshot(page, "session-interrupted");
  });

  it("an autonomous session's held approval appears in the attention queue; approving it there lets its command run", async () => {
    const spawned = await stack.cli(
      "spawn",
      "please run-a-command cmd=echo_dash-approve_1",
      "--cwd",
      stack.server.workspace,
      "--host",
      HOST,
      "--json",
    );
    expect(spawned.code, spawned.stderr).toBe(0);
    const sessionId = (JSON.parse(spawned.stdout) as { data: { sessionId: string } }).data.sessionId;
    const approval = await until("the approval held", async () => (await session(sessionId))?.approval ?? undefined);
    expect(approval).toMatchObject({ kind: "command", summary: "echo dash-approve 1" });

    await page.getByTestId("nav-attention").click();
    const item = row(page, "attention-row", `${HOST}.${sessionId}`);
    await item.and(page.locator('[data-needs="approval"]')).waitFor({ timeout: 5_000 });
    await expect.poll(() => item.textContent()).toContain("echo dash-approve 1");
    await browser.screenshot(page, "attention-approval");
    expect(
      stack.model.requests.some((r) => functionCallOutputs(r).length > 0 && JSON.stringify(r).includes("dash-approve")),
    ).toBe(false);

    await item.getByTestId("approve").click();
    await expect.poll(() => item.getByTestId("command-result").textContent(), { timeout: 10_000 }).toBeTruthy();
    const next = await stack.model.waitForRequest(
      (r) => functionCallOutputs(r).length > 0 && JSON.stringify(r).includes("dash-approve 1"),
      20_000,
    );
    const output = JSON.stringify(functionCallOutputs(next));
    expect(output).toContain("dash-approve 1\\n");
    expect(output).not.toMatch(/rejected/i);
    await until("the approval cleared", () => session(sessionId, (s) => s.approval === null));
    // Approved as the signed-in operator, through the policy service, and audited so.
    const records = await until("the operator's approval record", async () => {
      const out = await stack.cli("audit", "--session", sessionId, "--json");
      const all = (JSON.parse(out.stdout) as { data: AuditRecord[] }).data;
      return all.find((r) => r.kind === "approval" && r.decision?.allow === true);
    });
    expect(records).toMatchObject({ caller: { role: "operator", id: OPERATOR } });
    await expect
      .poll(() =>
        page.locator(`[data-testid="attention-row"][data-key="${HOST}.${sessionId}"][data-needs="approval"]`).count(),
      )
      .toBe(0);
    await browser.screenshot(page, "attention-after-approve");
  });

  it("the other views render: hosts, spawn, broadcast, and audit with its replay check", async () => {
    await page.getByTestId("nav-hosts").click();
    await page.locator(`[data-testid="host-row"][data-host="${HOST}"]`).waitFor({ timeout: 5_000 });
    await browser.screenshot(page, "hosts");
    await page.getByTestId("nav-spawn").click();
    await page.getByTestId("spawn-task").waitFor({ timeout: 5_000 });
    await browser.screenshot(page, "spawn");
    await page.getByTestId("nav-broadcast").click();
    await page.getByTestId("broadcast-text").waitFor({ timeout: 5_000 });
    await browser.screenshot(page, "broadcast");
    await page.getByTestId("nav-audit").click();
    await page.getByTestId("audit-row").first().waitFor({ timeout: 10_000 });
    expect(await page.getByTestId("audit-row").filter({ hasText: OPERATOR }).count()).toBeGreaterThan(0);
    await page.getByTestId("replay-check").click();
    await expect.poll(() => page.getByTestId("replay-result").textContent(), { timeout: 15_000 }).toBeTruthy();
    await browser.screenshot(page, "audit");
  });
});
