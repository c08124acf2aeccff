/** The registry on a real nats-server: sessions appear and change through events, queries and FLEET follow. */
import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { STREAM_NAMES } from "../bus/index.js";
import { getSession, listHosts, listSessions, RegistryQueryError } from "../clients/registry-queries.js";
import { publishFleetEvents } from "./fleet.js";
import { startRegistry } from "./registry.js";
import { replayEnvelopes } from "./replay.js";
import { FakeHost, kvSessionRecords, readFleet, readSessionEntries } from "./test-fleet.js";
import { useBus } from "../../test/support/bus.js";
import { useFixture } from "../../test/support/fixture.js";
import { eventually } from "../../test/support/wait.js";

const thresholds = { sweepIntervalMs: 60_000, degradedAfterMs: 60_000, offlineAfterMs: 60_000, staleAfterMs: 60_000 };

describe("registry: live sessions", () => {
  const bus = useBus({ ensure: true });
  const registry = useFixture(() => startRegistry({ nc: bus.nc, ...thresholds, batchWindowMs: 200 }));
  const h1 = new FakeHost(bus, "h1");
  const h2 = new FakeHost(bus, "h2");

  it("a synced thread appears in queries and in KV, and announces itself on FLEET", async () => {
    await h1.synced("t1", {
      workspace: "/work/claw",
      repo: "claw",
      branch: "feat",
      humanAttached: true,
      preview: "fix the flaky test",
    });
    const session = await eventually(async () => {
      const s = await getSession(bus.nc, { host: "h1", sessionId: "t1" });
      expect(s).not.toBeNull();
      return s!;
    });
    expect(session).toMatchObject({
      host: "h1",
      sessionId: "t1",
      status: "idle",
      workspace: "/work/claw",
      branch: "feat",
      humanAttached: true,
      preview: "fix the flaky test",
    });
    await eventually(async () => expect((await kvSessionRecords(bus.nc)).map((r) => r.sessionId)).toEqual(["t1"]));
    const entry = (await readSessionEntries(bus.nc)).get("h1.t1")!;
    expect(entry.applied).toEqual({ epoch: h1.epoch, seq: 0 });
    expect(entry.record).toEqual(session);
    const fleet = await eventually(async () => {
      const f = await readFleet(bus.js);
      expect(f).toHaveLength(1);
      return f;
    });
    expect(fleet[0]).toMatchObject({
      id: `fleet:session-new:h1:t1:${h1.epoch}:0`,
      kind: "session-new",
      priority: "high",
      hostId: "h1",
      sessionId: "t1",
      session: { workspace: "/work/claw", humanAttached: true, preview: "fix the flaky test" },
    });
  });

  it("follows a turn through waiting on approval back to idle, with a notice for each notable step", async () => {
    await h1.startTurn("t1", "turn-1");
    await eventually(async () =>
      expect(await getSession(bus.nc, { sessionId: "t1" })).toMatchObject({ status: "active", activeTurnId: "turn-1" }),
    );
    await h1.status("t1", { type: "active", activeFlags: ["waitingOnApproval"] });
    await eventually(async () =>
      expect(await getSession(bus.nc, { sessionId: "t1" })).toMatchObject({ status: "active", waitingOn: "approval" }),
    );
    await h1.status("t1", { type: "active", activeFlags: [] });
    await h1.completeTurn("t1", "turn-1");
    await eventually(async () =>
      expect(await getSession(bus.nc, { sessionId: "t1" })).toMatchObject({
        status: "idle",
        waitingOn: null,
        activeTurnId: null,
      }),
    );
    const kinds = await eventually(async () => {
      const k = (await readFleet(bus.js)).map((f) => `${f.kind}:${f.priority}`);
      expect(k).toHaveLength(3);
      return k;
    });
    expect(kinds).toEqual(["session-new:high", "session-waiting-approval:high", "session-idle:normal"]);
    await eventually(async () =>
      expect((await kvSessionRecords(bus.nc))[0]).toMatchObject({ status: "idle", lastSeenAt: h1.nowMs }),
    );
  });

  it("filters and pages across hosts", async () => {
    await h2.synced("a1", { autonomous: true, repo: "other" });
    await h2.synced("a2", { status: { type: "active", activeFlags: [] } });
    await h2.synced("a3", { humanAttached: true });
    await eventually(async () => expect((await listSessions(bus.nc, {})).total).toBe(4));
    const ids = (r: { sessions: { host: string; sessionId: string }[] }) =>
      r.sessions.map((s) => `${s.host}/${s.sessionId}`);
    expect(ids(await listSessions(bus.nc, { filter: { host: "h2" } }))).toEqual(["h2/a1", "h2/a2", "h2/a3"]);
    expect(ids(await listSessions(bus.nc, { filter: { autonomous: true } }))).toEqual(["h2/a1"]);
    expect(ids(await listSessions(bus.nc, { filter: { humanAttached: true } }))).toEqual(["h1/t1", "h2/a3"]);
    expect(ids(await listSessions(bus.nc, { filter: { repo: "other" } }))).toEqual(["h2/a1"]);
    expect(ids(await listSessions(bus.nc, { filter: { status: "active" } }))).toEqual(["h2/a2"]);
    const page1 = await listSessions(bus.nc, { limit: 3 });
    expect(ids(page1)).toEqual(["h1/t1", "h2/a1", "h2/a2"]);
    const page2 = await listSessions(bus.nc, { limit: 3, cursor: page1.nextCursor });
    expect(ids(page2)).toEqual(["h2/a3"]);
    expect(page2).toMatchObject({ nextCursor: null, total: 4 });
    const hosts = await listHosts(bus.nc);
    expect(hosts.map((h) => `${h.hostId}:${h.status}:${h.sessions}`)).toEqual(["h1:connecting:1", "h2:connecting:3"]);
  });

  it("answers bad requests with a clear error and keeps serving", async () => {
    const err = await listSessions(bus.nc, { filter: { status: "running" as never } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryQueryError);
    expect((err as RegistryQueryError).code).toBe("invalid");
    expect((err as RegistryQueryError).message).toMatch(/^invalid request: filter\.status: Invalid option/);
    const raw = await bus.nc.request("codex.registry.sessions.list", "{oops", { timeout: 2_000 });
    expect(raw.json()).toEqual({ error: { code: "invalid", message: "invalid request: the body is not JSON" } });
    expect((await listSessions(bus.nc, {})).total).toBe(4);
  });

  it("skips an envelope whose (epoch, seq) it already applied, even when JetStream stores it twice", async () => {
    const before = registry.stats();
    const again = h1.sent.at(-1)!;
    // Published without its message id, so the stream really stores a second copy and the consumer delivers it.
    await bus.js.publish(
      `codex.evt.${again.hostId}.${again.threadId}`,
      JSON.stringify({ ...again, payload: { threadId: "t1", status: { type: "systemError" } } }),
    );
    await eventually(() => expect(registry.stats().eventsDuplicate).toBe(before.eventsDuplicate + 1));
    expect(await getSession(bus.nc, { sessionId: "t1" })).toMatchObject({ status: "idle" });
  });

  it("batches activity: a burst of deltas costs a few KV writes, not one per event", async () => {
    await h1.startTurn("t1", "turn-2");
    await eventually(async () =>
      expect(await getSession(bus.nc, { sessionId: "t1" })).toMatchObject({ status: "active" }),
    );
    const before = registry.stats();
    const burst = 200;
    for (let i = 0; i < burst; i++) await h1.delta("t1", "turn-2");
    await eventually(async () =>
      expect((await readSessionEntries(bus.nc)).get("h1.t1")!.record.lastSeenAt).toBe(h1.nowMs),
    );
    const after = registry.stats();
    const writes = after.sessionWrites - before.sessionWrites;
    expect(after.eventsApplied - before.eventsApplied).toBe(burst);
    expect(writes).toBeGreaterThanOrEqual(1);
    expect(writes).toBeLessThan(burst / 10);
    console.log(`activity burst: ${burst} deltas -> ${writes} KV writes (${after.flushes - before.flushes} flushes)`);
  });

  it("recreates its durable consumer when someone deletes it, and skips the redelivered history", async () => {
    const jsm = await jetstreamManager(bus.nc);
    const before = registry.stats();
    await jsm.consumers.delete(STREAM_NAMES.events, "registry");
    await h2.status("a1", { type: "active", activeFlags: [] });
    await eventually(
      async () => expect(await getSession(bus.nc, { host: "h2", sessionId: "a1" })).toMatchObject({ status: "active" }),
      15_000,
    );
    const after = registry.stats();
    expect(after.eventsApplied - before.eventsApplied).toBe(1);
    // Redelivered: every event before the new one, plus the raw second copy stored by the duplicate test.
    const history = h1.sent.length + h2.sent.length - 1 + 1;
    expect(after.eventsDuplicate - before.eventsDuplicate + (after.eventsUnchanged - before.eventsUnchanged)).toBe(
      history,
    );
    expect(after.fleetStored).toBe(before.fleetStored);
  });

  it("a notice derived again (as after a crash between FLEET and KV) is stored once: same id, same Nats-Msg-Id", async () => {
    const stored = await readFleet(bus.js);
    const again = replayEnvelopes([...h1.sent, ...h2.sent]).notices;
    expect(again.map((n) => n.id)).toEqual(stored.map((n) => n.id));
    expect(await publishFleetEvents(bus.js, again)).toEqual({ stored: 0, duplicates: again.length });
    expect(await readFleet(bus.js)).toHaveLength(stored.length);
  });
});
