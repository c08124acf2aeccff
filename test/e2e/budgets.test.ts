/**
 * Budgets end to end (issue 19), every part real: nats-server, gateway, registry, policy service, a host agent on
 * a real codex app-server whose model (the fake one) reports a known token usage, a person's TUI started through
 * `claw-supervisor launch` under tmux, and commands sent with the built `claw-supervisor` bin. A spawned session
 * that goes over its limit mid-turn has the turn interrupted, is marked `blocked` with the reason and refuses
 * `send` with `budget_exceeded` (exit 12) until an operator's audited `budget lift`; the person's session over its
 * own limit is warned and keeps working.
 */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BudgetReport } from "../../schemas/budget.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { listAllSessions } from "../../services/clients/registry-queries.js";
import { connectCodex, daemonSocketPath, parseEndpoint, type CodexRpcClient } from "../../services/codex-rpc/index.js";
import { startPolicyService, type PolicyService } from "../../services/policy/index.js";
import { TUI_READY } from "../support/codex-harness.js";
import { functionCallOutputs, userTexts, type FakeModel, type ReplyUsage } from "../support/fake-model.js";
import { auditOfSession, noticesAbout, sessionOn } from "../support/fleet-reads.js";
import { startStack, type Stack } from "../support/stack.js";
import type { TmuxSession } from "../support/tmux.js";
import { untilWith } from "../support/wait.js";

const HOST = "budget-host";
const ANSWER = "Hello from the fake model.";
/** What one big model reply reports: 350 tokens, 100 of the 300 input tokens cached. */
const BIG: ReplyUsage = { input: 300, cached: 100, output: 50 };
/** Dollars per million tokens of the fake model in the test's price table. */
const PRICE = { inputPerMTokUsd: 2_000, cachedInputPerMTokUsd: 500, outputPerMTokUsd: 8_000 };
/** BIG at PRICE, by hand: 200 uncached input at $2,000/M + 100 cached at $500/M + 50 output at $8,000/M. */
const BIG_COST_USD = (200 * 2_000 + 100 * 500 + 50 * 8_000) / 1_000_000;

let stack: Stack;
let nc: NatsConnection;
let model: FakeModel;
let policy: PolicyService | undefined;
let client: CodexRpcClient;
const until = untilWith({ timeoutMs: 30_000 });
const cli = (...args: string[]) => stack.cli(...args);
const json = <T = Record<string, unknown>>(out: { stdout: string }) =>
  JSON.parse(out.stdout) as { ok: boolean; code?: string; message?: string; data: T };

const session = (id: string, pred?: (s: SessionRecord) => boolean) => sessionOn(nc, HOST, id, pred);
const notices = (sessionId: string) => noticesAbout(nc, sessionId);
const auditOf = (sessionId: string) => auditOfSession(cli, sessionId);
const lastTurnStatus = async (threadId: string) =>
  (await client.request("thread/turns/list", { threadId, limit: 1, sortDirection: "desc", itemsView: "notLoaded" }))
    .data[0]?.status;

