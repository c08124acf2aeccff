/** A session actor restored from its persisted snapshot behaves exactly like the live actor and the pure fold. */
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import type { ThreadStatus } from "../schemas/codex/thread.js";
import { foldSession, sessionMachine, sessionRecordOf, type SessionMachineEvent } from "./session.js";

const input = { hostId: "host-a", threadId: "thr-1" };
const status = (s: ThreadStatus, atMs: number): SessionMachineEvent => ({ type: "STATUS", status: s, atMs });
const before: SessionMachineEvent[] = [
  status({ type: "active", activeFlags: [] }, 1),
  { type: "TURN_STARTED", turnId: "turn-1", atMs: 2 },
  { type: "ITEM", turnId: "turn-1", itemType: "agentMessage", atMs: 3 },
  { type: "STEER_SENT", turnId: "turn-1", atMs: 4 },
  { type: "MARK", disposition: "blocked" },
];
const after: SessionMachineEvent[] = [
  { type: "ITEM", turnId: "turn-1", itemType: "userMessage", atMs: 5 },
  { type: "ITEM", turnId: "turn-1", itemType: "agentMessage", atMs: 6 },
  status({ type: "active", activeFlags: ["waitingOnApproval"] }, 7),
  { type: "STALE", atMs: 60_000 },
  status({ type: "idle" }, 61_000),
  { type: "TURN_COMPLETED", turnId: "turn-1", status: "interrupted", atMs: 61_001 },
];

describe("session restore", () => {
  it("restores mid-steer from JSON and then agrees with the live actor at every step", () => {
    const live = createActor(sessionMachine, { input }).start();
    for (const e of before) live.send(e);
    const persisted = JSON.parse(JSON.stringify(live.getPersistedSnapshot()));
    const restored = createActor(sessionMachine, { snapshot: persisted, input }).start();
    expect(restored.getSnapshot().value).toBe("steering");
    for (const event of after) {
      live.send(event);
      restored.send(event);
      expect(restored.getSnapshot().value).toEqual(live.getSnapshot().value);
      expect(restored.getSnapshot().context).toEqual(live.getSnapshot().context);
    }
    expect(sessionRecordOf(restored.getSnapshot())).toEqual(sessionRecordOf(foldSession([...before, ...after], input)));
    expect(sessionRecordOf(restored.getSnapshot())).toMatchObject({
      status: "interrupted",
      disposition: "blocked",
      lastSeenAt: 61_001,
    });
    live.stop();
    restored.stop();
  });

  it("persists a stale session with the status it had before", () => {
    const live = createActor(sessionMachine, { input }).start();
    for (const e of [...before, { type: "STALE", atMs: 9 } as const]) live.send(e);
    const restored = createActor(sessionMachine, {
      snapshot: JSON.parse(JSON.stringify(live.getPersistedSnapshot())),
      input,
    }).start();
    expect(restored.getSnapshot().context.preStaleStatus).toBe("steering");
    restored.send(status({ type: "idle" }, 10));
    expect(restored.getSnapshot().value).toBe("idle");
    live.stop();
    restored.stop();
  });
});
