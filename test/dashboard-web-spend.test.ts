/**
 * The dashboard page's spend and budget words (issue 19, services/dashboard/web/spend.ts and notice-list.ts): the
 * fleet's cost cell (dollars with tokens on hover; tokens and a `?` naming the missing price; `-` before any usage;
 * a budget warning or stop under it), the session view's lines, and the notices feed's filter and tones.
 */
import { describe, expect, it } from "vitest";
import type { BudgetState, SessionUsage } from "../schemas/budget.js";
import type { NoticeRow } from "../schemas/dashboard.js";
import type { SessionRecord } from "../schemas/registry.js";
import { sessionRecord } from "../services/registry/test-records.js";
import { filterNotices, noticePriority, noticeSessionKey, noticeTone } from "../services/dashboard/web/notice-list.js";
import {
  budgetLiftCommand,
  budgetLine,
  compactTokens,
  periodText,
  spendCell,
  tokensAndCost,
  tokensBreakdown,
  usdText,
} from "../services/dashboard/web/spend.js";

const NOW = Date.UTC(2025, 2, 1, 12, 0, 0);
const tokens = (input: number, cachedInput: number, output: number, reasoning = 0) => ({
  input,
  cachedInput,
  output,
  reasoning,
  total: input + output,
});
const usage = (over: Partial<SessionUsage> = {}): SessionUsage => ({
  model: "gpt-5",
  tokens: tokens(10_000, 2_000, 2_345, 300),
  costUsd: 0.0123,
  priced: true,
  days: {
    "2025-02-28": { tokens: tokens(8_000, 2_000, 945), costUsd: 0.0023 },
    "2025-03-01": { tokens: tokens(2_000, 0, 1_400), costUsd: 0.01 },
  },
  ...over,
});
const rec = (over: Partial<SessionRecord>): SessionRecord => sessionRecord({ host: "h1", sessionId: "s1", ...over });
const stop: BudgetState = {
  state: "stopped",
  id: "auto-day:2025-03-01:h1.s1",
  limitId: "auto-day",
  periodKey: "2025-03-01",
  reason: "used 12,345 of 10,000 tokens today",
  by: "policy",
  atMs: NOW - 60_000,
  lifted: [],
};

describe("numbers as the fleet shows them", () => {
  it("counts tokens in a few characters, rounding up into the next unit", () => {
    expect(compactTokens(0)).toBe("0");
    expect(compactTokens(950)).toBe("950");
    expect(compactTokens(1_000)).toBe("1k");
    expect(compactTokens(1_500)).toBe("1.5k");
    expect(compactTokens(12_345)).toBe("12.3k");
    expect(compactTokens(123_456)).toBe("123k");
    expect(compactTokens(999_999)).toBe("1M");
    expect(compactTokens(4_560_000)).toBe("4.56M");
    expect(compactTokens(2_000_000_000)).toBe("2G");
  });

  it("shows dollars with four decimals under a dollar and two from one", () => {
    expect(usdText(0)).toBe("$0.00");
    expect(usdText(0.00004)).toBe("<$0.0001");
    expect(usdText(0.0123)).toBe("$0.0123");
    expect(usdText(0.012345)).toBe("$0.0123");
    expect(usdText(12.345)).toBe("$12.35");
    expect(usdText(1234.5)).toBe("$1,234.50");
  });

  it("breaks tokens down into in, cached, out and reasoning, leaving out what is zero", () => {
    expect(tokensBreakdown(tokens(10_000, 2_000, 2_345, 300))).toBe(
      "12,345 tokens: 10,000 in (2,000 cached), 2,345 out (300 reasoning)",
    );
    expect(tokensBreakdown(tokens(1, 0, 0))).toBe("1 token: 1 in, 0 out");
    expect(tokensAndCost(3_400, 0.01, "gpt-5")).toBe("3,400 tokens · $0.0100");
    expect(tokensAndCost(3_400, null, "mystery")).toBe("3,400 tokens · ? no price for mystery");
    expect(tokensAndCost(3_400, null, null)).toBe("3,400 tokens · ? no price: model unknown");
  });
});