beforeAll(async () => {
  stack = await startStack({
    hostId: HOST,
    model: {
      route: (r) => {
        const last = userTexts(r).at(-1) ?? "";
        // A big reply asking for a quick command; Codex counts its tokens once the command is done and asks again,
        // and that answer streams slowly: the turn is still running when the spend goes over the limit.
        if (last.includes("budget-run"))
          return functionCallOutputs(r).length > 0
            ? { kind: "slow", text: "thinking it over at length", chunks: 120, delayMs: 500 }
            : { kind: "functionCall", name: "exec_command", arguments: { cmd: "echo budget-run" }, usage: BIG };
        if (last.includes("spend-big")) return { kind: "text", text: "Spent a lot.", usage: BIG };
        return { kind: "text", text: ANSWER };
      },
    },
  });
  ({ nc, model } = stack);
  policy = await startPolicyService({ nc, logger: stack.quiet });
  stack.defer(() => policy?.stop());
  // Where the daemon's socket would be, so `launch`'s default `unix://` finds this app-server.
  const daemonSocket = daemonSocketPath(stack.env);
  mkdirSync(path.dirname(daemonSocket), { recursive: true });
  symlinkSync(stack.server.socketPath!, daemonSocket);
  await stack.startAgent({ presencePollMs: 200 });
  client = await connectCodex(parseEndpoint(stack.server.endpoint));
  stack.defer(() => client?.close());
  await client.initialize({ clientInfo: { name: "e2e-budget-observer", version: "0" } });
  await stack.hostOnline();

  const got = json<{ inForce: { document: Record<string, unknown> } }>(await cli("policy", "get", "--json"));
  const file = path.join(stack.stateDir, "policy-budgets.json");
  writeFileSync(
    file,
    JSON.stringify({
      ...got.data.inForce.document,
      // No approvals in the way of the command: the session runs it at once, in a read-only sandbox.
      spawn: { sandbox: "read-only", approvalPolicy: "never" },
      budgets: {
        prices: { "fake-model": PRICE },
        limits: [
          { id: "autonomous-run", scope: "session", period: "total", target: { autonomous: true }, maxTokens: 300 },
          { id: "people-day", scope: "session", period: "day", target: { autonomous: false }, maxTokens: 300 },
        ],
      },
    }),
  );
  const set = await cli("policy", "set", file);
  expect(set.code, set.stderr).toBe(0);
  await until("the budget policy in force", async () => {
    const now = json<{ inForce: { document: { budgets?: unknown } } }>(await cli("policy", "get", "--json"));
    return now.data.inForce.document.budgets !== undefined;
  });
}, 120_000);

afterAll(() => stack?.stop());

describe("a spawned session over its budget", () => {
  let sessionId: string;

  it("has its running turn interrupted, is marked blocked with the reason, and a high-priority budget-stopped notice goes out", async () => {
    const spawned = await cli(
      "spawn",
      "please budget-run now",
      "--cwd",
      stack.server.workspace,
      "--host",
      HOST,
      "--json",
    );
    expect(spawned.code, spawned.stderr).toBe(0);
    sessionId = json<{ sessionId: string }>(spawned).data.sessionId;

    const stopped = await until("the session stopped by its budget", () =>
      session(sessionId, (s) => s.budget?.state === "stopped" && s.disposition === "blocked"),
    );
    expect(stopped.autonomous).toBe(true);
    expect(stopped.budget).toMatchObject({ limitId: "autonomous-run", periodKey: "total", by: "policy" });
    expect(stopped.budget?.reason).toMatch(/autonomous-run/);
    expect(stopped.budget?.reason).toMatch(/350 of 300 tokens/);
    // Metered and priced by the table: one big reply.
    expect(stopped.usage).toMatchObject({
      model: "fake-model",
      priced: true,
      tokens: { input: 300, cachedInput: 100, output: 50, total: 350 },
    });
    expect(stopped.usage?.costUsd).toBeCloseTo(BIG_COST_USD, 6);

    // The second answer was still streaming: the stop interrupted the turn, and Codex closed that stream early.
    expect(
      await until("the turn interrupted", async () =>
        (await lastTurnStatus(sessionId)) === "interrupted" ? true : undefined,
      ),
    ).toBe(true);
    const slowIndex = model.requests.findIndex(
      (r) => functionCallOutputs(r).length > 0 && userTexts(r).some((t) => t.includes("budget-run")),
    );
    expect(slowIndex).toBeGreaterThanOrEqual(0);
    await until(
      "the slow answer's stream closed by Codex",
      () => model.abortedIndexes.includes(slowIndex) || undefined,
    );

    const notice = await until("the budget-stopped notice", async () =>
      (await notices(sessionId)).find((n) => n.kind === "budget-stopped"),
    );
    expect(notice).toMatchObject({
      priority: "high",
      session: { budget: { state: "stopped", limitId: "autonomous-run" } },
    });
  });

  it("refuses send with budget_exceeded (exit 12), and `budget` lists it as stopped", async () => {
    const sent = await cli("send", sessionId, "go on please", "--json");
    expect(sent.code, sent.stderr).toBe(12);
    expect(json(sent)).toMatchObject({ ok: false, code: "budget_exceeded" });
    expect(json(sent).message).toMatch(/budget lift/);
    expect(model.requests.some((r) => userTexts(r).some((t) => t.includes("go on please")))).toBe(false);

    const report = await cli("budget", "--json");
    expect(report.code, report.stderr).toBe(0);
    const data = json<BudgetReport>(report).data;
    expect(data.stopped).toContainEqual(expect.objectContaining({ hostId: HOST, sessionId }));
    expect(data.limits).toContainEqual(
      expect.objectContaining({
        limitId: "autonomous-run",
        scopeKey: `${HOST}.${sessionId}`,
        tokens: 350,
        state: "over",
      }),
    );
  });

  it("`budget lift` lets it go on: the lift is in the audit trail and a send starts a turn again", async () => {
    const lifted = await cli("budget", "lift", sessionId, "--json");
    expect(lifted.code, lifted.stderr).toBe(0);
    expect(json(lifted)).toMatchObject({
      ok: true,
      data: { sessionId, lifted: expect.stringMatching(/^autonomous-run:total:/) },
    });
    const after = await until("the stop lifted in the record", () =>
      session(sessionId, (s) => s.budget?.state === "lifted" && s.disposition === null),
    );
    expect(after.budget?.by).toMatch(/^erin/);

    const trail = await until("the lift in the audit trail", async () => {
      const all = await auditOf(sessionId);
      return all.some((r) => r.verb === "budget-lift" && r.kind === "result") ? all : undefined;
    });
    expect(trail).toContainEqual(
      expect.objectContaining({
        kind: "result",
        verb: "budget-lift",
        caller: expect.objectContaining({ role: "operator", id: expect.stringMatching(/^erin/) }),
        outcome: expect.objectContaining({ ok: true }),
      }),
    );

    const sent = await cli("send", sessionId, "carry on now", "--json");
    expect(sent.code, sent.stderr).toBe(0);
    await model.waitForRequest((r) => userTexts(r).some((t) => t.includes("carry on now")), 20_000);
    const done = await until("the new turn done, and the session not stopped again", () =>
      session(sessionId, (s) => s.status === "idle" && s.activeTurnId === null),
    );
    expect(done.budget?.state).toBe("lifted");
    expect(done.disposition).toBeNull();
  });
});

