/**
 * The host agent's `agent/app-server` events in the fold: `disconnected` makes every session of the host that
 * claims a status `unknown`, `connected` closes those the app-server no longer has loaded, each session takes an
 * event once, acks wait for every session it changed, and a replay of the same log gives the same records.
 */
import { describe, expect, it } from "vitest";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import { SessionEntry } from "../../schemas/registry-entry.js";
import { FleetState } from "./fleet-state.js";
import { replayEnvelopes } from "./replay.js";

const thresholds = { degradedAfterMs: 100, offlineAfterMs: 200, staleAfterMs: 300 };
let clock = 1_000;
const env = (threadId: string, type: string, payload: unknown, seq: number, hostId = "h"): SessionEventEnvelope => ({
  hostId,
  threadId,
  epoch: "e1",
  seq,
  emittedAtMs: (clock += 10),
  type,
  payload,
});
const synced = (threadId: string, seq: number, status: unknown = { type: "idle" }, hostId = "h") =>
  env(
    threadId,
    "agent/thread.synced",
    {
      thread: {
        id: threadId,
        status,
        cwd: "/w",
        preview: "task",
        name: null,
        ephemeral: false,
        createdAt: 1,
        updatedAt: 1,
        source: "vscode",
      },
      activeTurnId: null,
      workspace: "/w",
      repo: null,
      branch: null,
      humanAttached: false,
      autonomous: false,
    },
    seq,
    hostId,
  );
const appServer = (seq: number, payload: unknown, hostId = "h") =>
  env("_host", "agent/app-server", payload, seq, hostId);
const down = (seq: number, hostId = "h") => appServer(seq, { state: "disconnected", reason: "socket closed" }, hostId);

function fleet(log: SessionEventEnvelope[]): { state: FleetState; statuses: () => Record<string, string> } {
  const state = new FleetState(thresholds);
  for (const e of log) state.applyEnvelope(e);
  return {
    state,
    statuses: () => Object.fromEntries([...state.index.all()].map((s) => [`${s.host}.${s.sessionId}`, s.status])),
  };
}

describe("agent/app-server in the fleet", () => {
  const before = [
    synced("a", 0),
    synced("b", 1),
    env("b", "turn/started", { threadId: "b", turn: { id: "turn-1", items: [], status: "inProgress" } }, 2),
    synced("c", 3, { type: "notLoaded" }),
    synced("x", 4, { type: "idle" }, "other-host"),
  ];

  it("makes the host's idle and active sessions unknown, leaves its closed ones and other hosts alone", () => {
    const { state, statuses } = fleet(before);
    expect(statuses()).toEqual({ "h.a": "idle", "h.b": "active", "h.c": "closed", "other-host.x": "idle" });
    expect(state.keysOf(down(5))).toEqual(["h.a", "h.b", "h.c"]);
    state.takeSessionWrites(0, true);
    expect(state.applyEnvelope(down(5))).toBe("applied");
    expect(statuses()).toEqual({ "h.a": "unknown", "h.b": "unknown", "h.c": "closed", "other-host.x": "idle" });
    expect(state.index.get("h", "b")).toMatchObject({ activeTurnId: null, waitingOn: null });
    // Written now (a status changed), with the event's position, so a redelivery after a restart is a duplicate.
    const writes = state.takeSessionWrites(0, false).map((w) => SessionEntry.parse(JSON.parse(w.value)));
    expect(writes.map((w) => [w.threadId, w.record.status, w.applied.seq])).toEqual([
      ["a", "unknown", 5],
      ["b", "unknown", 5],
    ]);
    // Again (a redelivery), or a later outage report: nothing changes and nothing is written.
    expect(state.applyEnvelope(down(5))).toBe("unchanged");
    expect(state.applyEnvelope(down(6))).toBe("unchanged");
    expect(state.takeSessionWrites(0, true)).toEqual([]);
  });

  it("when the app-server is back, closes the sessions it has not loaded; a loaded one waits for its sync", () => {
    const { state, statuses } = fleet([...before, down(5), appServer(6, { state: "connected", loaded: ["b"] })]);
    expect(statuses()).toMatchObject({ "h.a": "closed", "h.b": "unknown", "h.c": "closed" });
    state.applyEnvelope(synced("b", 7, { type: "idle" }));
    expect(statuses()).toMatchObject({ "h.a": "closed", "h.b": "idle", "h.c": "closed" });
    expect(
      state
        .takeNotices()
        .filter((n) => n.kind === "session-closed")
        .map((n) => n.id),
    ).toEqual(["fleet:session-closed:h:a:e1:6"]);
  });

  it("with too many loaded threads to list, closes nothing and waits for the syncs", () => {
    const { statuses } = fleet([...before, down(5), appServer(6, { state: "connected", loaded: null })]);
    expect(statuses()).toMatchObject({ "h.a": "unknown", "h.b": "unknown", "h.c": "closed" });
  });

  it("ignores a malformed agent/app-server event and other host events", () => {
    const { state, statuses } = fleet(before);
    expect(state.applyEnvelope(appServer(5, { state: "gone" }))).toBe("ignored");
    expect(state.keysOf(env("_host", "agent/gap", { dropped: 1, firstSeq: 1, lastSeq: 1 }, 6))).toEqual([]);
    expect(statuses()).toMatchObject({ "h.a": "idle", "h.b": "active" });
  });

  it("replays to the same records and notices as the live fold", () => {
    const log = [...before, down(5), appServer(6, { state: "connected", loaded: ["b"] }), synced("b", 7)];
    const { state } = fleet(log);
    const live = [...state.index.all()];
    const replayed = replayEnvelopes(log);
    expect(replayed.sessions).toEqual(live);
    expect(replayed.notices.map((n) => n.id)).toEqual(state.takeNotices().map((n) => n.id));
  });
});
