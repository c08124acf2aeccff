/**
 * Spend and budgets in what the Claw reads (issue 19): the budget-warning and budget-stopped wake lines (the
 * limit, the reason, what was spent, what to do next) and the spend lines of fleet_summarize. Pure.
 */
import { describe, expect, it } from "vitest";
import type { BudgetState, SessionUsage } from "../../schemas/budget.js";
import { type FleetEvent, type FleetKind, fleetPriorityOf } from "../../schemas/fleet.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { sessionRecord } from "../registry/test-records.js";
import { costText as dollars, tokensText as tokenCount } from "../clients/spend-text.js";
import { coalesce, noticeLine } from "./fleet-notices.js";
import { budgetStopped, sessionLine, spendLines, summarizeSessions } from "./summary.js";

const NOW = Date.parse("2026-12-03T12:00:00Z");
const TODAY = "2026-12-03";
const counts = (total: number) => ({ input: total - 10, cachedInput: 0, output: 10, reasoning: 0, total });

function usage(today: number, costToday: number | null, model = "gpt-5", total = today): SessionUsage {
  return {
    model,
    tokens: counts(total),
    costUsd: costToday === null ? null : costToday * (total / today),
    priced: costToday !== null,
    days: {
      "2026-12-02": { tokens: counts(5_000), costUsd: costToday === null ? null : 9 },
      [TODAY]: { tokens: counts(today), costUsd: costToday },
    },
  };
}
function budget(state: BudgetState["state"], over: Partial<BudgetState> = {}): BudgetState {
  return {
    state,
    id: `daily:${TODAY}:app`,
    limitId: "daily",
    periodKey: TODAY,
    reason: "group app used 1.2M tokens of 1M today",
    by: "policy",
    atMs: NOW,
    lifted: [],
    ...over,
  };
}
const rec = (sessionId: string, over: Partial<SessionRecord> = {}): SessionRecord =>
  sessionRecord({ host: "h1", sessionId, ...over });

let n = 0;
function notice(kind: FleetKind, session: SessionRecord): FleetEvent {
  return {
    id: `b${++n}`,
    kind,
    priority: fleetPriorityOf[kind],
    hostId: session.host,
    sessionId: session.sessionId,
    atMs: NOW,
    previousStatus: null,
    session,
    host: null,
  };
}

