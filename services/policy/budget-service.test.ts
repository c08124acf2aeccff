/**
 * Budgets in the policy service (issue 19), on a real nats-server with the registry, a gateway and a scripted host
 * agent (test-policy.ts). Session records with spend are written into the registry view (KV `codex-sessions`) as the
 * registry would write them once it metered and priced a session's tokens, and again with the `budget` the
 * registry's fold would show once an annotation was applied: the watcher and the interceptors read only that view.
 * The last suite goes through the registry itself: token usage events metered by the session machine, and the
 * agent recording each annotation in the session's log (as the host agent does) for the registry to fold.
 */
import { Kvm, type KV } from "@nats-io/kv";
import { beforeAll, describe, expect, it } from "vitest";
import {
  type BudgetReport,
  type BudgetState,
  type SessionUsage,
  ZERO_TOKENS,
  priceSessionUsage,
  utcDay,
} from "../../schemas/budget.js";
import { agentEventTypes } from "../../schemas/agent-events.js";
import type { HostRpcRequest } from "../../schemas/host-rpc.js";
import { DEFAULT_POLICY, type PolicyDocumentInput } from "../../schemas/policy.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { KV_BUCKET_NAMES } from "../bus/index.js";
import { readSessionEntries } from "../registry/test-fleet.js";
import { sessionRecord } from "../registry/test-records.js";
import { until } from "../../test/support/wait.js";
import { usePolicyRig } from "./test-policy.js";

const PRICES = { "gpt-test": { inputPerMTokUsd: 1, outputPerMTokUsd: 10 } };
const today = () => utcDay(Date.now());

/** `n` tokens today (half input, half output) of `model`, priced as the registry prices them. */
function spent(n: number, model = "gpt-test"): SessionUsage {
  const tokens = { ...ZERO_TOKENS, input: n / 2, output: n / 2, total: n };
  return priceSessionUsage(
    { model, tokens, costUsd: null, priced: false, days: { [today()]: { tokens, costUsd: null } } },
    PRICES,
  );
}

const BUDGET_POLICY: PolicyDocumentInput = {
  ...DEFAULT_POLICY,
  budgets: {
    prices: PRICES,
    limits: [
      { id: "solo-cap", target: { autonomous: true, repo: "solo" }, maxTokens: 1_000 },
      { id: "people-cap", target: { autonomous: false }, maxTokens: 1_000 },
      { id: "team-day", scope: "group", period: "day", target: { group: "red" }, maxTokens: 5_000 },
    ],
  },
};

/** The thread an op is about (null for a spawn). */
const threadOf = (o: HostRpcRequest): string | null => ("threadId" in o ? o.threadId : null);

