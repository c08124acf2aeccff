import { describe, expect, it } from "vitest";
import {
  Budgets,
  type BudgetsInput,
  type BudgetState,
  type PriceTable,
  type SessionUsage,
  ZERO_TOKENS,
  priceSessionUsage,
} from "../../schemas/budget.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { sessionRecord } from "../registry/test-records.js";
import {
  budgetReport,
  budgetStopId,
  dueActions,
  evaluateBudgets,
  periodSpend,
  spawnRefusal,
  stopReasonOf,
} from "./budget.js";

const PRICES: PriceTable = { "gpt-test": { inputPerMTokUsd: 1, cachedInputPerMTokUsd: 0.5, outputPerMTokUsd: 10 } };
const budgets = (b: BudgetsInput): Budgets => Budgets.parse({ prices: PRICES, ...b });

/** Usage of `model` with `byDay` tokens (half input, half output) per UTC day, priced by PRICES. */
function usage(model: string | null, byDay: Record<string, number>): SessionUsage {
  const tok = (n: number) => ({ ...ZERO_TOKENS, input: n / 2, output: n / 2, total: n });
  const days: SessionUsage["days"] = {};
  let total = 0;
  for (const [day, n] of Object.entries(byDay)) {
    days[day] = { tokens: tok(n), costUsd: null };
    total += n;
  }
  return priceSessionUsage({ model, tokens: tok(total), costUsd: null, priced: false, days }, PRICES);
}

const rec = (sessionId: string, over: Partial<SessionRecord> = {}): SessionRecord =>
  sessionRecord({ host: "h1", sessionId, ...over });

const lifted = (ids: string[]): BudgetState => ({
  state: "lifted",
  id: ids.at(-1)!,
  limitId: "x",
  periodKey: "total",
  reason: "",
  by: "alice",
  atMs: 1,
  lifted: ids,
});

const JAN5 = Date.parse("2026-01-05T12:00:00Z");
const JAN6 = Date.parse("2026-01-06T00:00:01Z");
const FEB1 = Date.parse("2026-02-01T00:00:01Z");

describe("spend in a period", () => {
  it("takes the whole usage for total, one day's entry for a day, the month's days for a month", () => {
    const u = usage("gpt-test", { "2026-01-04": 1_000, "2026-01-05": 2_000, "2025-12-31": 4_000 });
    expect(periodSpend(u, "total")).toEqual({ tokens: 7_000, costUsd: u.costUsd, unpricedTokens: 0 });
    expect(periodSpend(u, "2026-01-05")).toEqual({ tokens: 2_000, costUsd: 0.011, unpricedTokens: 0 });
    expect(periodSpend(u, "2026-01")).toEqual({ tokens: 3_000, costUsd: 0.0165, unpricedTokens: 0 });
    expect(periodSpend(u, "2026-02")).toEqual({ tokens: 0, costUsd: 0, unpricedTokens: 0 });
    expect(periodSpend(null, "total")).toEqual({ tokens: 0, costUsd: 0, unpricedTokens: 0 });
  });

  it("counts a model with no price in tokens only", () => {
    expect(periodSpend(usage("mystery", { "2026-01-05": 500 }), "2026-01-05")).toEqual({
      tokens: 500,
      costUsd: 0,
      unpricedTokens: 500,
    });
  });
});

