/**
 * Events lost in flight: a crashed instance took messages and never acked them, so JetStream redelivers them
 * only after `ack_wait`, behind newer ones. The registry reads them from the stream first, in order, instead of
 * applying the newer ones to a session missing its start (and later skipping the stragglers as old).
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, describe, expect, it } from "vitest";
import { STREAM_NAMES } from "../bus/index.js";
import { getSession } from "../clients/registry-queries.js";
import { consumeEvents, ensureEventConsumer } from "./consumer.js";
import { silentLogger } from "./logger.js";
import { startRegistry, type Registry } from "./registry.js";
import { replayEnvelopes } from "./replay.js";
import { FakeHost, kvSessionRecords } from "./test-fleet.js";
import { useBus } from "../../test/support/bus.js";
import { eventually } from "../../test/support/wait.js";

describe("registry: a gap in delivery", () => {
  const bus = useBus({ ensure: true });
  let registry: Registry | undefined;
  afterAll(() => registry?.stop());

  it("reads events a dead instance left in flight from the stream, long before ack_wait redelivers them", async () => {
    const host = new FakeHost(bus, "h");
    await host.synced("t1", { workspace: "/work/gap", preview: "mind the gap" });
    await host.startTurn("t1", "turn-1");
    await host.status("t1", { type: "active", activeFlags: ["waitingOnApproval"] });
    await host.status("t1", { type: "active", activeFlags: [] });
    await host.completeTurn("t1", "turn-1");
    const durable = "registry-gap";
    const ackWaitMs = 30_000;
    await ensureEventConsumer(bus.nc, { durableName: durable, ackWaitMs, maxAckPending: 1_000, maxBatch: 100 });
    // The "crashed" instance: takes the first three messages and dies without acking them.
    const dead = await bus.js.consumers.get(STREAM_NAMES.events, durable);
    const taken: number[] = [];
    for await (const m of await dead.fetch({ max_messages: 3, expires: 2_000 })) taken.push(m.seq);
    expect(taken).toEqual([1, 2, 3]);

    const started = Date.now();
    registry = await startRegistry({
      nc: bus.nc,
      durableName: durable,
      sweepIntervalMs: 60_000,
      degradedAfterMs: 60_000,
      offlineAfterMs: 60_000,
      staleAfterMs: 60_000,
      ackWaitMs,
    });
    const expected = replayEnvelopes(host.sent).sessions;
    await eventually(async () => expect(await kvSessionRecords(bus.nc)).toEqual(expected));
    expect(Date.now() - started).toBeLessThan(ackWaitMs / 3);
    expect(await getSession(bus.nc, { host: "h", sessionId: "t1" })).toMatchObject({
      status: "idle",
      workspace: "/work/gap",
      preview: "mind the gap",
    });
    expect(registry.stats()).toMatchObject({ gapEventsRead: 3, eventsApplied: host.sent.length, fleetStored: 3 });
  });

  it("while nothing comes, reads what was delivered elsewhere and never acked, long before ack_wait", async () => {
    const host = new FakeHost(bus, "ic");
    const durable = "registry-idle";
    const ackWaitMs = 30_000;
    const before = (await (await jetstreamManager(bus.nc)).streams.info(STREAM_NAMES.events)).state.last_seq;
    await ensureEventConsumer(bus.nc, { durableName: durable, ackWaitMs, maxAckPending: 100, maxBatch: 10 });
    // Skip what the first test stored: this consumer starts past it (as a partition taken over would).
    const skip = await bus.js.consumers.get(STREAM_NAMES.events, durable);
    for await (const m of await skip.fetch({ max_messages: before, expires: 2_000 })) m.ack();
    await host.synced("t1");
    await host.startTurn("t1", "turn-1");
    // A frozen former owner: it pulls the three events and never acks them; nothing else is published.
    const frozen: number[] = [];
    for await (const m of await skip.fetch({ max_messages: 3, expires: 2_000 })) frozen.push(m.seq);
    expect(frozen).toEqual([before + 1, before + 2, before + 3]);
    const taken: { seq: number; fromStream: boolean }[] = [];
    const started = Date.now();
    const consumer = consumeEvents(
      bus.nc,
      { durableName: durable, ackWaitMs, maxAckPending: 100, maxBatch: 10, startAfter: before },
      {
        take: (e) => void taken.push({ seq: e.streamSeq, fromStream: e.msg === null }),
        unacked: 0,
        flush: async () => undefined,
        requestFlush: () => undefined,
      },
      silentLogger,
    );
    try {
      await eventually(() => expect(taken.map((t) => t.seq)).toEqual(frozen), ackWaitMs / 3);
      expect(taken.every((t) => t.fromStream)).toBe(true);
      expect(consumer.gapEventsRead).toBe(3);
      expect(Date.now() - started).toBeLessThan(ackWaitMs / 3);
    } finally {
      await consumer.stop({ flush: false });
    }
  });
});
