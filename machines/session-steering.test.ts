/** Steering: a supervisor steer, or a user message from someone else mid-turn, passes through `steering`. */
import { describe, expect, it } from "vitest";
import type { ThreadStatus } from "../schemas/codex/thread.js";
import { foldSession, type SessionMachineEvent } from "./session.js";

const input = { hostId: "host-a", threadId: "thr-1" };
const status = (s: ThreadStatus, atMs = 1): SessionMachineEvent => ({ type: "STATUS", status: s, atMs });
const item = (itemType: string, turnId = "turn-1", atMs = 5): SessionMachineEvent => ({
  type: "ITEM",
  turnId,
  itemType,
  atMs,
});
const running: SessionMachineEvent[] = [
  status({ type: "active", activeFlags: [] }),
  { type: "TURN_STARTED", turnId: "turn-1", atMs: 2 },
];
const valuesOf = (events: SessionMachineEvent[]): unknown[] => {
  const values: unknown[] = [];
  foldSession(events, input, (s) => values.push(s.value));
  return values;
};

describe("session steering", () => {
  it("steers on STEER_SENT and returns to active at the turn's next item", () => {
    const values = valuesOf([
      ...running,
      { type: "STEER_SENT", turnId: "turn-1", atMs: 3 },
      item("userMessage"),
      item("agentMessage"),
    ]);
    expect(values.slice(2)).toEqual(["steering", "steering", { active: "working" }]);
  });

  it("treats a user message after the agent's first item as someone else's steer", () => {
    const values = valuesOf([
      ...running,
      item("userMessage"),
      item("userMessage"),
      item("reasoning"),
      item("userMessage"),
      item("userMessage"),
      item("agentMessage"),
    ]);
    expect(values.slice(2)).toEqual([
      { active: "working" },
      { active: "working" },
      { active: "working" },
      "steering",
      "steering",
      { active: "working" },
    ]);
  });

  it("returns to the waiting substate it was steered from", () => {
    const events = [
      ...running,
      status({ type: "active", activeFlags: ["waitingOnUserInput"] }),
      { type: "STEER_SENT", turnId: "turn-1", atMs: 3 },
      item("agentMessage"),
    ] satisfies SessionMachineEvent[];
    expect(valuesOf(events).slice(3)).toEqual(["steering", { active: "waitingOnUserInput" }]);
  });

  it("leaves steering on a status change, a new turn, or the turn's end", () => {
    const steered = [...running, { type: "STEER_SENT", turnId: "turn-1", atMs: 3 }] satisfies SessionMachineEvent[];
    expect(
      foldSession([...steered, status({ type: "active", activeFlags: ["waitingOnApproval"] })], input).value,
    ).toEqual({ active: "waitingOnApproval" });
    expect(foldSession([...steered, { type: "TURN_STARTED", turnId: "turn-2", atMs: 4 }], input).value).toEqual({
      active: "working",
    });
    expect(
      foldSession([...steered, { type: "TURN_COMPLETED", turnId: "turn-1", status: "interrupted", atMs: 4 }], input)
        .value,
    ).toBe("interrupted");
    expect(foldSession([...steered, status({ type: "idle" }, 4)], input).value).toBe("idle");
  });

  it("stays steering through items of other turns", () => {
    expect(
      foldSession(
        [...running, { type: "STEER_SENT", turnId: "turn-1", atMs: 3 }, item("agentMessage", "turn-0")],
        input,
      ).value,
    ).toBe("steering");
  });

  it("adopts the steered turn when the active one was not known yet", () => {
    const snapshot = foldSession(
      [status({ type: "active", activeFlags: [] }), { type: "STEER_SENT", turnId: "turn-9", atMs: 3 }],
      input,
    );
    expect(snapshot.value).toBe("steering");
    expect(snapshot.context.activeTurnId).toBe("turn-9");
  });

  it("does not steer an idle or unknown session: a steer there failed closed", () => {
    expect(foldSession([{ type: "STEER_SENT", turnId: "turn-1", atMs: 3 }], input).value).toBe("unknown");
    expect(
      foldSession([status({ type: "idle" }), { type: "STEER_SENT", turnId: "turn-1", atMs: 3 }], input).value,
    ).toBe("idle");
  });
});
