/**
 * The held approvals alone (the real-codex path is in test/e2e/approvals.test.ts): the first answer wins, a
 * second is a conflict, an unknown one not_found, several held need a name, the deadline declines, and a request
 * resolved elsewhere is let go unanswered. The deadline's timer is the test's own, fired by hand.
 */
import { describe, expect, it } from "vitest";
import { leaveToOwner } from "../codex-rpc/index.js";
import { ApprovalHolds, type HeldAnswer, type HeldApproval } from "./approval-holds.js";

const operator = { id: "erin@box", role: "operator" as const };
const claw = { id: "claw-1", role: "claw" as const };

function rig() {
  const answered: { held: HeldApproval; answer: HeldAnswer }[] = [];
  const timers = new Map<number, () => void>();
  let next = 0;
  const holds = new ApprovalHolds({
    onAnswered: (held, answer) => void answered.push({ held, answer }),
    now: () => 1_000,
    setTimer: (fn) => {
      timers.set(++next, fn);
      return next;
    },
    clearTimer: (h) => void timers.delete(h as number),
  });
  const hold = (threadId: string, rawId: number | string, deadlineMs = 5_000) =>
    holds.hold(
      { threadId, rawId, method: "item/commandExecution/requestApproval", kind: "command", summary: "git push" },
      deadlineMs,
    );
  return { holds, answered, timers, hold };
}

describe("ApprovalHolds", () => {
  it("the first answer wins and goes to the app-server; a second is a conflict, an unknown id not_found", async () => {
    const { holds, answered, hold, timers } = rig();
    const { outcome, held } = hold("t1", 7);
    expect(held).toMatchObject({ requestId: "7", atMs: 1_000, deadlineAtMs: 6_000 });
    expect(holds.list("t1")).toHaveLength(1);
    expect(holds.answer("t1", "7", "accept", operator)).toEqual({
      ok: true,
      data: {
        requestId: "7",
        decision: "accept",
        method: "item/commandExecution/requestApproval",
        summary: "git push",
      },
    });
    expect(await outcome).toEqual({ decision: "accept" });
    expect(answered).toEqual([
      {
        held: expect.objectContaining({ threadId: "t1", requestId: "7" }),
        answer: {
          decision: "accept",
          by: { kind: "caller", caller: operator },
          reason: "accepted by operator erin@box",
        },
      },
    ]);
    expect(timers.size).toBe(0);
    expect(holds.answer("t1", "7", "decline", claw)).toMatchObject({
      ok: false,
      code: "conflict",
      message: expect.stringMatching(/already accepted \(by operator erin@box\)/),
    });
    expect(holds.answer("t1", "8", "decline", claw)).toMatchObject({ ok: false, code: "not_found" });
    expect(holds.answer("t2", undefined, "decline", claw)).toMatchObject({ ok: false, code: "not_found" });
    expect(answered).toHaveLength(1);
  });

  it("answers the only held request of a session when none is named; with several, asks for the id", async () => {
    const { holds, hold } = rig();
    const first = hold("t1", 1);
    hold("t1", 2);
    hold("t2", 3);
    expect(holds.answer("t1", undefined, "accept", claw)).toMatchObject({
      ok: false,
      code: "invalid",
      message: expect.stringMatching(/2 approvals held \(1, 2\)/),
    });
    expect(holds.answer("t1", "1", "decline", claw)).toMatchObject({ ok: true });
    expect(await first.outcome).toEqual({ decision: "decline" });
    expect(holds.answer("t1", undefined, "accept", claw)).toMatchObject({ ok: true, data: { requestId: "2" } });
  });

  it("declines at the deadline and says so; an answer after it is a conflict", async () => {
    const { holds, answered, hold, timers } = rig();
    const { outcome } = hold("t1", 4, 90_000);
    expect(timers.size).toBe(1);
    for (const fire of timers.values()) fire();
    expect(await outcome).toEqual({ decision: "decline" });
    expect(answered[0]?.answer).toEqual({
      decision: "decline",
      by: { kind: "deadline" },
      reason: expect.stringMatching(/nobody answered within 90 s/),
    });
    expect(holds.answer("t1", "4", "accept", operator)).toMatchObject({ code: "conflict" });
  });

  it("a request held again (replayed after a reconnect) shares the first hold; one resolved elsewhere is let go unanswered", async () => {
    const { holds, answered, hold, timers } = rig();
    const a = hold("t1", 5);
    const again = hold("t1", 5);
    expect(again.fresh).toBe(false);
    expect(timers.size).toBe(1);
    expect(holds.resolved("t1", 5)).toBe(true);
    expect(await a.outcome).toBe(leaveToOwner);
    expect(await again.outcome).toBe(leaveToOwner);
    expect(answered).toEqual([]);
    expect(timers.size).toBe(0);
    const b = hold("t1", 6);
    expect(holds.releaseThread("t1", "its turn ended")).toBe(1);
    expect(await b.outcome).toBe(leaveToOwner);
    expect(holds.answer("t1", "6", "accept", operator)).toMatchObject({
      code: "conflict",
      message: expect.stringContaining("its turn ended"),
    });
  });
});
