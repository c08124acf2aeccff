import { describe, expect, it } from "vitest";
import type { SessionRecord } from "../../schemas/registry.js";
import { sessionRecord } from "../registry/test-records.js";
import { attentionReasons, isWaiting, needsAttention } from "./attention.js";

const rec = (over: Partial<SessionRecord>): SessionRecord =>
  sessionRecord({ host: "h1", sessionId: "s1", lastSeenAt: 1_000, ...over });

describe("why a session needs a person", () => {
  it("needs nobody when idle, active, or closed with nothing pending", () => {
    for (const status of ["idle", "active", "steering", "interrupted", "closed"] as const) {
      expect(attentionReasons(rec({ status }))).toEqual([]);
      expect(needsAttention(rec({ status }))).toBe(false);
    }
  });

  it("names a held approval with its request id and deadline", () => {
    const approval = { requestId: "7", kind: "command", summary: "rm -rf build", atMs: 2_000, deadlineAtMs: 9_000 };
    expect(attentionReasons(rec({ status: "active", waitingOn: "approval", approval }))).toEqual([
      { needs: "approval", sinceMs: 2_000, detail: "command: rm -rf build", requestId: "7", deadlineAtMs: 9_000 },
    ]);
  });

  it("names an approval or input a session waits on, saying when a person's TUI answers it", () => {
    expect(attentionReasons(rec({ status: "active", waitingOn: "approval", humanAttached: true }))).toEqual([
      { needs: "approval", sinceMs: 1_000, detail: "an approval at the person's TUI" },
    ]);
    expect(attentionReasons(rec({ status: "active", waitingOn: "userInput" }))).toEqual([
      { needs: "input", sinceMs: 1_000, detail: "input" },
    ]);
  });

  it("names an unanswered ask with its correlation id", () => {
    const ask = { correlationId: "ask-1", kind: "decision", question: "merge or rebase?", atMs: 3_000 };
    expect(attentionReasons(rec({ ask }))).toEqual([
      { needs: "ask", sinceMs: 3_000, detail: "decision: merge or rebase?", correlationId: "ask-1" },
    ]);
  });

  it("names an escalation that reached people until a Claw accepts it or the session is finished", () => {
    const escalation = {
      id: "esc-1",
      fromGroup: "leads",
      toGroup: null,
      reason: "ask unanswered for 10 min",
      question: "merge or rebase?",
      by: "deadline",
      atMs: 5_000,
      acceptedBy: null,
      acceptedAtMs: null,
    };
    expect(attentionReasons(rec({ escalation }))).toEqual([
      {
        needs: "escalated",
        sinceMs: 5_000,
        detail: "ask unanswered for 10 min: merge or rebase? (escalated from group leads by deadline)",
      },
    ]);
    expect(attentionReasons(rec({ escalation: { ...escalation, toGroup: "leads" } }))).toEqual([]);
    expect(attentionReasons(rec({ escalation: { ...escalation, acceptedBy: "boss", acceptedAtMs: 6_000 } }))).toEqual(
      [],
    );
    expect(attentionReasons(rec({ escalation, disposition: "done" }))).toEqual([]);
    expect(needsAttention(rec({ escalation }))).toBe(true);
  });

  it("names a handoff request until the session is marked done or abandoned", () => {
    const handoff = {
      to: { kind: "human" as const, who: "erin" },
      note: "needs a DB password",
      by: "claw",
      atMs: 4_000,
    };
    expect(attentionReasons(rec({ handoff }))).toEqual([
      { needs: "handoff", sinceMs: 4_000, detail: "to a person (erin) by claw: needs a DB password" },
    ]);
    expect(attentionReasons(rec({ handoff, disposition: "blocked" }))).toHaveLength(1);
    expect(attentionReasons(rec({ handoff, disposition: "done" }))).toEqual([]);
    expect(attentionReasons(rec({ handoff, disposition: "abandoned" }))).toEqual([]);
  });

  it("names a budget's stop until it is lifted or the session is finished; a warning needs nobody", () => {
    const budget = {
      state: "stopped" as const,
      id: "auto-day:2025-03-01:h1.s1",
      limitId: "auto-day",
      periodKey: "2025-03-01",
      reason: "used 120,000 of 100,000 tokens today",
      by: "policy",
      atMs: 5_000,
      lifted: [],
    };
    expect(attentionReasons(rec({ budget, disposition: "blocked" }))).toEqual([
      {
        needs: "budget",
        sinceMs: 5_000,
        detail: "limit auto-day (2025-03-01): used 120,000 of 100,000 tokens today",
      },
    ]);
    expect(needsAttention(rec({ budget, disposition: "blocked" }))).toBe(true);
    expect(isWaiting(rec({ budget, disposition: "blocked" }))).toBe(false);
    expect(attentionReasons(rec({ budget: { ...budget, state: "warned" } }))).toEqual([]);
    expect(attentionReasons(rec({ budget: { ...budget, state: "lifted", by: "olga" } }))).toEqual([]);
    expect(attentionReasons(rec({ budget: { ...budget, lifted: [budget.id] } }))).toEqual([]);
    expect(attentionReasons(rec({ budget, disposition: "done" }))).toEqual([]);
    const ask = { correlationId: "a", kind: "help", question: "?", atMs: 1 };
    const handoff = { to: { kind: "human" as const, who: null }, note: "", by: "claw", atMs: 4_000 };
    expect(attentionReasons(rec({ budget, ask, handoff })).map((r) => r.needs)).toEqual(["ask", "budget", "handoff"]);
  });

  it("names an error and a stale or unknown status, unless the session is finished", () => {
    expect(attentionReasons(rec({ status: "error", summary: "model refused" }))).toEqual([
      { needs: "error", sinceMs: 1_000, detail: "model refused" },
    ]);
    expect(attentionReasons(rec({ status: "stale" }))).toEqual([
      { needs: "stale", sinceMs: 1_000, detail: "status stale" },
    ]);
    expect(attentionReasons(rec({ status: "unknown" }))[0]?.needs).toBe("stale");
    expect(attentionReasons(rec({ status: "stale", disposition: "done" }))).toEqual([]);
    // What still blocks a finished session stays.
    const ask = { correlationId: "a", kind: "help", question: "?", atMs: 1 };
    expect(attentionReasons(rec({ status: "stale", disposition: "done", ask })).map((r) => r.needs)).toEqual(["ask"]);
  });

  it("lists several reasons in a fixed order, and 'waiting' means approval, input or ask", () => {
    const ask = { correlationId: "a", kind: "help", question: "?", atMs: 1 };
    const r = rec({ status: "stale", waitingOn: "userInput", ask });
    expect(attentionReasons(r).map((x) => x.needs)).toEqual(["input", "ask", "stale"]);
    expect(isWaiting(r)).toBe(true);
    expect(isWaiting(rec({ status: "stale" }))).toBe(false);
    expect(isWaiting(rec({ status: "error" }))).toBe(false);
  });
});
