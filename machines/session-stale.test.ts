/** A lost host makes its sessions stale: every field is kept, the status before is remembered, a sync brings it back. */
import { describe, expect, it } from "vitest";
import type { ThreadSyncedPayload } from "../schemas/agent-events.js";
import type { ThreadStatus } from "../schemas/codex/thread.js";
import { foldSession, sessionRecordOf, type SessionMachineEvent } from "./session.js";

const input = { hostId: "host-a", threadId: "thr-1" };
const status = (s: ThreadStatus, atMs = 1): SessionMachineEvent => ({ type: "STATUS", status: s, atMs });
const sync = (s: ThreadStatus, atMs: number): SessionMachineEvent => ({
  type: "SYNCED",
  atMs,
  snapshot: {
    thread: {
      id: "thr-1",
      status: s,
      cwd: "/w",
      preview: "p",
      name: null,
      ephemeral: false,
      createdAt: 1,
      updatedAt: 2,
      source: "vscode",
    },
    activeTurnId: s.type === "active" ? "turn-1" : null,
    workspace: "/w",
    repo: "app",
    branch: "main",
    humanAttached: false,
    autonomous: true,
  } satisfies ThreadSyncedPayload,
});
const waiting: SessionMachineEvent[] = [
  sync({ type: "active", activeFlags: ["waitingOnApproval"] }, 100),
  { type: "MARK", disposition: "blocked" },
];

describe("session stale", () => {
  it("keeps every field, remembers the status before, and leaves lastSeenAt alone", () => {
    const before = foldSession(waiting, input);
    const stale = foldSession([...waiting, { type: "STALE", atMs: 90_000 }], input);
    expect(stale.value).toBe("stale");
    expect(stale.context.preStaleStatus).toBe("active");
    expect(sessionRecordOf(stale)).toEqual({ ...sessionRecordOf(before), status: "stale", waitingOn: null });
  });

  it("remembers the first status when the sweeper repeats itself", () => {
    const stale = foldSession([...waiting, { type: "STALE", atMs: 90_000 }, { type: "STALE", atMs: 95_000 }], input);
    expect(stale.context.preStaleStatus).toBe("active");
  });

  it("stays stale on items, activity, presence and steers: only a status-bearing event is the truth", () => {
    const events = [
      ...waiting,
      { type: "STALE", atMs: 90_000 },
      { type: "ITEM", turnId: "turn-1", itemType: "agentMessage", atMs: 91_000 },
      { type: "ACTIVITY", atMs: 92_000 },
      { type: "PRESENCE", humanAttached: true, atMs: 93_000 },
      { type: "STEER_SENT", turnId: "turn-1", atMs: 94_000 },
    ] satisfies SessionMachineEvent[];
    const snapshot = foldSession(events, input);
    expect(snapshot.value).toBe("stale");
    expect(snapshot.context).toMatchObject({ humanAttached: true, lastSeenAt: 94_000 });
  });

  it("comes back to its true status on the re-sync and forgets the status before", () => {
    const back = foldSession([...waiting, { type: "STALE", atMs: 90_000 }, sync({ type: "idle" }, 120_000)], input);
    expect(sessionRecordOf(back)).toMatchObject({
      status: "idle",
      activeTurnId: null,
      disposition: "blocked",
      lastSeenAt: 120_000,
    });
    expect(back.context.preStaleStatus).toBeNull();
  });

  it("comes back on a status, a turn start, or a close from the reconnected host", () => {
    const stale = [...waiting, { type: "STALE", atMs: 90_000 }] satisfies SessionMachineEvent[];
    expect(foldSession([...stale, status({ type: "idle" }, 91_000)], input).value).toBe("idle");
    expect(foldSession([...stale, { type: "TURN_STARTED", turnId: "turn-2", atMs: 91_000 }], input).value).toEqual({
      active: "working",
    });
    expect(foldSession([...stale, { type: "CLOSED", atMs: 91_000 }], input).value).toBe("closed");
  });

  it("goes stale from unknown too, and comes back from it", () => {
    const snapshot = foldSession([{ type: "STALE", atMs: 5 }, sync({ type: "active", activeFlags: [] }, 6)], input);
    expect(snapshot.value).toEqual({ active: "working" });
    expect(snapshot.context.activeTurnId).toBe("turn-1");
  });
});