describe("budget notices in the Claw's context", () => {
  it("a stop names the limit, its period, the reason and the spend, and says what to do instead of retrying", () => {
    const s = rec("s1", {
      autonomous: true,
      disposition: "blocked",
      usage: usage(1_200_000, 4.12),
      budget: budget("stopped"),
    });
    const line = noticeLine(notice("budget-stopped", s));
    expect(line).toBe(
      'Codex fleet: session h1/s1 stopped by a budget (turn interrupted, marked blocked) [repo@main /work/repo, autonomous, idle] budget daily (2026-12-03): "group app used 1.2M tokens of 1M today"; spent 1.2M tokens ($4.12) (send, reply and spawn to it are refused (budget_exceeded): do not retry; an operator lifts it with claw-supervisor budget lift; fleet_escalate to people if it must go on)',
    );
    expect(fleetPriorityOf["budget-stopped"]).toBe("high");
  });

  it("a warning says the session goes on, points at fleet_budget, and says unpriced spend is unpriced", () => {
    const s = rec("s2", {
      humanAttached: true,
      usage: usage(812_000, null, "mystery", 1_500_000),
      budget: budget("warned", { limitId: "per-session", periodKey: "total", reason: "812k of 1M tokens (81%)" }),
    });
    const line = noticeLine(notice("budget-warning", s));
    expect(line).toContain("session h1/s2 near or over a budget [repo@main /work/repo, human-attached, idle]");
    expect(line).toContain(
      'budget per-session (whole session): "812k of 1M tokens (81%)"; spent 1.5M tokens (unpriced)',
    );
    expect(line).toMatch(/\(fleet_budget shows the use against each limit; .* a person's keeps working\)$/);
    // Two warnings of one session arriving together wake the Claw once, with the latest.
    const later = { ...s, budget: budget("warned", { limitId: "per-session", periodKey: "total", reason: "95%" }) };
    const [one, ...rest] = coalesce([notice("budget-warning", s), notice("budget-warning", later)]);
    expect(rest).toEqual([]);
    expect(one?.text).toMatch(/"95%".* ×2$/);
  });

  it("a notice of a session with no usage yet leaves the spend out; a reason is clipped and quoted", () => {
    const s = rec("s3", { budget: budget("stopped", { reason: `"quoted" ${"x".repeat(300)}` }) });
    const line = noticeLine(notice("budget-stopped", s));
    expect(line).not.toContain("spent");
    expect(line).toContain('budget daily (2026-12-03): "\\"quoted\\" xxx');
    expect(line).toMatch(/x…" \(send, reply/);
  });

  it("token counts and dollars in a few characters", () => {
    expect([0, 999, 1_000, 12_345, 99_949, 99_950, 999_499, 999_500, 1_234_567, 123_456_789].map(tokenCount)).toEqual([
      "0",
      "999",
      "1k",
      "12.3k",
      "99.9k",
      "100k",
      "999k",
      "1M",
      "1.2M",
      "123M",
    ]);
    expect([0, 0.0123, 4.125, 12].map(dollars)).toEqual(["$0", "$0.0123", "$4.13", "$12.00"]);
  });
});

describe("spend in fleet_summarize", () => {
  const fleet = [
    rec("a1", { group: "app", usage: usage(800_000, 3) }),
    rec("a2", { group: "app", usage: usage(400_000, 1.12) }),
    rec("d1", { group: "docs", usage: usage(12_000, null, "mystery") }),
    rec("n1", { usage: usage(5_000, 0.01) }),
    rec("old", {
      group: "web",
      usage: { ...usage(100, 1), days: { "2026-11-30": { tokens: counts(9_000), costUsd: 2 } } },
    }),
    rec("s1", {
      group: "app",
      autonomous: true,
      disposition: "blocked",
      budget: budget("stopped"),
      usage: usage(100, 0),
    }),
    rec("s2", { budget: budget("stopped", { lifted: [`daily:${TODAY}:app`] }) }),
    rec("w1", { budget: budget("warned") }),
    rec("w2", { budget: budget("warned") }),
  ];

  it("totals today's tokens and cost overall and by group, names the stopped sessions with why, and counts warnings", () => {
    expect(spendLines(fleet, NOW)).toEqual([
      "Spend today (2026-12-03 UTC): 1.2M tokens, $4.13 + unpriced; by group: app 1.2M $4.12, (no group) 5k $0.0100, docs 12k unpriced (no price for mystery)",
      "Stopped by a budget: h1/s1 (group app used 1.2M tokens of 1M today)",
      "Budget warnings: 2 sessions",
    ]);
    // Another day: what was spent that day only; a lifted stop stops nothing.
    expect(spendLines(fleet, Date.parse("2026-11-30T08:00:00Z"))[0]).toBe(
      "Spend today (2026-11-30 UTC): 9k tokens, $2.00; by group: web 9k $2.00",
    );
    expect(budgetStopped(fleet[6] as SessionRecord)).toBe(false);
    expect(spendLines([rec("quiet")], NOW)).toEqual([]);
  });

  it("names at most five groups and five stopped sessions, and says how many more", () => {
    const many = Array.from({ length: 8 }, (_, i) =>
      rec(`x${i}`, { group: `g${i}`, usage: usage(1_000 * (i + 1), 0.01 * (i + 1)), budget: budget("stopped") }),
    );
    const [spend, stopped] = spendLines(many, NOW);
    expect(spend).toMatch(/by group: g7 8k \$0\.0800, g6 .*, g3 4k \$0\.0400, 3 more$/);
    expect(stopped).toMatch(/^Stopped by a budget: h1\/x0 \(.*\); .*; h1\/x4 \(.*\); 3 more$/);
  });

  it("puts the spend after the counts, lists a stopped session among those needing attention, and stays bounded", () => {
    const s = summarizeSessions(fleet, {
      maxChars: 2_000,
      maxSessions: 20,
      title: "Fleet summary (all sessions)",
      spendAtMs: NOW,
    });
    const lines = s.text.split("\n");
    expect(lines[0]).toBe("Fleet summary (all sessions)");
    expect(lines[1]).toMatch(/^9 sessions: 9 idle$/);
    expect(lines[2]).toMatch(/^Spend today \(2026-12-03 UTC\): /);
    expect(lines[3]).toMatch(/^Stopped by a budget: /);
    expect(lines[4]).toBe("Budget warnings: 2 sessions");
    expect(lines[5]).toBe(sessionLine(fleet[5] as SessionRecord));
    expect(lines[5]).toMatch(/^- h1\/s1 idle, autonomous, blocked, group app, stopped by budget daily /);
    // Without spendAtMs (the heartbeat's summary) no spend lines.
    expect(summarizeSessions(fleet, { maxChars: 2_000, maxSessions: 20 }).text).not.toContain("Spend today");
    for (const maxChars of [200, 400]) {
      const bounded = summarizeSessions(fleet, { maxChars, maxSessions: 20, spendAtMs: NOW });
      expect(bounded.text.length).toBeLessThanOrEqual(maxChars);
    }
  });
});
