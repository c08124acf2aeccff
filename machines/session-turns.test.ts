/** Turn starts and completions: the active turn id, `interrupted` as an idle that remembers, and stray completions. */
import { describe, expect, it } from "vitest";
import type { ThreadStatus, TurnStatus } from "../schemas/codex/thread.js";
import { foldSession, sessionRecordOf, type SessionMachineEvent } from "./session.js";

const input = { hostId: "host-a", threadId: "thr-1" };
const status = (s: ThreadStatus, atMs = 1): SessionMachineEvent => ({ type: "STATUS", status: s, atMs });
const started = (turnId: string, atMs = 2): SessionMachineEvent => ({ type: "TURN_STARTED", turnId, atMs });
const completed = (turnId: string, s: TurnStatus, atMs = 9): SessionMachineEvent => ({
  type: "TURN_COMPLETED",
  turnId,
  status: s,
  atMs,
});
/** The order codex 0.169.0 sends for one turn (see docs/codex-app-server.md). */
const turn = (turnId: string, end: TurnStatus): SessionMachineEvent[] => [
  status({ type: "active", activeFlags: [] }),
  started(turnId),
  { type: "ITEM", turnId, itemType: "userMessage", atMs: 3 },
  { type: "ITEM", turnId, itemType: "agentMessage", atMs: 4 },
  status({ type: "idle" }, 8),
  completed(turnId, end),
];

describe("session turns", () => {
  it("learns the active turn from turn/started, from idle or unknown alike", () => {
    for (const before of [[], [status({ type: "idle" })]]) {
      const record = sessionRecordOf(foldSession([...before, started("turn-1")], input));
      expect(record).toMatchObject({ status: "active", activeTurnId: "turn-1", waitingOn: null });
    }
  });

  it("keeps a waiting substate when turn/started arrives after the status", () => {
    const snapshot = foldSession(
      [status({ type: "active", activeFlags: ["waitingOnApproval"] }), started("turn-1")],
      input,
    );
    expect(snapshot.value).toEqual({ active: "waitingOnApproval" });
    expect(snapshot.context.activeTurnId).toBe("turn-1");
  });

  it("ends a completed turn idle with no active turn", () => {
    const record = sessionRecordOf(foldSession(turn("turn-1", "completed"), input));
    expect(record).toMatchObject({ status: "idle", activeTurnId: null, lastSeenAt: 9 });
  });

  it("ends a failed turn idle too: systemError, not the turn, says the thread is broken", () => {
    expect(foldSession(turn("turn-1", "failed"), input).value).toBe("idle");
  });

  it("ends an interrupted turn in interrupted, even though idle came first", () => {
    const record = sessionRecordOf(foldSession(turn("turn-1", "interrupted"), input));
    expect(record).toMatchObject({ status: "interrupted", activeTurnId: null });
  });

  it("goes straight from active to interrupted or idle when the idle status was missed", () => {
    expect(foldSession([started("turn-1"), completed("turn-1", "interrupted")], input).value).toBe("interrupted");
    expect(foldSession([started("turn-1"), completed("turn-1", "completed")], input).value).toBe("idle");
  });

  it("stays interrupted through idle statuses, items and activity, and leaves on the next turn", () => {
    const after = [
      ...turn("turn-1", "interrupted"),
      status({ type: "idle" }, 10),
      { type: "ITEM", turnId: "turn-1", itemType: "agentMessage", atMs: 11 },
      { type: "ACTIVITY", atMs: 12 },
    ] satisfies SessionMachineEvent[];
    expect(foldSession(after, input).value).toBe("interrupted");
    expect(foldSession([...after, status({ type: "active", activeFlags: [] }, 13)], input).value).toEqual({
      active: "working",
    });
    expect(foldSession([...after, started("turn-2", 13)], input).context.activeTurnId).toBe("turn-2");
    expect(foldSession([...after, ...turn("turn-2", "completed")], input).value).toBe("idle");
  });

  it("ignores the completion of another turn than the active one", () => {
    const snapshot = foldSession([started("turn-2"), completed("turn-1", "interrupted")], input);
    expect(snapshot.value).toEqual({ active: "working" });
    expect(snapshot.context.activeTurnId).toBe("turn-2");
  });

  it("clears the turn but keeps error and closed when a turn completes there", () => {
    for (const s of [{ type: "systemError" }, { type: "notLoaded" }] as const) {
      const snapshot = foldSession([started("turn-1"), status(s, 3), completed("turn-1", "failed")], input);
      expect(snapshot.value).toBe(s.type === "systemError" ? "error" : "closed");
      expect(snapshot.context.activeTurnId).toBeNull();
    }
  });

  it("counts items only as signs of life outside a turn", () => {
    const snapshot = foldSession(
      [status({ type: "idle" }), { type: "ITEM", turnId: "turn-0", itemType: "agentMessage", atMs: 7 }],
      input,
    );
    expect(snapshot.value).toBe("idle");
    expect(snapshot.context.lastSeenAt).toBe(7);
  });
});
