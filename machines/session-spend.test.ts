/**
 * Metering and budgets in the session fold (issue 19): token usage deltas from Codex's cumulative totals, a
 * restarted count, days split at UTC midnight, the model, pricing by the registry's table on a recorded
 * session, budget annotations, and snapshots persisted before any of it.
 */
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import type { ThreadSyncedPayload } from "../schemas/agent-events.js";
import {
  MAX_USAGE_DAYS,
  priceSessionUsage,
  type BudgetMark,
  type PriceTable,
  type TokenCounts,
} from "../schemas/budget.js";
import type { SessionEventEnvelope } from "../schemas/bus.js";
import type { TokenUsageBreakdown } from "../schemas/codex/thread.js";
import { SessionRecord } from "../schemas/registry.js";
import { FIXTURE_HOST_ID, readSessionLog } from "../test/fixtures/session-logs.js";
import { createStepper } from "./fold.js";
import { sessionEventsOf } from "./from-bus.js";
import { foldSession, sessionMachine, sessionRecordOf, type SessionMachineEvent } from "./session.js";
import { foldBudget, tokenDelta } from "./session-spend.js";

const input = { hostId: "host-a", threadId: "thr-1" };
const counts = (input: number, cachedInput: number, output: number, reasoning: number): TokenCounts => ({
  input,
  cachedInput,
  output,
  reasoning,
  total: input + output,
});
const usageAt = (total: TokenCounts, atMs: number): SessionMachineEvent => ({ type: "TOKEN_USAGE", total, atMs });
const model = (name: string | undefined, atMs = 1): SessionMachineEvent =>
  name === undefined
    ? { type: "STATUS", status: { type: "idle" }, atMs }
    : { type: "STATUS", status: { type: "idle" }, atMs, model: name };
const recordOf = (events: SessionMachineEvent[]) => sessionRecordOf(foldSession(events, input));
const day = (iso: string): number => Date.parse(iso);

