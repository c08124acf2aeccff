/**
 * The held approvals alone (the real-codex path is in test/e2e/approvals.test.ts): the first answer wins, a
 * second is a conflict, an unknown one not_found, several held need a name, the deadline declines, and a request
 * resolved elsewhere is let go unanswered (and says so), every hold goes with the app-server connection, and each
 * hold has its own random id, never the app-server's (which a restarted app-server reuses). The deadline's timer
 * is the test's own, fired by hand.
 */
import { describe, expect, it } from "vitest";
import { leaveToOwner } from "../codex-rpc/index.js";
import { ApprovalHolds, type HeldAnswer, type HeldApproval } from "./approval-holds.js";

const operator = { id: "erin@box", role: "operator" as const };
const claw = { id: "claw-1", role: "claw" as const };

function rig() {
  const answered: { held: HeldApproval; answer: HeldAnswer }[] = [];
  const released: { held: HeldApproval; why: string }[] = [];
  const timers = new Map<number, () => void>();
  let next = 0;
  const holds = new ApprovalHolds({
    onAnswered: (held, answer) => void answered.push({ held, answer }),
    onReleased: (held, why) => void released.push({ held, why }),
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
  return { holds, answered, released, timers, hold };
}

describe("ApprovalHolds", () => {
  it("the first answer wins and goes to the app-server; a second is a conflict, an unknown id not_found", async () => {
    const { holds, answered, hold, timers } = rig();
    const { outcome, held } = hold("t1", 7);
    expect(held).toMatchObject({
      requestId: expect.stringMatching(/^[0-9a-f]{8}$/),
      rawId: 7,
      atMs: 1_000,
      deadlineAtMs: 6_000,
    });
    const id = held.requestId;
    expect(holds.list("t1")).toHaveLength(1);
    // The app-server's own id names nothing: only the hold's id does.
    expect(holds.answer("t1", "7", "accept", operator)).toMatchObject({ ok: false, code: "not_found" });
    expect(holds.answer("t1", id, "accept", operator)).toEqual({
      ok: true,
      data: {
        requestId: id,
        decision: "accept",
        method: "item/commandExecution/requestApproval",
        summary: "git push",
      },
    });
    expect(await outcome).toEqual({ decision: "accept" });
    expect(answered).toEqual([
      {
        held: expect.objectContaining({ threadId: "t1", requestId: id }),
        answer: {
          decision: "accept",
          by: { kind: "caller", caller: operator },
          reason: "accepted by operator erin@box",
        },
      },
    ]);
    expect(timers.size).toBe(0);
    expect(holds.answer("t1", id, "decline", claw)).toMatchObject({
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
    const second = hold("t1", 2);
    hold("t2", 3);
    expect(holds.answer("t1", undefined, "accept", claw)).toMatchObject({
      ok: false,
      code: "invalid",
      message: expect.stringContaining(`2 approvals held (${first.held.requestId}, ${second.held.requestId})`),
    });
    expect(holds.answer("t1", first.held.requestId, "decline", claw)).toMatchObject({ ok: true });
    expect(await first.outcome).toEqual({ decision: "decline" });
    expect(holds.answer("t1", undefined, "accept", claw)).toMatchObject({
      ok: true,
      data: { requestId: second.held.requestId },
    });
  });

  it("declines at the deadline and says so; an answer after it is a conflict", async () => {
    const { holds, answered, hold, timers } = rig();
    const { outcome, held } = hold("t1", 4, 90_000);
    expect(timers.size).toBe(1);
    for (const fire of timers.values()) fire();
    expect(await outcome).toEqual({ decision: "decline" });
    expect(answered[0]?.answer).toEqual({
      decision: "decline",
      by: { kind: "deadline" },
      reason: expect.stringMatching(/nobody answered within 90 s/),
    });
    expect(holds.answer("t1", held.requestId, "accept", operator)).toMatchObject({ code: "conflict" });
  });

  it("a request held again while held shares the first hold; one resolved elsewhere is let go unanswered, and says why", async () => {
    const { holds, answered, released, hold, timers } = rig();
    const a = hold("t1", 5);
    const again = hold("t1", 5);
    expect(again.fresh).toBe(false);
    expect(again.held.requestId).toBe(a.held.requestId);
    expect(timers.size).toBe(1);
    expect(holds.resolved("t1", 5)).toBe(true);
    expect(await a.outcome).toBe(leaveToOwner);
    expect(await again.outcome).toBe(leaveToOwner);
    expect(answered).toEqual([]);
    expect(released).toEqual([
      {
        held: expect.objectContaining({ requestId: a.held.requestId, rawId: 5 }),
        why: expect.stringMatching(/resolved/),
      },
    ]);
    expect(holds.resolved("t1", 5)).toBe(false);
    expect(timers.size).toBe(0);
    const b = hold("t1", 6);
    expect(holds.releaseThread("t1", "its turn ended")).toBe(1);
    expect(await b.outcome).toBe(leaveToOwner);
    expect(released.at(-1)).toMatchObject({ held: { requestId: b.held.requestId }, why: "its turn ended" });
    expect(holds.answer("t1", b.held.requestId, "accept", operator)).toMatchObject({
      code: "conflict",
      message: expect.stringContaining("its turn ended"),
    });
  });

  it('keeps the app-server\'s ids apart by type: 3 and "3" are two requests', () => {
    const { holds, hold } = rig();
    const n = hold("t1", 3);
    const s = hold("t1", "3");
    expect(s.fresh).toBe(true);
    expect(s.held.requestId).not.toBe(n.held.requestId);
    expect(holds.resolved("t1", "3")).toBe(true);
    expect(holds.list("t1")).toEqual([expect.objectContaining({ rawId: 3, requestId: n.held.requestId })]);
  });

  it("lets every hold go with the app-server connection: a late answer to the old one cannot reach a new request with the same app-server id", async () => {
    const { holds, answered, released, hold, timers } = rig();
    const old = hold("t1", 0);
    const other = hold("t2", 1);
    expect(holds.releaseAll("let go when the app-server connection was lost")).toBe(2);
    expect(await old.outcome).toBe(leaveToOwner);
    expect(await other.outcome).toBe(leaveToOwner);
    expect(released.map((r) => r.held.requestId)).toEqual([old.held.requestId, other.held.requestId]);
    expect(timers.size).toBe(0);
    // The restarted app-server numbers its requests from 0 again: a different request, held afresh.
    const fresh = hold("t1", 0);
    expect(fresh.fresh).toBe(true);
    expect(fresh.held.requestId).not.toBe(old.held.requestId);
    expect(holds.answer("t1", old.held.requestId, "accept", operator)).toMatchObject({
      ok: false,
      code: "conflict",
      message: expect.stringContaining("app-server connection was lost"),
    });
    expect(holds.list("t1")).toEqual([expect.objectContaining({ requestId: fresh.held.requestId })]);
    expect(answered).toEqual([]);
    // The old hold's deadline is gone with it: only the new hold's timer is left, and it answers the new one.
    expect(timers.size).toBe(1);
    for (const fire of timers.values()) fire();
    expect(answered).toEqual([
      expect.objectContaining({ held: expect.objectContaining({ requestId: fresh.held.requestId }) }),
    ]);
    expect(await fresh.outcome).toEqual({ decision: "decline" });
  });

  it("stop() lets everything go and says so; an id in use is never handed out again", () => {
    const ids = ["aaaa0001", "aaaa0001", "aaaa0002"];
    const released: string[] = [];
    const holds = new ApprovalHolds({
      onAnswered: () => undefined,
      onReleased: (h, why) => void released.push(`${h.requestId}: ${why}`),
      newId: () => ids.shift() ?? "zzzz0000",
      setTimer: () => 0,
      clearTimer: () => undefined,
    });
    const req = {
      threadId: "t1",
      method: "item/commandExecution/requestApproval" as const,
      kind: "command",
      summary: "x",
    };
    expect(holds.hold({ ...req, rawId: 1 }, 1_000).held.requestId).toBe("aaaa0001");
    expect(holds.hold({ ...req, rawId: 2 }, 1_000).held.requestId).toBe("aaaa0002");
    holds.stop();
    expect(released).toEqual([
      "aaaa0001: let go when the host agent stopped",
      "aaaa0002: let go when the host agent stopped",
    ]);
    expect(holds.list()).toEqual([]);
  });
});