describe("a person's TUI session over its budget", () => {
  let tui: TmuxSession;
  let threadId: string;

  it("gets a high-priority budget-warning notice and keeps working", async () => {
    tui = await stack.tui(["launch", "--cd", stack.server.workspace], "tui");
    await tui.waitForScreen(TUI_READY, 30_000);
    const s = await until("the TUI's session, human-attached and idle", async () =>
      (await listAllSessions(nc, { host: HOST, humanAttached: true })).sessions.find((x) => x.status === "idle"),
    );
    threadId = s.sessionId;
    expect(s.autonomous).toBe(false);

    await tui.sendKeys("please spend-big");
    await tui.sendEnter();
    await tui.waitForScreen("Spent a lot.", 20_000);
    const warned = await until("the session warned by its budget", () =>
      session(threadId, (x) => x.budget?.state === "warned"),
    );
    expect(warned.budget).toMatchObject({ limitId: "people-day", by: "policy" });
    expect(warned.budget?.reason).toMatch(/people-day/);
    expect(warned.disposition).toBeNull();
    const notice = await until("the budget-warning notice", async () =>
      (await notices(threadId)).find((n) => n.kind === "budget-warning"),
    );
    expect(notice.priority).toBe("high");
    expect((await notices(threadId)).some((n) => n.kind === "budget-stopped")).toBe(false);

    // Still working: an operator's send starts a turn the TUI shows, and the person's own next message is answered.
    const sent = await cli("send", threadId, "still there?", "--json");
    expect(sent.code, sent.stderr).toBe(0);
    await tui.waitForScreen(/still there\?[\s\S]*Hello from the fake model\./, 20_000);
    await until("the operator's turn done", () =>
      session(threadId, (x) => x.status === "idle" && x.activeTurnId === null),
    );
    await tui.sendKeys("one more from the person");
    await tui.sendEnter();
    await model.waitForRequest((r) => userTexts(r).some((t) => t.includes("one more from the person")), 20_000);
    const last = await until("the person's turn done", () =>
      session(threadId, (x) => x.status === "idle" && x.activeTurnId === null),
    );
    expect(last.budget?.state).toBe("warned");
    expect(last.usage?.tokens.total).toBeGreaterThan(350);
  });
});