describe("token usage in the session fold", () => {
  it("adds what each cumulative total adds to the last one, field by field", () => {
    const r = recordOf([
      model("gpt-5"),
      usageAt(counts(100, 0, 20, 5), 10),
      usageAt(counts(250, 80, 50, 5), 20),
      usageAt(counts(250, 80, 50, 5), 30), // the same total again adds nothing
    ]);
    expect(r.model).toBe("gpt-5");
    expect(r.usage).toEqual({
      model: "gpt-5",
      tokens: counts(250, 80, 50, 5),
      costUsd: null,
      priced: false,
      days: { "1970-01-01": { tokens: counts(250, 80, 50, 5), costUsd: null } },
    });
    expect(r.lastSeenAt).toBe(30);
    // The machine keeps Codex's total to take the next delta from; the record does not carry it.
    expect(foldSession([usageAt(counts(1, 0, 1, 0), 1)], input).context.tokenTotal).toEqual(counts(1, 0, 1, 0));
    expect(Object.keys(r)).not.toContain("tokenTotal");
  });

  it("clamps a field that went down at 0, and takes a total below the last as a restarted count (all new)", () => {
    expect(tokenDelta(counts(100, 50, 10, 0), { ...counts(120, 40, 10, 0) })).toEqual({
      input: 20,
      cachedInput: 0,
      output: 0,
      reasoning: 0,
      total: 20,
    });
    // Codex's app-server restarted: its count began again at 0, and 30 + 12 are new.
    const r = recordOf([usageAt(counts(1_000, 0, 200, 0), 10), usageAt(counts(30, 0, 12, 0), 20)]);
    expect(r.usage?.tokens).toEqual(counts(1_030, 0, 212, 0));
    // ... and the next total counts from the restarted one.
    const after = recordOf([
      usageAt(counts(1_000, 0, 200, 0), 10),
      usageAt(counts(30, 0, 12, 0), 20),
      usageAt(counts(50, 10, 20, 0), 30),
    ]);
    expect(after.usage?.tokens).toEqual(counts(1_050, 10, 220, 0));
  });

  it("splits the days at UTC midnight by the event's time, and keeps the newest MAX_USAGE_DAYS days", () => {
    const r = recordOf([
      usageAt(counts(100, 0, 10, 0), day("2026-11-24T23:59:59.999Z")),
      usageAt(counts(300, 0, 30, 0), day("2026-11-25T00:00:00.000Z")),
      usageAt(counts(350, 0, 35, 0), day("2026-11-25T12:00:00.000Z")),
    ]);
    expect(r.usage?.days).toEqual({
      "2026-11-24": { tokens: counts(100, 0, 10, 0), costUsd: null },
      "2026-11-25": { tokens: counts(250, 0, 25, 0), costUsd: null },
    });
    expect(r.usage?.tokens).toEqual(counts(350, 0, 35, 0));

    const start = day("2026-01-01T12:00:00Z");
    const many = Array.from({ length: MAX_USAGE_DAYS + 3 }, (_, i) =>
      usageAt(counts(10 * (i + 1), 0, i + 1, 0), start + i * 86_400_000),
    );
    const kept = recordOf(many).usage!;
    expect(Object.keys(kept.days)).toHaveLength(MAX_USAGE_DAYS);
    expect(Object.keys(kept.days).sort()[0]).toBe("2026-01-04");
    expect(kept.days["2026-03-06"]).toEqual({ tokens: counts(10, 0, 1, 0), costUsd: null });
    // The session's own count keeps every day's tokens.
    expect(kept.tokens).toEqual(counts(10 * (MAX_USAGE_DAYS + 3), 0, MAX_USAGE_DAYS + 3, 0));
  });

  it("leaves usage null before any token usage, and ignores a malformed total but for the time it was seen", () => {
    expect(recordOf([model("gpt-5")]).usage).toBeNull();
    const junk = { type: "TOKEN_USAGE", total: { input: -1 }, atMs: 50 } as unknown as SessionMachineEvent;
    const r = recordOf([usageAt(counts(10, 0, 1, 0), 10), junk]);
    expect(r.usage?.tokens).toEqual(counts(10, 0, 1, 0));
    expect(r.lastSeenAt).toBe(50);
    expect(SessionRecord.safeParse(r).success).toBe(true);
  });

  it("meters an unknown model (or none) in tokens only: the registry's price leaves it unpriced", () => {
    const prices: PriceTable = { "gpt-5": { inputPerMTokUsd: 1.25, outputPerMTokUsd: 10 } };
    const unknown = recordOf([model("gpt-9-preview"), usageAt(counts(1_000, 0, 100, 0), 10)]);
    const none = recordOf([usageAt(counts(1_000, 0, 100, 0), 10)]);
    expect(none.model).toBeNull();
    for (const r of [unknown, none]) {
      const priced = priceSessionUsage(r.usage!, prices);
      expect(priced).toMatchObject({ tokens: counts(1_000, 0, 100, 0), costUsd: null, priced: false });
      expect(Object.values(priced.days).map((d) => d.costUsd)).toEqual([null]);
    }
  });

  it("takes the model from thread/started and a sync; a model learnt after the tokens moves the usage to it", () => {
    expect(recordOf([model("gpt-5"), usageAt(counts(10, 0, 1, 0), 2)]).usage?.model).toBe("gpt-5");
    const synced: ThreadSyncedPayload = {
      thread: {
        id: "thr-1",
        status: { type: "idle" },
        cwd: "/w",
        preview: "",
        name: null,
        ephemeral: false,
        createdAt: 1,
        updatedAt: 1,
        source: "vscode",
        model: "gpt-5-mini",
      },
      activeTurnId: null,
      workspace: "/w",
      repo: null,
      branch: null,
      humanAttached: false,
      autonomous: true,
    };
    const r = recordOf([usageAt(counts(10, 0, 1, 0), 2), { type: "SYNCED", snapshot: synced, atMs: 3 }]);
    expect(r).toMatchObject({ model: "gpt-5-mini", usage: { model: "gpt-5-mini", tokens: counts(10, 0, 1, 0) } });
    // A status change without a model keeps it.
    expect(recordOf([model("gpt-5"), model(undefined, 2)]).model).toBe("gpt-5");
  });
});

// ---- a recorded session, priced ----

/** Codex's breakdown of `c` (cacheWriteInputTokens included, as 0.169 sends it). */
const breakdown = (c: TokenCounts): TokenUsageBreakdown => ({
  totalTokens: c.total,
  inputTokens: c.input,
  cachedInputTokens: c.cachedInput,
  cacheWriteInputTokens: 0,
  outputTokens: c.output,
  reasoningOutputTokens: c.reasoning,
});