describe("the fleet's cost cell", () => {
  it("is '-' before any usage", () => {
    const c = spendCell(rec({}), NOW);
    expect(c).toMatchObject({ kind: "none", main: "-", flag: "", sub: "", budget: null });
    expect(c.title).toBe("No token usage reported yet");
  });

  it("shows the cost, the tokens under it, and the whole story with today's on hover", () => {
    const c = spendCell(rec({ model: "gpt-5", usage: usage() }), NOW);
    expect(c).toMatchObject({ kind: "priced", main: "$0.0123", flag: "", sub: "12.3k tok", budget: null });
    expect(c.title.split("\n")).toEqual([
      "12,345 tokens: 10,000 in (2,000 cached), 2,345 out (300 reasoning)",
      "model gpt-5",
      "cost $0.0123",
      "today: 3,400 tokens · $0.0100",
    ]);
    // Another day: nothing today.
    expect(spendCell(rec({ usage: usage() }), Date.UTC(2025, 2, 2)).title).toContain("today: nothing");
  });

  it("shows tokens and a '?' naming the missing price for a model the table lacks", () => {
    const u = usage({ model: "mystery-1", costUsd: null, priced: false, days: {} });
    const c = spendCell(rec({ model: "mystery-1", usage: u }), NOW);
    expect(c).toMatchObject({
      kind: "unpriced",
      main: "12.3k tok",
      flag: "no price for mystery-1",
      sub: "no price for mystery-1",
    });
    expect(c.title).toContain("cost: ? no price for mystery-1");
    // The usage's model is unknown: the record's is used; neither known: said so.
    expect(spendCell(rec({ model: "m2", usage: { ...u, model: null } }), NOW).flag).toBe("no price for m2");
    expect(spendCell(rec({ usage: { ...u, model: null } }), NOW).flag).toBe("no price: model unknown");
  });

  it("puts a budget stop or warning under the cost (the reason on hover), never a lifted one", () => {
    const stopped = spendCell(rec({ usage: usage(), budget: stop, disposition: "blocked" }), NOW);
    expect(stopped).toMatchObject({ kind: "priced", main: "$0.0123", sub: "stopped by budget", budget: "stopped" });
    expect(stopped.title).toContain("stopped by budget auto-day (day 2025-03-01): used 12,345 of 10,000 tokens today");
    const warned = spendCell(rec({ usage: usage(), budget: { ...stop, state: "warned" } }), NOW);
    expect(warned).toMatchObject({ sub: "budget warning", budget: "warned" });
    const lifted = spendCell(rec({ usage: usage(), budget: { ...stop, state: "lifted", by: "olga" } }), NOW);
    expect(lifted).toMatchObject({ sub: "12.3k tok", budget: null });
    // A stop with no usage on the record still shows.
    expect(spendCell(rec({ budget: stop }), NOW)).toMatchObject({ main: "-", sub: "stopped by budget" });
  });
});

describe("the session view's budget line", () => {
  it("says the state, the limit, its period and why; a lift says by whom", () => {
    expect(periodText("total")).toBe("the whole session");
    expect(periodText("2025-03")).toBe("month 2025-03");
    expect(budgetLine(stop)).toBe("stopped by budget auto-day (day 2025-03-01): used 12,345 of 10,000 tokens today");
    expect(budgetLine({ ...stop, state: "warned", reason: "" })).toBe("budget warning auto-day (day 2025-03-01)");
    expect(budgetLine({ ...stop, state: "lifted", by: "olga", periodKey: "total" })).toBe(
      "stop by budget auto-day (the whole session) lifted by olga: used 12,345 of 10,000 tokens today",
    );
    expect(budgetLiftCommand("0a1b2c3d", "h1")).toBe("claw-supervisor budget lift h1/0a1b2c3d");
  });
});

describe("the notices feed", () => {
  const notice = (seq: number, kind: string, sessionId: string | null = "s1"): NoticeRow => ({
    seq,
    kind,
    hostId: "h1",
    sessionId,
    text: `h1/s1 ${kind}`,
    atMs: NOW,
  });
  const feed = [
    notice(5, "budget-stopped"),
    notice(4, "session-idle"),
    notice(3, "budget-warning"),
    notice(2, "host-stale", null),
    notice(1, "some-future-kind"),
  ];

  it("keeps every notice, the high priority ones, or the budget ones, newest first as given", () => {
    expect(filterNotices(feed, "all").map((n) => n.seq)).toEqual([5, 4, 3, 2, 1]);
    expect(filterNotices(feed, "high").map((n) => n.seq)).toEqual([5, 3, 2]);
    expect(filterNotices(feed, "budget").map((n) => n.seq)).toEqual([5, 3]);
  });

  it("tints a budget stop as an error and a warning as high priority; links session notices only", () => {
    expect(noticePriority("budget-stopped")).toBe("high");
    expect(noticePriority("budget-warning")).toBe("high");
    expect(noticePriority("some-future-kind")).toBe("normal");
    expect(noticeTone("budget-stopped")).toBe("error");
    expect(noticeTone("budget-warning")).toBe("needs");
    expect(noticeTone("session-idle")).toBe("idle");
    expect(noticeSessionKey(notice(1, "budget-stopped"))).toBe("h1.s1");
    expect(noticeSessionKey(notice(1, "host-stale", null))).toBeNull();
  });
});
