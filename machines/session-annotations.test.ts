/** Group, owner and handoff: set by the supervisor through `agent/annotation` events, kept through everything else. */
import { describe, expect, it } from "vitest";
import { annotationEnvelope } from "../test/support/envelopes.js";
import { sessionEventsOf } from "./from-bus.js";
import { foldSession, sessionRecordOf, type SessionMachineEvent } from "./session.js";

const input = { hostId: "host-a", threadId: "thr-1" };
const idle: SessionMachineEvent = { type: "STATUS", status: { type: "idle" }, atMs: 1 };
const handoff = {
  to: { kind: "human" as const, who: "dana" },
  note: "needs a product call",
  by: "operator:erin",
  atMs: 5,
};
const envelope = annotationEnvelope;

describe("session annotations", () => {
  it("assigns a group and an owner; a field left out stays, null clears it", () => {
    const both = foldSession([idle, { type: "ASSIGN", group: "release", owner: "erin" }], input);
    expect(sessionRecordOf(both)).toMatchObject({ group: "release", owner: "erin", status: "idle", lastSeenAt: 1 });
    const ownerOnly = foldSession(
      [idle, { type: "ASSIGN", group: "release", owner: "erin" }, { type: "ASSIGN", owner: null }],
      input,
    );
    expect(sessionRecordOf(ownerOnly)).toMatchObject({ group: "release", owner: null });
  });

  it("ignores an assign whose values are not text", () => {
    const bogus = { type: "ASSIGN", group: 42 } as unknown as SessionMachineEvent;
    expect(sessionRecordOf(foldSession([{ type: "ASSIGN", group: "g" }, bogus], input)).group).toBe("g");
  });

  it("records the latest handoff and keeps it through turns and staleness", () => {
    const events = [
      idle,
      { type: "HANDOFF", handoff },
      { type: "TURN_STARTED", turnId: "turn-1", atMs: 6 },
      { type: "TURN_COMPLETED", turnId: "turn-1", status: "completed", atMs: 7 },
      { type: "STALE", atMs: 8 },
    ] satisfies SessionMachineEvent[];
    expect(sessionRecordOf(foldSession(events, input))).toMatchObject({ status: "stale", handoff });
  });

  it("maps agent/annotation envelopes to MARK, ASSIGN and HANDOFF, and a malformed one to activity", () => {
    expect(sessionEventsOf(envelope({ kind: "mark", disposition: "done" }))).toEqual([
      { type: "MARK", disposition: "done" },
    ]);
    expect(sessionEventsOf(envelope({ kind: "assign", owner: "erin" }))).toEqual([{ type: "ASSIGN", owner: "erin" }]);
    expect(sessionEventsOf(envelope({ kind: "handoff", handoff }))).toEqual([{ type: "HANDOFF", handoff }]);
    expect(sessionEventsOf(envelope({ kind: "mark", disposition: "finished" }))).toEqual([
      { type: "ACTIVITY", atMs: 9 },
    ]);
  });

  it("reads a snapshot persisted before owner and handoff existed as null", () => {
    const snapshot = foldSession([idle], input);
    const { owner: _o, handoff: _h, ...old } = snapshot.context;
    expect(sessionRecordOf({ ...snapshot, context: old } as typeof snapshot)).toMatchObject({
      owner: null,
      handoff: null,
    });
  });
});