/** A session's envelopes as the host agent publishes them: numbered from 0, each at its own time. */
function recordedSession(threadId: string, steps: { atMs: number; type: string; payload: unknown }[]) {
  return steps.map(
    (s, seq): SessionEventEnvelope => ({
      hostId: FIXTURE_HOST_ID,
      threadId,
      epoch: "fixture",
      seq,
      emittedAtMs: s.atMs,
      type: s.type,
      payload: s.payload,
    }),
  );
}

describe("cost figures match the price table on a recorded session", () => {
  // gpt-5 at $1.25/M input, $0.125/M cached input, $10/M output.
  const prices: PriceTable = {
    "gpt-5": { inputPerMTokUsd: 1.25, cachedInputPerMTokUsd: 0.125, outputPerMTokUsd: 10 },
    "fake-model": { inputPerMTokUsd: 2, outputPerMTokUsd: 8 },
  };
  const threadId = "019a7c1e-5a1b-7c33-9e11-2f0d6c1b8a42";
  const turn = (id: string, status: string) => ({ id, items: [], status, error: null });
  const t0 = day("2026-11-24T23:58:00.000Z");
  // Two turns; the cumulative totals grow as codex reports them (after each model call), and the second turn's
  // usage arrives after UTC midnight.
  const totals = [
    { input: 12_000, cachedInput: 0, output: 800, reasoning: 300, total: 12_800 },
    { input: 25_000, cachedInput: 11_000, output: 1_500, reasoning: 600, total: 26_500 },
    { input: 40_000, cachedInput: 23_000, output: 2_400, reasoning: 1_000, total: 42_400 },
  ];
  const usage = (i: number, turnId: string, atMs: number) => ({
    atMs,
    type: "thread/tokenUsage/updated",
    payload: {
      threadId,
      turnId,
      tokenUsage: {
        total: breakdown(totals[i]!),
        last: breakdown(i === 0 ? totals[0]! : tokenDelta(totals[i - 1]!, totals[i]!)),
        modelContextWindow: 272_000,
      },
    },
  });
  const log = recordedSession(threadId, [
    {
      atMs: t0,
      type: "agent/thread.synced",
      payload: {
        thread: {
          id: threadId,
          status: { type: "idle" },
          cwd: "/work/app",
          preview: "",
          name: null,
          ephemeral: false,
          createdAt: 1,
          updatedAt: 1,
          source: "vscode",
          model: "gpt-5",
        },
        activeTurnId: null,
        workspace: "/work/app",
        repo: null,
        branch: null,
        humanAttached: false,
        autonomous: true,
      },
    },
    {
      atMs: t0 + 10,
      type: "thread/status/changed",
      payload: { threadId, status: { type: "active", activeFlags: [] } },
    },
    { atMs: t0 + 11, type: "turn/started", payload: { threadId, turn: turn("turn-1", "inProgress") } },
    usage(0, "turn-1", t0 + 20_000),
    usage(1, "turn-1", t0 + 40_000),
    { atMs: t0 + 40_001, type: "thread/status/changed", payload: { threadId, status: { type: "idle" } } },
    { atMs: t0 + 40_002, type: "turn/completed", payload: { threadId, turn: turn("turn-1", "completed") } },
    {
      atMs: t0 + 150_000,
      type: "thread/status/changed",
      payload: { threadId, status: { type: "active", activeFlags: [] } },
    },
    { atMs: t0 + 150_001, type: "turn/started", payload: { threadId, turn: turn("turn-2", "inProgress") } },
    usage(2, "turn-2", t0 + 170_000),
    { atMs: t0 + 170_001, type: "thread/status/changed", payload: { threadId, status: { type: "idle" } } },
    { atMs: t0 + 170_002, type: "turn/completed", payload: { threadId, turn: turn("turn-2", "completed") } },
  ]);

  /** Folds through the registry's own step (the stepper and its plans) and through XState's transition(), which must agree. */
  const fold = (envelopes: SessionEventEnvelope[]) => {
    const events = envelopes.flatMap(sessionEventsOf);
    const stepper = createStepper(sessionMachine);
    let snapshot = stepper.initial({ hostId: FIXTURE_HOST_ID, threadId: envelopes[0]!.threadId });
    for (const e of events) snapshot = stepper.step(snapshot, e);
    const record = sessionRecordOf(snapshot);
    expect(record).toEqual(
      sessionRecordOf(foldSession(events, { hostId: FIXTURE_HOST_ID, threadId: envelopes[0]!.threadId })),
    );
    return record;
  };

  it("gpt-5 over two turns across UTC midnight: by hand, $0.048125 ($0.033875 on the 24th, $0.01425 on the 25th)", () => {
    const record = fold(log);
    expect(record).toMatchObject({ status: "idle", model: "gpt-5" });
    const priced = priceSessionUsage(record.usage!, prices);
    expect(priced.priced).toBe(true);
    expect(priced.tokens).toEqual(totals[2]);
    // (40,000 - 23,000) × $1.25/M + 23,000 × $0.125/M + 2,400 × $10/M = 0.02125 + 0.002875 + 0.024
    expect(priced.costUsd).toBeCloseTo(0.048125, 12);
    // The 24th: turn 1, the second total: 14,000 × 1.25/M + 11,000 × 0.125/M + 1,500 × 10/M = 0.0175 + 0.001375 + 0.015
    expect(priced.days["2026-11-24"]!.tokens).toEqual(totals[1]);
    expect(priced.days["2026-11-24"]!.costUsd).toBeCloseTo(0.033875, 12);
    // The 25th: what turn 2 added: 3,000 × 1.25/M + 12,000 × 0.125/M + 900 × 10/M = 0.00375 + 0.0015 + 0.009
    expect(priced.days["2026-11-25"]!.tokens).toEqual({
      input: 15_000,
      cachedInput: 12_000,
      output: 900,
      reasoning: 400,
      total: 15_900,
    });
    expect(priced.days["2026-11-25"]!.costUsd).toBeCloseTo(0.01425, 12);
    expect(SessionRecord.safeParse({ ...record, usage: priced }).success).toBe(true);
  });

  it("the same session redelivered (every envelope twice in a row) costs the same: a repeated total adds nothing", () => {
    const twice = log.flatMap((e) => [e, e]);
    expect(priceSessionUsage(fold(twice).usage!, prices).costUsd).toBeCloseTo(0.048125, 12);
  });

  it("the golden approval-wait log recorded from codex 0.169.0: fake-model's 20 input and 10 output tokens", () => {
    const golden = readSessionLog("approval-wait");
    const record = fold(golden);
    expect(record.model).toBe("fake-model");
    const priced = priceSessionUsage(record.usage!, prices);
    expect(priced.tokens).toEqual({ input: 20, cachedInput: 0, output: 10, reasoning: 0, total: 30 });
    // 20 × $2/M + 10 × $8/M
    expect(priced.costUsd).toBeCloseTo(0.00012, 12);
    expect(priced.priced).toBe(true);
  });
});

