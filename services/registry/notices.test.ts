import { describe, expect, it } from "vitest";
import { envelopeNotices, hostNotices, noticeJson, recordJson, sessionNotices } from "./notices.js";
import { sessionRecord } from "./test-records.js";

const cause = { atMs: 50, token: "e:7" };
const base = sessionRecord({ host: "h1", sessionId: "s1" });
const kinds = (prev: typeof base | undefined, next: typeof base) =>
  sessionNotices(prev, next, cause).map((n) => [n.kind, n.priority]);

describe("fleet notices for supervisor-set facts", () => {
  it("announces a handoff, with high priority, once per handoff", () => {
    const handoff = { to: { kind: "session" as const, sessionId: "s2" }, note: "", by: "claw:c1", atMs: 40 };
    const handed = { ...base, handoff };
    expect(kinds(base, handed)).toEqual([["session-handoff", "high"]]);
    expect(kinds(handed, { ...handed })).toEqual([]);
    expect(kinds(handed, { ...handed, handoff: { ...handoff, atMs: 41 } })).toEqual([["session-handoff", "high"]]);
  });

  it("announces a changed group or owner, and a mark", () => {
    expect(kinds(base, { ...base, group: "release" })).toEqual([["session-assigned", "normal"]]);
    expect(kinds(base, { ...base, owner: "erin" })).toEqual([["session-assigned", "normal"]]);
    expect(kinds(base, { ...base, disposition: "done" })).toEqual([["session-marked", "normal"]]);
  });

  it("announces an escalation, with high priority, once per escalation (its acceptance is no new one)", () => {
    const escalation = {
      id: "esc-1",
      fromGroup: "web",
      toGroup: "leads",
      reason: "stuck",
      question: null,
      by: "claw:w1",
      atMs: 40,
      acceptedBy: null,
      acceptedAtMs: null,
    };
    const escalated = { ...base, escalation };
    expect(kinds(base, escalated)).toEqual([["session-escalated", "high"]]);
    expect(kinds(escalated, { ...base, escalation: { ...escalation, acceptedBy: "boss", acceptedAtMs: 41 } })).toEqual(
      [],
    );
    expect(kinds(escalated, { ...base, escalation: { ...escalation, id: "esc-2", toGroup: null } })).toEqual([
      ["session-escalated", "high"],
    ]);
  });

  it("gives each notice an id from its cause, so a redelivered event stores it once", () => {
    const [a] = sessionNotices(base, { ...base, owner: "erin" }, cause);
    const [b] = sessionNotices(base, { ...base, owner: "erin" }, cause);
    expect(a!.id).toBe(b!.id);
    expect(a!.id).toContain("e:7");
  });
});

describe("budget notices (issue 19)", () => {
  const mark = (state: "warned" | "stopped" | "lifted", id = "daily:2026-11-25:h1.s1", lifted: string[] = []) => ({
    state,
    id,
    limitId: "daily",
    periodKey: "2026-11-25",
    reason: `${state}: 80% of the daily budget`,
    by: state === "lifted" ? "operator:erin" : "policy",
    atMs: 40,
    lifted,
  });

  it("announces a warning, with high priority, once per id and state", () => {
    const warned = { ...base, budget: mark("warned") };
    expect(kinds(base, warned)).toEqual([["budget-warning", "high"]]);
    expect(kinds(warned, { ...warned, budget: { ...mark("warned") } })).toEqual([]);
    expect(kinds(warned, { ...warned, summary: "later" })).toEqual([]);
    expect(kinds(warned, { ...base, budget: mark("warned", "monthly:2026-11:h1.s1") })).toEqual([
      ["budget-warning", "high"],
    ]);
    expect(kinds(undefined, warned)).toEqual([
      ["session-new", "high"],
      ["budget-warning", "high"],
    ]);
  });

  it("announces a stop, with high priority, once per id (the block it sets is a mark as well)", () => {
    const warned = { ...base, budget: mark("warned") };
    const stopped = { ...base, disposition: "blocked" as const, budget: mark("stopped") };
    expect(kinds(warned, stopped)).toEqual([
      ["session-marked", "normal"],
      ["budget-stopped", "high"],
    ]);
    expect(kinds(stopped, { ...stopped, budget: { ...mark("stopped") } })).toEqual([]);
    const [notice] = sessionNotices(warned, stopped, cause).filter((n) => n.kind === "budget-stopped");
    expect(notice).toMatchObject({ id: "fleet:budget-stopped:h1:s1:e:7", session: { budget: { state: "stopped" } } });
  });

  it("says nothing for a lift", () => {
    const stopped = { ...base, disposition: "blocked" as const, budget: mark("stopped") };
    const lifted = { ...base, budget: mark("lifted", "daily:2026-11-25:h1.s1", ["daily:2026-11-25:h1.s1"]) };
    expect(kinds(stopped, lifted)).toEqual([]);
  });
});

describe("notice JSON", () => {
  it("is JSON.stringify's text for every layout, sharing the record text when it was made already", () => {
    const next = { ...base, status: "idle" as const, owner: "erin", summary: 'say "hi"\n' };
    const made = recordJson(next);
    expect(made).toBe(JSON.stringify(next));
    const notices = [
      ...sessionNotices(undefined, next, cause),
      ...sessionNotices({ ...base, status: "active" }, next, cause),
      ...hostNotices(
        undefined,
        {
          hostId: "h1",
          status: "stale",
          hostname: null,
          agentVersion: null,
          appServer: null,
          lastHeartbeatAt: 1,
          connectedAt: 1,
          sessions: 1,
        },
        60,
      ),
      ...envelopeNotices(
        {
          hostId: "h1",
          threadId: "s1",
          epoch: "e",
          seq: 8,
          emittedAtMs: 70,
          type: "agent/approval",
          payload: {
            requestId: 5,
            method: "item/commandExecution/requestApproval",
            state: "answered",
            allow: true,
            by: { kind: "rule" },
            reason: "ok",
          },
        },
        next,
      ),
    ];
    expect(notices.map((n) => n.kind)).toEqual([
      "session-new",
      "session-idle",
      "session-assigned",
      "host-stale",
      "approval-answered",
    ]);
    for (const n of notices) expect(noticeJson(n)).toBe(JSON.stringify(n));
  });
});
