/**
 * How the registry acks: a consumer it creates acks all up to a message (one ack per flush), and that ack never
 * passes an event whose effect is not written yet; a consumer created before (explicit acks) is acked message
 * by message, as it was.
 */
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { STREAM_NAMES, ensureDurableConsumer, openDurableConsumer, subjects } from "../bus/index.js";
import { getSession } from "../clients/registry-queries.js";
import { startRegistry } from "./registry.js";
import { FakeHost, readSessionEntries } from "./test-fleet.js";
import { useBus } from "../../test/support/bus.js";
import { useFixture } from "../../test/support/fixture.js";
import { eventually } from "../../test/support/wait.js";

const position = async (nc: Parameters<typeof openDurableConsumer>[0]) =>
  (await openDurableConsumer(nc, STREAM_NAMES.events, "registry")).position();

describe("registry acks: a consumer it creates", () => {
  const bus = useBus({ ensure: true });
  // Activity (a change of lastSeenAt only) waits up to the batch window before its write.
  const registry = useFixture(() => startRegistry({ nc: bus.nc, batchWindowMs: 2_500 }));
  const h1 = new FakeHost(bus, "h1");

  it("acks all up to the last event whose effect is written, never past one still waiting for its write", async () => {
    await h1.synced("a");
    await h1.synced("b");
    const settled = await eventually(async () => {
      const p = await position(bus.nc);
      expect(p).toMatchObject({ ackPending: 0, pending: 0 });
      return p;
    });
    const info = await (await jetstreamManager(bus.nc)).consumers.info(STREAM_NAMES.events, "registry");
    expect(info.config.ack_policy).toBe(AckPolicy.All);

    const activity = await h1.delta("a", "turn-x"); // seq floor+1: written only after the batch window
    await h1.status("b", { type: "active", activeFlags: [] }); // seq floor+2: written at once
    await eventually(async () =>
      expect(await getSession(bus.nc, { host: "h1", sessionId: "b" })).toMatchObject({ status: "active" }),
    );
    await eventually(async () => expect((await readSessionEntries(bus.nc)).get("h1.b")!.record.status).toBe("active"));
    // b's entry is written, but a's activity (earlier in the stream) is not: nothing past it is acked.
    expect((await readSessionEntries(bus.nc)).get("h1.a")!.record.lastSeenAt).toBeLessThan(activity.emittedAtMs);
    const waiting = await position(bus.nc);
    expect(waiting.ackFloor).toBe(settled.ackFloor);
    expect(waiting.ackPending).toBe(2);

    // After the window a's entry is written, and one ack settles both.
    await eventually(async () => {
      expect((await readSessionEntries(bus.nc)).get("h1.a")!.record.lastSeenAt).toBe(activity.emittedAtMs);
      expect(await position(bus.nc)).toMatchObject({ ackFloor: settled.ackFloor + 2, ackPending: 0 });
    }, 10_000);
    expect(registry.stats().eventsApplied).toBe(4);
  });
});

describe("registry acks: a consumer created before, with explicit acks", () => {
  const bus = useBus({ ensure: true });
  const registry = useFixture(async () => {
    await ensureDurableConsumer(bus.nc, {
      stream: STREAM_NAMES.events,
      name: "registry",
      filterSubject: subjects.allSessionEvents(),
      ackWaitMs: 30_000,
      maxAckPending: 8_000,
      missingStream: "no stream",
    });
    return startRegistry({ nc: bus.nc, batchWindowMs: 200 });
  });
  const h1 = new FakeHost(bus, "h1");

  it("keeps its policy and is acked message by message", async () => {
    await h1.synced("a");
    for (let i = 0; i < 5; i++) await h1.status("a", { type: i % 2 ? "idle" : "active", activeFlags: [] } as never);
    await h1.delta("a", "turn-x");
    await eventually(async () => expect(await position(bus.nc)).toMatchObject({ pending: 0, ackPending: 0 }));
    expect((await position(bus.nc)).ackFloor).toBe(h1.sent.length);
    const info = await (await jetstreamManager(bus.nc)).consumers.info(STREAM_NAMES.events, "registry");
    expect(info.config.ack_policy).toBe(AckPolicy.Explicit);
    expect(registry.stats().eventsApplied).toBe(h1.sent.length);
    expect((await readSessionEntries(bus.nc)).get("h1.a")!.record.lastSeenAt).toBe(h1.nowMs);
  });
});