// ---- budgets ----

const mark = (state: BudgetMark["state"], id = "daily:2026-11-25:h.s", over: Partial<BudgetMark> = {}) => ({
  type: "BUDGET" as const,
  budget: {
    state,
    id,
    limitId: id.split(":")[0]!,
    periodKey: id.split(":")[1]!,
    reason: `${state} by ${id}`,
    by: state === "lifted" ? "operator:erin" : "policy",
    atMs: 100,
    ...over,
  },
});

describe("budget annotations in the session fold", () => {
  it("a warning sets the state; the same warning again changes nothing", () => {
    const once = foldSession([mark("warned")], input);
    expect(sessionRecordOf(once).budget).toMatchObject({ state: "warned", id: "daily:2026-11-25:h.s", lifted: [] });
    expect(foldBudget(once.context.budget, null, mark("warned").budget)).toBeNull();
    expect(sessionRecordOf(once).disposition).toBeNull();
  });

  it("a stop blocks the session; a lift of that stop clears the block and remembers the id", () => {
    const stopped = recordOf([mark("warned"), mark("stopped")]);
    expect(stopped).toMatchObject({
      disposition: "blocked",
      budget: { state: "stopped", reason: "stopped by daily:2026-11-25:h.s" },
    });
    const lifted = recordOf([mark("warned"), mark("stopped"), mark("lifted")]);
    expect(lifted).toMatchObject({
      disposition: null,
      budget: { state: "lifted", by: "operator:erin", lifted: ["daily:2026-11-25:h.s"] },
    });
  });

  it("a lifted stop does not come back, nor its warning; another limit's stop does", () => {
    const base = [mark("stopped"), mark("lifted")];
    expect(recordOf([...base, mark("stopped")])).toMatchObject({ disposition: null, budget: { state: "lifted" } });
    expect(recordOf([...base, mark("warned")])).toMatchObject({ budget: { state: "lifted" } });
    const other = recordOf([...base, mark("stopped", "total:total:h.s")]);
    expect(other).toMatchObject({
      disposition: "blocked",
      budget: { state: "stopped", id: "total:total:h.s", lifted: ["daily:2026-11-25:h.s"] },
    });
  });

  it("a warning does not hide a standing stop; a lift of another id leaves the stop in force", () => {
    const events = [mark("stopped"), mark("warned", "monthly:2026-11:h.s")];
    expect(recordOf(events)).toMatchObject({ disposition: "blocked", budget: { state: "stopped" } });
    const otherLift = recordOf([mark("stopped"), mark("lifted", "monthly:2026-11:h.s")]);
    expect(otherLift).toMatchObject({
      disposition: "blocked",
      budget: { state: "stopped", id: "daily:2026-11-25:h.s", lifted: ["monthly:2026-11:h.s"] },
    });
  });

  it("a lift leaves a block set by someone else (a mark, no stop) alone", () => {
    const r = recordOf([{ type: "MARK", disposition: "blocked" }, mark("warned"), mark("lifted")]);
    expect(r).toMatchObject({ disposition: "blocked", budget: { state: "lifted" } });
  });

  it("maps the budget annotation to BUDGET and ignores a malformed mark", () => {
    const env: SessionEventEnvelope = {
      hostId: "host-a",
      threadId: "thr-1",
      epoch: "e",
      seq: 1,
      emittedAtMs: 9,
      type: "agent/annotation",
      payload: { kind: "budget", budget: mark("stopped").budget },
    };
    expect(sessionEventsOf(env)).toEqual([mark("stopped")]);
    const junk = { type: "BUDGET", budget: { state: "exploded" } } as unknown as SessionMachineEvent;
    expect(recordOf([mark("warned"), junk]).budget).toMatchObject({ state: "warned" });
    expect(SessionRecord.safeParse(recordOf([mark("stopped"), mark("lifted")])).success).toBe(true);
  });

  it("keeps at most 50 lifted ids, the newest", () => {
    const events = Array.from({ length: 55 }, (_, i) => [
      mark("stopped", `l${i}:total:h.s`),
      mark("lifted", `l${i}:total:h.s`),
    ]).flat();
    const lifted = recordOf(events).budget!.lifted;
    expect(lifted).toHaveLength(50);
    expect(lifted[0]).toBe("l5:total:h.s");
    expect(lifted.at(-1)).toBe("l54:total:h.s");
  });
});

