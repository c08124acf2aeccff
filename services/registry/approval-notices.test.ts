/**
 * Approval notices from the registry's fold: `approval-requested` (high) when a session's record gains a held
 * approval, `approval-answered` (normal, carrying the answer) for every answer a host agent reports, also when
 * the record does not change (an answer by the rules to a request never held); ids come from the event, so a
 * replay yields the same notices.
 */
import { describe, expect, it } from "vitest";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import { approvalAuditRecord } from "../policy/approval-audit.js";
import { FleetState } from "./fleet-state.js";

const options = { degradedAfterMs: 10_000, offlineAfterMs: 20_000, staleAfterMs: 30_000 };
const approval = (seq: number, payload: Record<string, unknown>): SessionEventEnvelope => ({
  hostId: "h1",
  threadId: "t1",
  epoch: "e1",
  seq,
  emittedAtMs: 1_000 + seq,
  type: "agent/approval",
  payload: { method: "item/commandExecution/requestApproval", requestId: 5, allow: false, reason: "r", ...payload },
});
const events: SessionEventEnvelope[] = [
  {
    hostId: "h1",
    threadId: "t1",
    epoch: "e1",
    seq: 0,
    emittedAtMs: 1_000,
    type: "turn/started",
    payload: { threadId: "t1", turn: { id: "u1", items: [], status: "inProgress" } },
  },
  approval(1, { requestId: 3, reason: "no allowed prefix" }),
  approval(2, { state: "held", kind: "command", summary: "git push", atMs: 1_002, deadlineAtMs: 61_002 }),
  approval(3, {
    state: "answered",
    allow: true,
    reason: "accepted",
    by: { kind: "caller", caller: { id: "erin", role: "operator" } },
  }),
];

function fold(): ReturnType<FleetState["takeNotices"]> {
  const state = new FleetState(options);
  for (const e of events) state.applyEnvelope(e);
  return state.takeNotices().filter((n) => n.kind.startsWith("approval-"));
}

describe("approval notices", () => {
  it("announce a held approval (high) and every answer (normal, with who answered), the same on a replay", () => {
    const notices = fold();
    expect(notices.map((n) => [n.kind, n.priority, n.id])).toEqual([
      ["approval-answered", "normal", "fleet:approval-answered:h1:t1:e1:1"],
      ["approval-requested", "high", "fleet:approval-requested:h1:t1:e1:2"],
      ["approval-answered", "normal", "fleet:approval-answered:h1:t1:e1:3"],
    ]);
    expect(notices[0]!.answer).toEqual({
      requestId: "3",
      method: "item/commandExecution/requestApproval",
      decision: "decline",
      by: { kind: "rule" },
      reason: "no allowed prefix",
      kind: null,
      summary: null,
    });
    expect(notices[1]!.session?.approval).toEqual({
      requestId: "5",
      kind: "command",
      summary: "git push",
      atMs: 1_002,
      deadlineAtMs: 61_002,
    });
    expect(notices[2]).toMatchObject({
      answer: { requestId: "5", decision: "accept", by: { kind: "caller", caller: { id: "erin", role: "operator" } } },
      session: { approval: null },
    });
    expect(fold()).toEqual(notices);
  });

  it("a held approval let go unanswered (released) clears the record and is announced and audited as released, the same on a replay", () => {
    const released: SessionEventEnvelope[] = [
      events[0]!,
      approval(1, {
        requestId: "a1b2c3d4",
        state: "held",
        kind: "command",
        summary: "git push",
        atMs: 1_001,
        deadlineAtMs: 61_001,
      }),
      approval(2, {
        requestId: "a1b2c3d4",
        state: "released",
        reason: "let go when the app-server connection was lost",
        kind: "command",
        summary: "git push",
      }),
    ];
    const run = () => {
      const state = new FleetState(options);
      for (const e of released) state.applyEnvelope(e);
      return state.takeNotices().filter((n) => n.kind.startsWith("approval-"));
    };
    const notices = run();
    expect(notices.map((n) => n.kind)).toEqual(["approval-requested", "approval-answered"]);
    expect(notices[1]).toMatchObject({
      session: { approval: null },
      answer: {
        requestId: "a1b2c3d4",
        decision: "released",
        reason: "let go when the app-server connection was lost",
        summary: "git push",
      },
    });
    expect(approvalAuditRecord(notices[1]!)).toMatchObject({
      kind: "approval",
      caller: { id: "host-agent:h1", role: "host" },
      decision: null,
      detail: { state: "released", requestId: "a1b2c3d4", reason: "let go when the app-server connection was lost" },
    });
    expect(approvalAuditRecord(notices[0]!)).toMatchObject({ decision: null, detail: { state: "held" } });
    expect(run()).toEqual(notices);
  });
});