describe("evaluating budgets", () => {
  it("states ok, warning at warnAt and over at the limit, per session scope", () => {
    const b = budgets({ limits: [{ id: "per", maxTokens: 1_000 }] });
    const ev = evaluateBudgets(
      b,
      [
        rec("a", { autonomous: true, usage: usage("gpt-test", { "2026-01-05": 500 }) }),
        rec("b", { autonomous: true, usage: usage("gpt-test", { "2026-01-05": 800 }) }),
        rec("c", { autonomous: true, usage: usage("gpt-test", { "2026-01-05": 1_000 }) }),
      ],
      JAN5,
    );
    expect(ev.uses.map((u) => [u.scopeKey, u.state, u.fraction])).toEqual([
      ["h1.a", "ok", 0.5],
      ["h1.b", "warning", 0.8],
      ["h1.c", "over", 1],
    ]);
    expect(ev.sessions.get("h1.a")).toBeUndefined();
    expect(ev.sessions.get("h1.b")).toMatchObject({
      stop: null,
      warn: { state: "warned", mark: { id: "per:total:h1.b", by: "policy", reason: expect.stringMatching(/at 80%/) } },
    });
    expect(ev.sessions.get("h1.c")).toMatchObject({
      warn: null,
      stop: {
        state: "stopped",
        mark: {
          id: "per:total:h1.c",
          limitId: "per",
          periodKey: "total",
          reason: "over budget 'per' (session total, session h1.c): 1,000 of 1,000 tokens",
        },
      },
    });
  });

  it("warns a person's session over the limit instead of stopping it, unless the limit has stopPeople", () => {
    const records = [
      rec("person", { humanAttached: true, usage: usage("gpt-test", { "2026-01-05": 2_000 }) }),
      rec("bot", { autonomous: true, usage: usage("gpt-test", { "2026-01-05": 2_000 }) }),
    ];
    const ev = evaluateBudgets(budgets({ limits: [{ id: "cap", maxTokens: 1_000 }] }), records, JAN5);
    expect(ev.sessions.get("h1.person")).toMatchObject({
      stop: null,
      warn: { state: "warned", mark: { reason: expect.stringMatching(/a person's session is warned, not stopped/) } },
    });
    expect(ev.sessions.get("h1.bot")).toMatchObject({ stop: { state: "stopped" } });
    const strict = evaluateBudgets(
      budgets({ limits: [{ id: "cap", maxTokens: 1_000, stopPeople: true }] }),
      records,
      JAN5,
    );
    expect(strict.sessions.get("h1.person")).toMatchObject({ stop: { state: "stopped" }, warn: null });
  });

  it("shares a group-scope limit among the covered sessions of a group; sessions without a group share ''", () => {
    const b = budgets({
      limits: [{ id: "team", scope: "group", period: "day", target: { autonomous: true }, maxTokens: 1_000 }],
    });
    const records = [
      rec("a", { group: "red", autonomous: true, usage: usage("gpt-test", { "2026-01-05": 600 }) }),
      rec("b", { group: "red", autonomous: true, usage: usage("gpt-test", { "2026-01-05": 500 }) }),
      // Not covered (a person's session): its spend does not count, nor is it stopped.
      rec("p", { group: "red", usage: usage("gpt-test", { "2026-01-05": 5_000 }) }),
      rec("x", { group: "blue", autonomous: true, usage: usage("gpt-test", { "2026-01-05": 600 }) }),
      rec("n", { autonomous: true, usage: usage("gpt-test", { "2026-01-05": 100 }) }),
    ];
    const ev = evaluateBudgets(b, records, JAN5);
    expect(ev.uses.map((u) => [u.scopeKey, u.tokens, u.sessions, u.state])).toEqual([
      ["red", 1_100, 2, "over"],
      ["blue", 600, 1, "ok"],
      ["", 100, 1, "ok"],
    ]);
    const id = budgetStopId("team", "2026-01-05", "red");
    expect(ev.sessions.get("h1.a")?.stop?.mark.id).toBe(id);
    expect(ev.sessions.get("h1.b")?.stop?.mark.id).toBe(id);
    expect(ev.sessions.get("h1.p")).toBeUndefined();
    expect(ev.sessions.get("h1.x")).toBeUndefined();
  });

  it("rolls over with the UTC day and month: yesterday's spend no longer counts against a day limit", () => {
    const b = budgets({
      limits: [
        { id: "daily", period: "day", maxTokens: 1_000 },
        { id: "monthly", period: "month", maxTokens: 2_500 },
      ],
    });
    const r = rec("a", { autonomous: true, usage: usage("gpt-test", { "2026-01-05": 1_500, "2026-01-04": 1_000 }) });
    const jan5 = evaluateBudgets(b, [r], JAN5);
    expect(jan5.uses.map((u) => [u.limitId, u.periodKey, u.tokens, u.state])).toEqual([
      ["daily", "2026-01-05", 1_500, "over"],
      ["monthly", "2026-01", 2_500, "over"],
    ]);
    // The first limit in document order stops it.
    expect(jan5.sessions.get("h1.a")?.stop?.mark.id).toBe("daily:2026-01-05:h1.a");
    const jan6 = evaluateBudgets(b, [r], JAN6);
    expect(jan6.uses.map((u) => [u.periodKey, u.tokens, u.state])).toEqual([
      ["2026-01-06", 0, "ok"],
      ["2026-01", 2_500, "over"],
    ]);
    expect(jan6.sessions.get("h1.a")?.stop?.mark.id).toBe("monthly:2026-01:h1.a");
    const feb1 = evaluateBudgets(b, [r], FEB1);
    expect(feb1.uses.map((u) => [u.periodKey, u.state])).toEqual([
      ["2026-02-01", "ok"],
      ["2026-02", "ok"],
    ]);
    expect(feb1.sessions.size).toBe(0);
  });

  it("flags a dollar limit's cost as null when some spend has no price, and still counts the priced part", () => {
    const b = budgets({ limits: [{ id: "usd", scope: "group", maxCostUsd: 0.01 }] });
    const records = [
      rec("a", { group: "g", autonomous: true, usage: usage("gpt-test", { "2026-01-05": 2_000 }) }), // $0.011
      rec("b", { group: "g", autonomous: true, usage: usage("mystery", { "2026-01-05": 1_000_000 }) }),
    ];
    const ev = evaluateBudgets(b, records, JAN5);
    expect(ev.uses).toEqual([
      expect.objectContaining({ scopeKey: "g", tokens: 1_002_000, costUsd: null, maxCostUsd: 0.01, state: "over" }),
    ]);
    expect(ev.uses[0]!.fraction).toBeCloseTo(1.1);
    expect(ev.sessions.get("h1.b")?.stop?.mark.reason).toMatch(
      /\$0\.0110 of \$0\.0100 \(and 1,000,000 tokens of a model with no price\)/,
    );
    // A token limit's cost stays the priced part (informational).
    const tokens = evaluateBudgets(budgets({ limits: [{ id: "t", maxTokens: 10_000_000 }] }), records, JAN5);
    expect(tokens.uses.map((u) => u.costUsd)).toEqual([0.011, 0]);
  });

  it("does not stop (or warn) again for a stop lifted in the record or known lifted beyond it", () => {
    const b = budgets({ limits: [{ id: "cap", maxTokens: 1_000 }] });
    const over = usage("gpt-test", { "2026-01-05": 2_000 });
    const ev = evaluateBudgets(
      b,
      [
        rec("a", { autonomous: true, usage: over, budget: lifted(["cap:total:h1.a"]) }),
        rec("b", { autonomous: true, usage: over }),
        rec("c", { autonomous: true, usage: over }),
      ],
      JAN5,
      (key) => (key === "h1.b" ? new Set(["cap:total:h1.b"]) : undefined),
    );
    expect([...ev.sessions.keys()]).toEqual(["h1.c"]);
    expect(ev.liftedAnywhere).toEqual(new Set(["cap:total:h1.a", "cap:total:h1.b"]));
  });

  it("matches targets on the record's fields (group, host, repo, autonomous, humanAttached)", () => {
    const b = budgets({ limits: [{ id: "repo-x", target: { repo: "x", humanAttached: false }, maxTokens: 10 }] });
    const u = usage("gpt-test", { "2026-01-05": 100 });
    const ev = evaluateBudgets(
      b,
      [
        rec("a", { repo: "x", autonomous: true, usage: u }),
        rec("b", { repo: "y", autonomous: true, usage: u }),
        rec("c", { repo: "x", humanAttached: true, usage: u }),
        rec("d", { repo: null, autonomous: true, usage: u }),
      ],
      JAN5,
    );
    expect(ev.uses.map((x) => x.scopeKey)).toEqual(["h1.a"]);
  });
});

describe("what the watcher owes", () => {
  const b = budgets({ limits: [{ id: "cap", maxTokens: 1_000 }] });
  const over = usage("gpt-test", { "2026-01-05": 2_000 });
  const near = usage("gpt-test", { "2026-01-05": 900 });
  const shown = (state: BudgetState["state"], id: string): BudgetState => ({
    state,
    id,
    limitId: "cap",
    periodKey: "total",
    reason: "r",
    by: "policy",
    atMs: 1,
    lifted: [],
  });

  it("writes a stop not yet in the record, and interrupts the running turn", () => {
    const actions = dueActions(
      evaluateBudgets(b, [rec("a", { autonomous: true, usage: over, activeTurnId: "t1" })], JAN5),
    );
    expect(actions).toEqual([
      expect.objectContaining({
        key: "h1.a",
        write: expect.objectContaining({ state: "stopped", id: "cap:total:h1.a" }),
        interruptTurnId: "t1",
      }),
    ]);
  });

  it("writes nothing the record shows, but still names a stopped session's running turn", () => {
    const id = "cap:total:h1.a";
    expect(
      dueActions(evaluateBudgets(b, [rec("a", { autonomous: true, usage: over, budget: shown("stopped", id) })], JAN5)),
    ).toEqual([]);
    expect(
      dueActions(
        evaluateBudgets(
          b,
          [rec("a", { autonomous: true, usage: over, budget: shown("stopped", id), activeTurnId: "t2" })],
          JAN5,
        ),
      ),
    ).toEqual([expect.objectContaining({ write: null, interruptTurnId: "t2" })]);
    expect(
      dueActions(evaluateBudgets(b, [rec("a", { autonomous: true, usage: near, budget: shown("warned", id) })], JAN5)),
    ).toEqual([]);
  });

  it("turns a warning into a stop (same id, new state), and never replaces a stop with a warning", () => {
    const id = "cap:total:h1.a";
    expect(
      dueActions(evaluateBudgets(b, [rec("a", { autonomous: true, usage: over, budget: shown("warned", id) })], JAN5)),
    ).toEqual([expect.objectContaining({ write: expect.objectContaining({ state: "stopped", id }) })]);
    expect(
      dueActions(
        evaluateBudgets(b, [rec("a", { autonomous: true, usage: near, budget: shown("stopped", "old:x:h1.a") })], JAN5),
      ),
    ).toEqual([]);
  });

  it("warns a person's session (no interrupt)", () => {
    const actions = dueActions(
      evaluateBudgets(b, [rec("p", { humanAttached: true, usage: over, activeTurnId: "t" })], JAN5),
    );
    expect(actions).toEqual([
      expect.objectContaining({ write: expect.objectContaining({ state: "warned" }), interruptTurnId: null }),
    ]);
  });
});

describe("refusals", () => {
  const b = budgets({
    limits: [{ id: "team", scope: "group", period: "day", target: { group: "red" }, maxTokens: 1_000 }],
  });
  const over = usage("gpt-test", { "2026-01-05": 2_000 });

  it("refuses commands to a session its record shows stopped, or the evaluation stops, unless lifted", () => {
    const ev = evaluateBudgets(b, [rec("a", { group: "red", autonomous: true, usage: over })], JAN5);
    const id = budgetStopId("team", "2026-01-05", "red");
    expect(stopReasonOf({ budget: null }, ev.sessions.get("h1.a"))).toMatchObject({ id, limitId: "team" });
    expect(stopReasonOf({ budget: null }, ev.sessions.get("h1.a"), new Set([id]))).toBeNull();
    expect(stopReasonOf({ budget: lifted([id]) }, ev.sessions.get("h1.a"))).toBeNull();
    const stopped: BudgetState = { ...lifted([]), state: "stopped", id: "old", reason: "over budget 'old'" };
    expect(stopReasonOf({ budget: stopped }, undefined)).toEqual({
      id: "old",
      limitId: "x",
      reason: "over budget 'old'",
    });
    expect(stopReasonOf({ budget: null }, undefined)).toBeNull();
  });

  it("refuses a spawn into a group over a group-scope limit covering it, until lifted on one of its sessions", () => {
    const ev = evaluateBudgets(b, [rec("a", { group: "red", autonomous: true, usage: over })], JAN5);
    expect(spawnRefusal(b, ev, "red")).toMatchObject({
      id: "team:2026-01-05:red",
      reason: expect.stringMatching(/over budget 'team' \(day 2026-01-05, group red\): 2,000 of 1,000 tokens/),
    });
    expect(spawnRefusal(b, ev, "blue")).toBeNull();
    expect(spawnRefusal(b, ev, null)).toBeNull();
    const afterLift = evaluateBudgets(
      b,
      [rec("a", { group: "red", autonomous: true, usage: over, budget: lifted(["team:2026-01-05:red"]) })],
      JAN5,
    );
    expect(spawnRefusal(b, afterLift, "red")).toBeNull();
    // The next day the group starts afresh.
    expect(
      spawnRefusal(b, evaluateBudgets(b, [rec("a", { group: "red", autonomous: true, usage: over })], JAN6), "red"),
    ).toBeNull();
  });

  it("does not refuse a spawn for a limit that covers only people's sessions or sessions on another host", () => {
    const people = budgets({
      limits: [{ id: "p", scope: "group", target: { humanAttached: true }, maxTokens: 1 }],
    });
    const r = rec("a", { group: "red", humanAttached: true, usage: over });
    expect(spawnRefusal(people, evaluateBudgets(people, [r], JAN5), "red")).toBeNull();
    const onH2 = budgets({ limits: [{ id: "h", scope: "group", target: { host: "h1" }, maxTokens: 1 }] });
    const ev = evaluateBudgets(onH2, [rec("a", { group: "red", autonomous: true, usage: over })], JAN5);
    expect(spawnRefusal(onH2, ev, "red", "h2")).toBeNull();
    expect(spawnRefusal(onH2, ev, "red", "h1")).not.toBeNull();
  });
});

describe("the budget report", () => {
  const records = [
    rec("a", { group: "red", autonomous: true, usage: usage("gpt-test", { "2026-01-05": 2_000, "2026-01-04": 10 }) }),
    rec("b", { group: "red", usage: usage("mystery", { "2026-01-05": 300 }) }),
    rec("c", { usage: usage("gpt-test", { "2026-01-04": 50 }) }),
    rec("d", { group: "blue" }),
  ];

  it("totals tokens and cost by group for a day, flags unpriced spend, and works with no limits", () => {
    const report = budgetReport(undefined, records, JAN5);
    expect(report).toEqual({
      day: "2026-01-05",
      limits: [],
      groups: [{ group: "red", day: "2026-01-05", tokens: 2_300, costUsd: 0.011, unpriced: true, sessions: 2 }],
      stopped: [],
      unpricedModels: ["mystery"],
    });
    expect(budgetReport(undefined, records, JAN5, { day: "2026-01-04" }).groups).toEqual([
      { group: "", day: "2026-01-04", tokens: 50, costUsd: 0.000275, unpriced: false, sessions: 1 },
      { group: "red", day: "2026-01-04", tokens: 10, costUsd: 0.000055, unpriced: false, sessions: 1 },
    ]);
  });

  it("lists uses with spend or at a threshold and the sessions stopped now; narrows to a group", () => {
    const b = budgets({ limits: [{ id: "cap", maxTokens: 1_000 }] });
    const report = budgetReport(b, records, JAN5);
    expect(report.limits.map((u) => [u.scopeKey, u.state])).toEqual([
      ["h1.a", "over"],
      ["h1.b", "ok"],
      ["h1.c", "ok"],
    ]);
    expect(report.stopped).toEqual([
      {
        hostId: "h1",
        sessionId: "a",
        reason: "over budget 'cap' (session total, session h1.a): 2,010 of 1,000 tokens",
      },
    ]);
    const blue = budgetReport(b, records, JAN5, { group: "blue" });
    expect(blue).toMatchObject({ limits: [], groups: [], stopped: [] });
  });
});