describe("a snapshot persisted before metering and budgets", () => {
  it("restores with model, usage and budget null and meters on from there", () => {
    const live = createActor(sessionMachine, { input }).start();
    live.send({ type: "STATUS", status: { type: "idle" }, atMs: 1 });
    const persisted = JSON.parse(JSON.stringify(live.getPersistedSnapshot()));
    live.stop();
    for (const key of ["model", "usage", "budget", "tokenTotal"]) delete persisted.context[key];

    const restored = createActor(sessionMachine, { snapshot: persisted, input }).start();
    expect(sessionRecordOf(restored.getSnapshot())).toMatchObject({ model: null, usage: null, budget: null });
    restored.send(usageAt(counts(10, 0, 2, 0), 5));
    restored.send(usageAt(counts(30, 0, 4, 0), 6));
    restored.send(mark("stopped"));
    expect(sessionRecordOf(restored.getSnapshot())).toMatchObject({
      usage: { tokens: counts(30, 0, 4, 0) },
      budget: { state: "stopped", lifted: [] },
      disposition: "blocked",
    });
    restored.stop();

    // The registry's stepper restores it the same way.
    const stepper = createStepper(sessionMachine);
    let s = stepper.restore(persisted);
    for (const e of [usageAt(counts(10, 0, 2, 0), 5), usageAt(counts(30, 0, 4, 0), 6), mark("stopped")])
      s = stepper.step(s, e);
    expect(sessionRecordOf(s)).toEqual(sessionRecordOf(restored.getSnapshot()));
  });
});
