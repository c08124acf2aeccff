/** The in-memory fleet without a bus: idempotency, urgency of writes, notices, staleness, restore, actor errors. */
import { describe, expect, it } from "vitest";
import { assign, setup } from "xstate";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import type { HostLifecycle } from "../../schemas/gateway.js";
import { HostEntry, SessionEntry, comparePositions } from "../../schemas/registry-entry.js";
import { FleetState } from "./fleet-state.js";
import type { RegistryLogger } from "./logger.js";
import { MachineSlot } from "./machine-slot.js";

const thresholds = { degradedAfterMs: 100, offlineAfterMs: 200, staleAfterMs: 300 };
let clock = 1_000;
const env = (
  threadId: string,
  type: string,
  payload: unknown,
  seq: number,
  epoch = "e1",
  hostId = "h",
): SessionEventEnvelope => ({
  hostId,
  threadId,
  epoch,
  seq,
  emittedAtMs: (clock += 10),
  type,
  payload,
});
const synced = (threadId: string, seq: number, epoch = "e1") =>
  env(
    threadId,
    "agent/thread.synced",
    {
      thread: {
        id: threadId,
        status: { type: "idle" },
        cwd: "/w",
        preview: "task",
        name: null,
        ephemeral: false,
        createdAt: 1,
        updatedAt: 1,
        source: "cli",
      },
      activeTurnId: null,
      workspace: "/w",
      repo: "r",
      branch: "main",
      humanAttached: false,
      autonomous: false,
    },
    seq,
    epoch,
  );
const status = (threadId: string, seq: number, s: unknown) =>
  env(threadId, "thread/status/changed", { threadId, status: s }, seq);
const lifecycle = (type: HostLifecycle["type"], atMs: number): HostLifecycle => ({
  type,
  hostId: "h",
  gatewayId: "g",
  atMs,
  hostname: "h.local",
  agentVersion: "1",
  threads: null,
  appServer: null,
});

