/**
 * `approve` on the host agent (answerHeld): who may answer a held approval there. A session the supervisor did
 * not start is not the agent's to answer (not_found, or denied should it hold one); a person's TUI attached, or
 * not knowable, makes it theirs (denied); without the app-server nothing can be answered (host_offline); else
 * the held request is answered. Real ApprovalHolds; the rest are the test's own switches.
 */
import { describe, expect, it } from "vitest";
import type { HostRpcRequest } from "../../schemas/host-rpc.js";
import { ApprovalHolds } from "./approval-holds.js";
import { answerHeld, type AnswerHeldOptions } from "./approval-owner.js";

const operator = { id: "erin@box", role: "operator" as const };

function rig() {
  const holds = new ApprovalHolds({
    onAnswered: () => undefined,
    setTimer: () => 0,
    clearTimer: () => undefined,
  });
  const state = {
    autonomous: new Set(["t-auto"]),
    attached: new Set<string>(),
    attachedThrows: false,
    connected: true,
  };
  const opts: AnswerHeldOptions = {
    hostId: "h1",
    autonomous: { isAutonomous: (id) => state.autonomous.has(id) },
    humanAttached: (id) => {
      if (state.attachedThrows) throw new Error("presence unreadable");
      return state.attached.has(id);
    },
    connected: () => state.connected,
    holds,
  };
  const hold = (threadId: string) =>
    holds.hold(
      { threadId, rawId: 1, method: "item/commandExecution/requestApproval", kind: "command", summary: "git push" },
      60_000,
    );
  const approve = (threadId: string, requestId?: string): Extract<HostRpcRequest, { op: "approve" }> => ({
    op: "approve",
    threadId,
    ...(requestId === undefined ? {} : { requestId }),
    decision: "accept",
    by: operator,
  });
  return { holds, state, opts, hold, approve };
}

describe("answerHeld: the host agent's side of approve", () => {
  it("answers a held approval of an autonomous session nobody's TUI owns", async () => {
    const { opts, hold, approve } = rig();
    const { held, outcome } = hold("t-auto");
    expect(answerHeld(opts, approve("t-auto", held.requestId))).toMatchObject({
      ok: true,
      data: { requestId: held.requestId, decision: "accept" },
    });
    expect(await outcome).toEqual({ decision: "accept" });
  });

  it("a session the supervisor did not start is not_found (denied should it somehow hold one)", () => {
    const { state, opts, hold, approve } = rig();
    expect(answerHeld(opts, approve("t-tui"))).toMatchObject({
      ok: false,
      code: "not_found",
      message: expect.stringMatching(/was not started by the supervisor on host h1/),
    });
    const { held } = hold("t-auto");
    state.autonomous.delete("t-auto");
    expect(answerHeld(opts, approve("t-auto", held.requestId))).toMatchObject({ ok: false, code: "denied" });
  });

  it("a person's TUI attached makes it theirs: denied, and the hold stays for them", () => {
    const { state, opts, holds, hold, approve } = rig();
    const { held } = hold("t-auto");
    state.attached.add("t-auto");
    expect(answerHeld(opts, approve("t-auto", held.requestId))).toMatchObject({
      ok: false,
      code: "denied",
      message: expect.stringMatching(/a person's TUI is attached/),
    });
    expect(holds.list("t-auto")).toHaveLength(1);
  });

  it("presence that cannot be read counts as a person there: denied, never a throw", () => {
    const { state, opts, hold, approve } = rig();
    const { held } = hold("t-auto");
    state.attachedThrows = true;
    expect(answerHeld(opts, approve("t-auto", held.requestId))).toMatchObject({ ok: false, code: "denied" });
  });

  it("without the app-server nothing is answered: host_offline", () => {
    const { state, opts, holds, hold, approve } = rig();
    const { held } = hold("t-auto");
    state.connected = false;
    expect(answerHeld(opts, approve("t-auto", held.requestId))).toMatchObject({ ok: false, code: "host_offline" });
    expect(holds.list("t-auto")).toHaveLength(1);
  });
});