describe("policy service: budgets", () => {
  const rig = usePolicyRig();
  let kv: KV;
  const records = new Map<string, SessionRecord>();

  /** Writes a session's record into the registry view, as the registry would. */
  async function put(sessionId: string, over: Partial<SessionRecord>): Promise<SessionRecord> {
    const record = sessionRecord({ ...records.get(sessionId), host: "h1", sessionId, lastSeenAt: Date.now(), ...over });
    records.set(sessionId, record);
    const entry = { v: 1, hostId: "h1", threadId: sessionId, record, snapshot: {}, applied: { epoch: "e", seq: 0 } };
    await kv.put(`h1.${sessionId}`, JSON.stringify(entry));
    return record;
  }
  /** The record as the registry's fold shows it once the mark the watcher wrote was applied. */
  const fold = (sessionId: string, mark: BudgetState) => put(sessionId, { budget: mark });
  const markOf = (o: HostRpcRequest): BudgetState => {
    if (o.op !== "annotate" || o.annotation.kind !== "budget") throw new Error("not a budget mark");
    return { ...o.annotation.budget, lifted: [] };
  };
  const budgetOps = () =>
    rig.ops.filter((o) => o.op === "interrupt" || (o.op === "annotate" && o.annotation.kind === "budget"));

  beforeAll(async () => {
    kv = await new Kvm(rig.bus.nc).open(KV_BUCKET_NAMES.sessions);
    rig.ops.length = 0;
    await put("b1", {
      autonomous: true,
      repo: "solo",
      group: "blue",
      status: "active",
      activeTurnId: "turn-b1",
      usage: spent(2_000),
    });
    await put("p1", {
      humanAttached: true,
      repo: "solo",
      usage: spent(1_500),
      activeTurnId: "turn-p1",
      status: "active",
    });
    await put("r1", { autonomous: true, group: "red", usage: spent(3_000) });
    await put("r2", { autonomous: true, group: "red", usage: spent(2_500, "mystery") });
    await put("g1", { autonomous: true, group: "green", usage: spent(100) });
  });

  it("with no limits, writes nothing and `budget` still totals spend by group for the day", async () => {
    await until("the sessions in the policy's view", async () => {
      const r = await rig.command("budget", {});
      return r.ok && (r.data as BudgetReport).groups.length === 4 ? r : undefined;
    });
    const r = await rig.command("budget", {}, { role: "viewer", callerId: "vera" });
    expect(r).toMatchObject({ ok: true });
    expect((r as { data: BudgetReport }).data).toEqual({
      day: today(),
      limits: [],
      groups: [
        { group: "", day: today(), tokens: 1_500, costUsd: 0.00825, unpriced: false, sessions: 1 },
        { group: "blue", day: today(), tokens: 2_000, costUsd: 0.011, unpriced: false, sessions: 1 },
        { group: "green", day: today(), tokens: 100, costUsd: 0.00055, unpriced: false, sessions: 1 },
        { group: "red", day: today(), tokens: 5_500, costUsd: 0.0165, unpriced: true, sessions: 2 },
      ],
      stopped: [],
      unpricedModels: ["mystery"],
    });
    expect(budgetOps()).toEqual([]);
  });

  it("stops an autonomous session over its limit (mark and interrupt), stops a group over its shared limit, and warns a person's session", async () => {
    await rig.setPolicy(BUDGET_POLICY);
    await until("the watcher's marks and the interrupt", () => (budgetOps().length >= 4 ? true : undefined));
    // Nothing more comes: evaluations a moment later write nothing new.
    await new Promise((r) => setTimeout(r, 600));
    const ops = budgetOps();
    const b1 = ops.filter((o) => threadOf(o) === "b1");
    expect(b1.map((o) => o.op)).toEqual(["annotate", "interrupt"]);
    expect(markOf(b1[0]!)).toMatchObject({
      state: "stopped",
      id: "solo-cap:total:h1.b1",
      limitId: "solo-cap",
      periodKey: "total",
      by: "policy",
      reason: "over budget 'solo-cap' (session total, session h1.b1): 2,000 of 1,000 tokens",
    });
    expect(b1[1]).toEqual({ op: "interrupt", threadId: "b1", turnId: "turn-b1" });
    const p1 = ops.filter((o) => threadOf(o) === "p1");
    expect(p1).toHaveLength(1); // warned, not interrupted
    expect(markOf(p1[0]!)).toMatchObject({
      state: "warned",
      id: "people-cap:total:h1.p1",
      reason: expect.stringMatching(/a person's session is warned, not stopped/),
    });
    const day = today();
    for (const s of ["r1", "r2"]) {
      const marks = ops.filter((o) => threadOf(o) === s);
      expect(marks).toHaveLength(1); // no turn running: nothing to interrupt
      expect(markOf(marks[0]!)).toMatchObject({ state: "stopped", id: `team-day:${day}:red`, limitId: "team-day" });
    }
    expect(ops.some((o) => threadOf(o) === "g1")).toBe(false);

    // Audited like commands, caller `policy`: who stopped what, and why.
    const trail = await until("the stop's records", async () => {
      const all = (await rig.audit()).filter((r) => r.caller?.id === "policy" && r.target?.sessionId === "b1");
      return all.some((r) => r.kind === "result") ? all : undefined;
    });
    expect(trail.map((r) => r.kind).sort()).toEqual(["decision", "execution", "execution", "request", "result"]);
    expect(trail.find((r) => r.kind === "decision")).toMatchObject({
      verb: "interrupt",
      decision: { allow: true, ruleId: "budget:solo-cap", reason: expect.stringMatching(/over budget 'solo-cap'/) },
    });
    expect(trail.find((r) => r.kind === "request")?.detail).toMatchObject({
      action: "budget-stop",
      budget: { id: "solo-cap:total:h1.b1" },
      use: { tokens: 2_000, maxTokens: 1_000, state: "over" },
    });
    const warnTrail = (await rig.audit()).filter((r) => r.caller?.id === "policy" && r.target?.sessionId === "p1");
    expect(warnTrail.find((r) => r.kind === "request")).toMatchObject({
      verb: "mark",
      detail: { action: "budget-warning" },
    });
  });

  it("refuses send and reply to a stopped session with budget_exceeded, before and after the record shows the stop; a warned person's session still gets them", async () => {
    rig.ops.length = 0;
    const refused = await rig.command(
      "send",
      { target: { sessionId: "b1" }, text: "go on" },
      { key: "budget-send-key-1" },
    );
    expect(refused).toMatchObject({
      ok: false,
      code: "budget_exceeded",
      retryable: false,
      message: expect.stringMatching(/over budget 'solo-cap'.*claw-supervisor budget lift b1/),
    });
    // The Claw too, and a reply.
    expect(
      await rig.command("reply", { target: { sessionId: "b1" }, text: "answer" }, { role: "claw", callerId: "claw-1" }),
    ).toMatchObject({ ok: false, code: "budget_exceeded" });
    // Once the registry shows the stop (the fold applied the mark), it is refused from the record.
    await put("b1", { activeTurnId: null, status: "interrupted" });
    await fold("b1", {
      state: "stopped",
      id: "solo-cap:total:h1.b1",
      limitId: "solo-cap",
      periodKey: "total",
      reason: "over budget 'solo-cap' (recorded)",
      by: "policy",
      atMs: 1,
      lifted: [],
    });
    await until("the refusal from the record", async () => {
      const r = await rig.command("send", { target: { sessionId: "b1" }, text: "go on" });
      return !r.ok && r.code === "budget_exceeded" && /recorded/.test(r.message) ? r : undefined;
    });
    expect(await rig.command("send", { target: { sessionId: "p1" }, text: "still there?" })).toMatchObject({
      ok: true,
    });
    expect(rig.ops.map((o) => [o.op, threadOf(o)])).toEqual([["send", "p1"]]);
    // The refusal is audited as refusals are.
    const records = await until("the refusal's records", async () => {
      const all = (await rig.audit()).filter(
        (r) => r.caller?.id === "alice" && r.verb === "send" && r.target?.sessionId === "b1",
      );
      return all.some((r) => r.kind === "result") ? all : undefined;
    });
    expect(records.find((r) => r.kind === "decision")?.decision).toMatchObject({
      allow: false,
      code: "budget_exceeded",
    });
  });

  it("refuses a spawn into a group over its group limit, and spawns into another group", async () => {
    rig.ops.length = 0;
    const refused = await rig.command("spawn", { cwd: "/work/x", task: "more", group: "red" });
    expect(refused).toMatchObject({
      ok: false,
      code: "budget_exceeded",
      message: expect.stringMatching(/group red: over budget 'team-day'.*budget lift/),
    });
    expect(rig.ops).toEqual([]);
    expect(await rig.command("spawn", { cwd: "/work/x", task: "more", group: "green" })).toMatchObject({ ok: true });
    expect(rig.ops.map((o) => o.op)).toEqual(["spawn"]);
  });

  it("does not repeat what the record shows, on this instance or a new one", async () => {
    const p1: BudgetState = {
      state: "warned",
      id: "people-cap:total:h1.p1",
      limitId: "people-cap",
      periodKey: "total",
      reason: "over budget 'people-cap'",
      by: "policy",
      atMs: 1,
      lifted: [],
    };
    await fold("p1", p1);
    for (const s of ["r1", "r2"])
      await fold(s, {
        state: "stopped",
        id: `team-day:${today()}:red`,
        limitId: "team-day",
        periodKey: today(),
        reason: "over budget 'team-day'",
        by: "policy",
        atMs: 1,
        lifted: [],
      });
    rig.ops.length = 0;
    await rig.startAnotherPolicy("policy-2");
    // More spend: each instance evaluates again; every mark is in the records already.
    await put("b1", { usage: spent(2_100) });
    await put("r1", { usage: spent(3_100) });
    await new Promise((r) => setTimeout(r, 800));
    expect(budgetOps()).toEqual([]);
    // A new turn on the stopped session is interrupted (once).
    await put("b1", { activeTurnId: "turn-b1-2" });
    await until("the new turn interrupted", () => (budgetOps().length > 0 ? true : undefined));
    await new Promise((r) => setTimeout(r, 500));
    // Both instances may ask; the envelope id is the same, so the agent runs it once (here: counted as asked).
    expect(new Set(budgetOps().map((o) => JSON.stringify(o)))).toEqual(
      new Set([JSON.stringify({ op: "interrupt", threadId: "b1", turnId: "turn-b1-2" })]),
    );
    await put("b1", { activeTurnId: null, status: "interrupted" });
  });

  it("`budget` lists the stops, and uses against the limits", async () => {
    const r = await rig.command("budget", {});
    expect(r.ok).toBe(true);
    const report = (r as { data: BudgetReport }).data;
    expect(report.stopped.map((s) => s.sessionId).sort()).toEqual(["b1", "r1", "r2"]);
    expect(report.limits).toContainEqual(
      expect.objectContaining({ limitId: "team-day", scopeKey: "red", tokens: 5_600, sessions: 2, state: "over" }),
    );
    expect(report.limits).toContainEqual(
      expect.objectContaining({ limitId: "solo-cap", scopeKey: "h1.b1", tokens: 2_100, state: "over" }),
    );
    const red = (await rig.command("budget", { group: "red" })) as { ok: true; data: BudgetReport };
    expect(red.data.stopped.map((s) => s.sessionId).sort()).toEqual(["r1", "r2"]);
    expect(red.data.groups.map((g) => g.group)).toEqual(["red"]);
  });

  it("`budget-lift`: a Claw is denied; an operator lifts the stop (audited) and the session takes sends again; a session not stopped is a conflict", async () => {
    rig.ops.length = 0;
    expect(
      await rig.command("budget-lift", { target: { sessionId: "b1" } }, { role: "claw", callerId: "claw-1" }),
    ).toMatchObject({ ok: false, code: "denied", message: expect.stringMatching(/budget/) });
    expect(rig.ops).toEqual([]);

    // The registry folds the lift the agent recorded (here: the test, once the agent was asked).
    const lifting = rig.command(
      "budget-lift",
      { target: { sessionId: "b1" } },
      { callerId: "erin", key: "lift-b1-key" },
    );
    const liftOp = await until("the lift written through the agent", () => rig.ops[0]);
    expect(markOf(liftOp)).toMatchObject({
      state: "lifted",
      id: "solo-cap:total:h1.b1",
      limitId: "solo-cap",
      periodKey: "total",
      by: "erin",
      reason: expect.stringMatching(/^lifted by operator erin; it was stopped: over budget 'solo-cap'/),
    });
    await fold("b1", { ...markOf(liftOp), lifted: ["solo-cap:total:h1.b1"] });
    // Answered once the registry view shows it: a send right after passes on either instance.
    expect(await lifting).toEqual({
      ok: true,
      data: { hostId: "h1", sessionId: "b1", lifted: "solo-cap:total:h1.b1" },
    });
    expect(rig.ops).toHaveLength(1);
    for (let i = 0; i < 4; i++)
      expect(await rig.command("send", { target: { sessionId: "b1" }, text: `more ${i}` })).toMatchObject({ ok: true });
    await put("b1", { usage: spent(3_000) });
    await new Promise((r) => setTimeout(r, 600));
    // Not stopped again for the same limit and period, though still over it.
    expect(budgetOps().filter((o) => o.op === "interrupt" || markOf(o).state !== "lifted")).toEqual([]);

    const trail = await until("the lift's records", async () => {
      const all = (await rig.audit()).filter((r) => r.verb === "budget-lift" && r.caller?.id === "erin");
      return all.some((r) => r.kind === "result") ? all : undefined;
    });
    expect(trail.map((r) => r.kind)).toEqual(["request", "decision", "execution", "result"]);
    expect(trail.find((r) => r.kind === "decision")?.decision).toMatchObject({ allow: true, ruleId: "operator-all" });
    expect(trail.every((r) => r.target?.sessionId === "b1")).toBe(true);
    const claw = (await rig.audit()).filter((r) => r.verb === "budget-lift" && r.caller?.id === "claw-1");
    expect(claw.find((r) => r.kind === "decision")?.decision).toMatchObject({ allow: false, code: "denied" });

    expect(await rig.command("budget-lift", { target: { sessionId: "p1" } })).toMatchObject({
      ok: false,
      code: "conflict",
      message: expect.stringMatching(/p1 is not stopped by a budget; nothing was lifted/),
    });
    expect(await rig.command("budget-lift", { target: { sessionId: "b1" } })).toMatchObject({
      ok: false,
      code: "conflict",
      message: expect.stringMatching(/was lifted already/),
    });
    // A group's stop lifted on one of its sessions: that session goes on, spawns into the group are let through.
    expect(await rig.command("budget-lift", { target: { sessionId: "r1" }, limitId: "solo-cap" })).toMatchObject({
      ok: false,
      code: "conflict",
      message: expect.stringMatching(/budget 'solo-cap'/),
    });
    // Not seen in the registry view (nothing folds it here): answered after the wait; the lift is written.
    rig.ops.length = 0;
    const started = Date.now();
    expect(await rig.command("budget-lift", { target: { sessionId: "r1" }, limitId: "team-day" })).toMatchObject({
      ok: true,
      data: { lifted: `team-day:${today()}:red` },
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_900);
    expect(rig.ops.map((o) => o.op === "annotate" && o.annotation.kind === "budget" && o.annotation.budget.by)).toEqual(
      ["alice"],
    );
    // The group's other session stays stopped.
    expect(await rig.command("send", { target: { sessionId: "r2" }, text: "you?" })).toMatchObject({
      code: "budget_exceeded",
    });
  });
});

describe("policy service: budgets through the registry's fold", () => {
  const rig = usePolicyRig();
  /** The agent records each annotation in the session's log, as the host agent does: the registry folds it. */
  let published: Promise<unknown> = Promise.resolve();

  const recordOf = async (sessionId: string) => (await readSessionEntries(rig.bus.nc)).get(`h1.${sessionId}`)?.record;
  const tokens = (n: number) => ({
    inputTokens: n - 50,
    cachedInputTokens: 0,
    outputTokens: 50,
    reasoningOutputTokens: 0,
    totalTokens: n,
  });

  beforeAll(async () => {
    rig.answer = (req) => {
      if (req.op === "annotate") {
        const env = rig.events.envelope(req.threadId, agentEventTypes.annotation, req.annotation);
        published = published.then(() => rig.events.publish(env));
      }
      return { ok: true, data: req.op === "send" ? { action: "started", turnId: "turn-2" } : {} };
    };
    await rig.setPolicy({
      ...DEFAULT_POLICY,
      budgets: { limits: [{ id: "run-cap", target: { autonomous: true }, maxTokens: 300 }] },
    });
  });

  it("a metered session over its limit is stopped and blocked in the registry, refused, and goes on once lifted", async () => {
    await rig.session("a1", { autonomous: true });
    await rig.events.startTurn("a1", "turn-a1");
    await rig.events.publish(
      rig.events.envelope("a1", "thread/tokenUsage/updated", {
        threadId: "a1",
        turnId: "turn-a1",
        tokenUsage: { total: tokens(350), last: tokens(350) },
      }),
    );
    const stopped = await until("the stop folded into the registry's record", async () => {
      const r = await recordOf("a1");
      return r?.budget?.state === "stopped" ? r : undefined;
    });
    expect(stopped).toMatchObject({
      disposition: "blocked",
      usage: { tokens: { total: 350 } },
      budget: { id: "run-cap:total:h1.a1", by: "policy", reason: expect.stringMatching(/350 of 300 tokens/) },
    });
    await until("the running turn interrupted", () =>
      rig.ops.find((o) => o.op === "interrupt" && o.threadId === "a1" && o.turnId === "turn-a1"),
    );
    expect(await rig.command("send", { target: { sessionId: "a1" }, text: "more" })).toMatchObject({
      code: "budget_exceeded",
    });

    const started = Date.now();
    const lifted = await rig.command("budget-lift", { target: { sessionId: "a1" } }, { callerId: "erin" });
    expect(lifted).toEqual({ ok: true, data: { hostId: "h1", sessionId: "a1", lifted: "run-cap:total:h1.a1" } });
    // Answered once the registry showed the lift, not after the longest wait.
    expect(Date.now() - started).toBeLessThan(2_500);
    expect(await recordOf("a1")).toMatchObject({
      disposition: null,
      budget: { state: "lifted", by: "erin", lifted: ["run-cap:total:h1.a1"] },
    });
    expect(await rig.command("send", { target: { sessionId: "a1" }, text: "carry on" })).toMatchObject({ ok: true });
    // More spend: still over, but that stop was lifted: no new mark, no interrupt.
    const before = rig.ops.length;
    await rig.events.publish(
      rig.events.envelope("a1", "thread/tokenUsage/updated", {
        threadId: "a1",
        turnId: "turn-2",
        tokenUsage: { total: tokens(700), last: tokens(350) },
      }),
    );
    await until("the new spend in the record", async () =>
      (await recordOf("a1"))?.usage?.tokens.total === 700 ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(rig.ops.slice(before).filter((o) => o.op !== "send")).toEqual([]);
  });
});