describe("FleetState", () => {
  it("applies an envelope once: the same or an older (epoch, seq) is a duplicate, a later epoch is applied", () => {
    const state = new FleetState(thresholds);
    expect(state.applyEnvelope(synced("t1", 5))).toBe("applied");
    expect(state.applyEnvelope(synced("t1", 5))).toBe("duplicate");
    expect(state.applyEnvelope(status("t1", 4, { type: "active", activeFlags: [] }))).toBe("duplicate");
    expect(state.applyEnvelope({ ...status("t1", 6, { type: "active", activeFlags: [] }), epoch: "e0" })).toBe(
      "duplicate",
    );
    expect(state.applyEnvelope({ ...status("t1", 0, { type: "active", activeFlags: [] }), epoch: "e2" })).toBe(
      "applied",
    );
    expect(state.index.get("h", "t1")!.status).toBe("active");
    expect(state.applyEnvelope(env("_host", "agent/gap", { dropped: 1, firstSeq: 1, lastSeq: 1 }, 9))).toBe("ignored");
    expect(state.stats).toEqual({ eventsApplied: 2, eventsUnchanged: 0, eventsDuplicate: 3, eventsIgnored: 1 });
    expect(comparePositions({ epoch: "e1", seq: 10 }, { epoch: "e2", seq: 0 })).toBeLessThan(0);
    state.stop();
  });

  it("writes a status change now, batches a lastSeenAt-only change, and skips an event that changes nothing", () => {
    const state = new FleetState(thresholds);
    state.applyEnvelope(synced("t1", 0));
    expect(state.takeSessionWrites(0, false).map((w) => w.key)).toEqual(["h.t1"]);
    const delta = env("t1", "item/agentMessage/delta", { threadId: "t1", turnId: "x", itemId: "i", delta: "." }, 1);
    expect(state.applyEnvelope(delta)).toBe("applied");
    expect(state.isSessionDirty("h.t1")).toBe(true);
    expect(state.takeSessionWrites(0, false)).toEqual([]); // soon: waits for its batch window
    expect(state.oldestSoonChange()).toBeTypeOf("number");
    expect(state.applyEnvelope({ ...delta, seq: 2, emittedAtMs: delta.emittedAtMs - 5 })).toBe("unchanged"); // older time: lastSeenAt stays
    const [write] = state.takeSessionWrites(Date.now(), false);
    const entry = SessionEntry.parse(JSON.parse(write!.value));
    expect(entry).toMatchObject({
      hostId: "h",
      threadId: "t1",
      applied: { epoch: "e1", seq: 2 },
      record: { lastSeenAt: delta.emittedAtMs },
    });
    expect(state.isSessionDirty("h.t1")).toBe(false);
    // The entry text, made from pieces kept per session, is JSON.stringify's text of the entry, across epochs.
    const writer = { lease: "registry.1.0", epoch: 3 };
    const fenced = new FleetState({ ...thresholds, writer });
    const steps = [
      ["e1", 1],
      ["e1", 2],
      ["e2", 1],
      ['f"3', 0],
    ] as const;
    for (const [i, [epoch, seq]] of steps.entries()) {
      const status = i % 2 === 0 ? { type: "active", activeFlags: [] } : { type: "idle" };
      expect(fenced.applyEnvelope(env("t1", "thread/status/changed", { threadId: "t1", status }, seq, epoch))).toBe(
        "applied",
      );
      const [w] = fenced.takeSessionWrites(Infinity, true);
      const parsed = JSON.parse(w!.value) as { record: unknown; snapshot: unknown };
      expect(w!.value).toBe(
        JSON.stringify({
          v: 1,
          hostId: "h",
          threadId: "t1",
          record: parsed.record,
          snapshot: parsed.snapshot,
          applied: { epoch, seq },
          writer,
        }),
      );
    }
    state.stop();
  });

  it("turns notable transitions into notices with ids made from the event that caused them", () => {
    const state = new FleetState(thresholds);
    state.applyEnvelope(synced("t1", 0));
    state.applyEnvelope(status("t1", 1, { type: "active", activeFlags: ["waitingOnUserInput"] }));
    state.applyEnvelope(status("t1", 2, { type: "systemError" }));
    state.applyEnvelope(status("t1", 3, { type: "notLoaded" }));
    expect(state.takeNotices().map((n) => n.id)).toEqual([
      "fleet:session-new:h:t1:e1:0",
      "fleet:session-waiting-input:h:t1:e1:1",
      "fleet:session-error:h:t1:e1:2",
      "fleet:session-closed:h:t1:e1:3",
    ]);
    expect(state.takeNotices()).toEqual([]);
    state.stop();
  });

  it.each([
    ["stale", ["online", "degraded", "offline", "stale"], 3],
    ["offline", ["online", "degraded", "offline"], 2],
  ] as const)("marks sessions stale when their host reaches %s, and brings them back on a sync", (when, path, step) => {
    const state = new FleetState({ ...thresholds, staleSessionsWhen: when });
    state.applyHostLifecycle(lifecycle("connected", 0));
    state.applyEnvelope(synced("t1", 0));
    state.takeNotices();
    const seen = [state.hostRecords()[0]!.status];
    for (const nowMs of [150, 250, 550]) {
      state.sweep(nowMs);
      seen.push(state.hostRecords()[0]!.status);
      if (seen.length === step + 1) break;
    }
    expect(seen).toEqual(path);
    expect(state.index.get("h", "t1")!.status).toBe("stale");
    const notices = state.takeNotices().map((n) => n.id);
    expect(notices).toContain("fleet:session-stale:h:t1:stale:0-0");
    state.applyEnvelope(synced("t1", 1));
    expect(state.index.get("h", "t1")!.status).toBe("idle");
    state.stop();
  });

  it("a sweep that jumps straight past offline still makes the sessions stale", () => {
    const state = new FleetState({ ...thresholds, staleSessionsWhen: "offline" });
    state.applyHostLifecycle(lifecycle("heartbeat", 0));
    state.applyEnvelope(synced("t1", 0));
    state.sweep(10_000);
    expect(state.hostRecords()[0]!.status).toBe("stale");
    expect(state.index.get("h", "t1")!.status).toBe("stale");
    state.stop();
  });

  it("restores from its own entries and then behaves exactly like the original", () => {
    const live = new FleetState(thresholds);
    live.applyHostLifecycle(lifecycle("connected", 0));
    live.applyEnvelope(synced("t1", 0));
    live.applyEnvelope(status("t1", 1, { type: "active", activeFlags: [] }));
    const sessions = live.takeSessionWrites(Infinity, true).map((w) => SessionEntry.parse(JSON.parse(w.value)));
    const hosts = live.takeHostWrites(Infinity, true).map((w) => HostEntry.parse(JSON.parse(w.value)));
    const restored = new FleetState(thresholds);
    for (const e of sessions) restored.restoreSession(e);
    for (const e of hosts) restored.restoreHost(e);
    restored.finishRestore();
    expect(restored.index.all()).toEqual(live.index.all());
    expect(restored.hostRecords()).toEqual(live.hostRecords());
    for (const next of [status("t1", 1, { type: "idle" }), status("t1", 2, { type: "idle" }), synced("t2", 3)]) {
      expect(restored.applyEnvelope(next)).toBe(live.applyEnvelope(next));
    }
    restored.sweep(1_000);
    live.sweep(1_000);
    expect(restored.index.all()).toEqual(live.index.all());
    expect(restored.hostRecords()).toEqual(live.hostRecords());
    live.stop();
    restored.stop();
  });
});

describe("MachineSlot", () => {
  it("survives an actor error: logs it, restarts from the state before the event, keeps working", () => {
    const machine = setup({
      types: {} as { context: { n: number }; events: { type: "ADD" } | { type: "BOOM" } },
    }).createMachine({
      context: { n: 0 },
      on: {
        ADD: { actions: assign(({ context }) => ({ n: context.n + 1 })) },
        BOOM: {
          actions: () => {
            throw new Error("boom");
          },
        },
      },
    });
    const logged: string[] = [];
    const logger: RegistryLogger = { debug() {}, info() {}, warn() {}, error: (_o, m) => void logged.push(m) };
    const slot = new MachineSlot(machine, undefined as never, logger, "test");
    expect(slot.send({ type: "ADD" })).toBe(true);
    expect(slot.send({ type: "BOOM" })).toBe(false);
    expect(slot.errors).toBe(1);
    expect(logged).toContain("actor failed on an event; restarting it from its state before that event");
    expect(slot.snapshot.context.n).toBe(1);
    expect(slot.send({ type: "ADD" })).toBe(true);
    expect(slot.snapshot.context.n).toBe(2);
    slot.stop();
  });
});
