/**
 * Restarts and redelivery on a real nats-server: a registry stopped (or killed) mid-stream and resumed from its
 * durable consumer ends with exactly the view and the FLEET notices a replay of the whole log computes; a
 * consumer reset that redelivers everything changes nothing; replay from the stream equals the live view.
 */
import { DeliverPolicy, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { SessionEventEnvelopeSchema, type SessionEventEnvelope } from "../../schemas/bus.js";
import { readSessionLog, sessionLogNames } from "../../test/fixtures/session-logs.js";
import { KV_BUCKET_NAMES, STREAM_NAMES, publishSessionEvent } from "../bus/index.js";
import { listSessions } from "../clients/registry-queries.js";
import { loadKvBucket as loadBucket } from "../bus/index.js";
import { startRegistry, type Registry } from "./registry.js";
import { replayEnvelopes } from "./replay.js";
import { FakeHost, kvHostRecords, kvSessionRecords, readFleet } from "./test-fleet.js";
import { type TestBus, useBus } from "../../test/support/bus.js";
import { eventually } from "../../test/support/wait.js";

// A short ack wait so the stragglers a stopped instance leaves in flight come back (as duplicates) within the test;
// a short lease TTL so the next instance takes over a killed one's partition soon.
const thresholds = {
  sweepIntervalMs: 60_000,
  degradedAfterMs: 60_000,
  offlineAfterMs: 60_000,
  staleAfterMs: 60_000,
  batchWindowMs: 100,
  ackWaitMs: 2_000,
  leaseTtlMs: 1_500,
};
const DURABLE = "registry-restart";

/** A deterministic mixed workload: steps that each publish one or two envelopes from one of three hosts. */
function workload(hosts: FakeHost[], threadsPerHost: number): (() => Promise<unknown>)[] {
  let seed = 7;
  const rand = (n: number): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed % n;
  };
  const steps: (() => Promise<unknown>)[] = [];
  const scripts = hosts.flatMap((h) =>
    Array.from({ length: threadsPerHost }, (_, i) => {
      const t = `${h.hostId}-t${i}`;
      const s: (() => Promise<unknown>)[] = [
        () => h.synced(t, { humanAttached: i % 3 === 0, autonomous: i % 3 === 1 }),
        () => h.startTurn(t, `${t}-turn1`),
      ];
      for (let d = 0; d < 6; d++) s.push(() => h.delta(t, `${t}-turn1`));
      if (i % 2 === 0)
        s.push(
          () => h.status(t, { type: "active", activeFlags: ["waitingOnApproval"] }),
          () => h.status(t, { type: "active", activeFlags: [] }),
        );
      s.push(() => h.completeTurn(t, `${t}-turn1`));
      if (i % 4 === 3) s.push(() => h.status(t, { type: "systemError" }));
      if (i % 5 === 4) s.push(() => h.publish(h.envelope(t, "thread/closed", { threadId: t })));
      return s;
    }),
  );
  while (scripts.some((s) => s.length > 0)) {
    const live = scripts.filter((s) => s.length > 0);
    steps.push(live[rand(live.length)]!.shift()!);
  }
  return steps;
}

async function drained(bus: TestBus, durable: string): Promise<void> {
  const jsm = await jetstreamManager(bus.nc);
  await eventually(async () => {
    const info = await jsm.consumers.info(STREAM_NAMES.events, durable);
    expect({ pending: info.num_pending, unacked: info.num_ack_pending }).toEqual({ pending: 0, unacked: 0 });
  }, 20_000);
}

async function streamEnvelopes(bus: TestBus): Promise<SessionEventEnvelope[]> {
  const consumer = await bus.js.consumers.get(STREAM_NAMES.events, { deliver_policy: DeliverPolicy.All });
  let remaining = (await consumer.info(true)).num_pending;
  const out: SessionEventEnvelope[] = [];
  while (remaining > 0) {
    for await (const m of await consumer.fetch({ max_messages: Math.min(remaining, 1000), expires: 2_000 })) {
      out.push(SessionEventEnvelopeSchema.parse(m.json()));
      remaining = m.info.pending;
    }
  }
  return out;
}

describe("registry: restart, redelivery and replay", () => {
  const bus = useBus({ ensure: true });
  const hosts: FakeHost[] = [];
  // The recorded logs share one host and epoch: give each its own epoch so their (epoch, seq) differ.
  const golden: SessionEventEnvelope[] = sessionLogNames.flatMap((name) =>
    readSessionLog(name).map((e) => ({ ...e, epoch: `fixture-${name}` })),
  );

  hosts.push(new FakeHost(bus, "h-a"), new FakeHost(bus, "h-b"), new FakeHost(bus, "h-c"));

  it("stopped mid-stream and resumed from its durable: the same view as a replay, no FLEET notice twice", async () => {
    const steps = workload(hosts, 8);
    const first = await startRegistry({ nc: bus.nc, durableName: DURABLE, ...thresholds });
    let published = 0;
    const publishing = (async () => {
      for (const env of golden) await publishSessionEvent(bus.js, env);
      for (const step of steps) {
        await step();
        published++;
      }
    })();
    await eventually(() => expect(first.stats().eventsApplied).toBeGreaterThan(150), 20_000, 5);
    await first.stop();
    const stoppedAt = published;
    const second = await startRegistry({ nc: bus.nc, durableName: DURABLE, ...thresholds });
    await publishing;
    expect(stoppedAt).toBeLessThan(steps.length); // the stop really happened mid-stream
    await drained(bus, DURABLE);
    const sent = [...golden, ...hosts.flatMap((h) => h.sent)];
    const expected = replayEnvelopes(sent); // each thread's events in publish order; threads interleave freely
    expect(second.stats().restoredSessions).toBeGreaterThan(0);
    expect(await kvSessionRecords(bus.nc)).toEqual(expected.sessions);
    expect(await kvHostRecords(bus.nc)).toEqual(expected.hosts);
    expect((await listSessions(bus.nc, { limit: 1000 })).sessions).toEqual(expected.sessions);
    const fleet = await readFleet(bus.js);
    expect(new Set(fleet.map((n) => n.id)).size).toBe(fleet.length);
    expect(new Set(fleet.map((n) => n.id))).toEqual(new Set(expected.notices.map((n) => n.id)));
    expect(fleet).toEqual(expect.arrayContaining(expected.notices));
    await second.stop();
  });

  it("killed without a clean stop (connection dropped mid-batch): the next instance still converges without duplicates", async () => {
    const crashConn = await connect({ servers: bus.server.url });
    const victim = await startRegistry({ nc: crashConn, durableName: DURABLE, ...thresholds });
    const more = hosts.map((h) => new FakeHost(bus, h.hostId, "20260101T000001Z-b")); // agents restarted: a new epoch
    const steps = workload(more, 4);
    const publishing = (async () => {
      for (const step of steps) await step();
    })();
    await eventually(() => expect(victim.stats().eventsApplied).toBeGreaterThan(40), 20_000, 2);
    await crashConn.close(); // no flush, no acks: as if the process died
    await victim.stop();
    const next = await startRegistry({ nc: bus.nc, durableName: DURABLE, ...thresholds });
    await publishing;
    await drained(bus, DURABLE);
    const expected = replayEnvelopes(await streamEnvelopes(bus));
    expect(await kvSessionRecords(bus.nc)).toEqual(expected.sessions);
    const fleet = await readFleet(bus.js);
    expect(new Set(fleet.map((n) => n.id)).size).toBe(fleet.length);
    expect(new Set(fleet.map((n) => n.id))).toEqual(new Set(expected.notices.map((n) => n.id)));
    await next.stop();
  });

  it("a consumer reset redelivers every event: all are skipped, no KV write, no notice", async () => {
    const before = await loadBucket(bus.nc, KV_BUCKET_NAMES.sessions);
    const fleetBefore = (await readFleet(bus.js)).length;
    const jsm = await jetstreamManager(bus.nc);
    await jsm.consumers.delete(STREAM_NAMES.events, DURABLE);
    const total = (await jsm.streams.info(STREAM_NAMES.events)).state.messages;
    const registry: Registry = await startRegistry({ nc: bus.nc, durableName: DURABLE, ...thresholds });
    await drained(bus, DURABLE);
    await registry.stop();
    const stats = registry.stats();
    // Every delivery is skipped by (epoch, seq), or (for an event that changed nothing, whose position was
    // never written) re-applied to no effect; each event is delivered once: they were acked in time.
    expect(stats.eventsDuplicate + stats.eventsUnchanged).toBe(total);
    expect(stats.eventsUnchanged).toBeLessThan(total / 20);
    expect({
      applied: stats.eventsApplied,
      writes: stats.sessionWrites,
      hostWrites: stats.hostWrites,
      fleet: stats.fleetStored,
    }).toEqual({ applied: 0, writes: 0, hostWrites: 0, fleet: 0 });
    const after = await loadBucket(bus.nc, KV_BUCKET_NAMES.sessions);
    expect([...after].map(([k, v]) => [k, v.revision])).toEqual([...before].map(([k, v]) => [k, v.revision]));
    expect((await readFleet(bus.js)).length).toBe(fleetBefore);
  });

  it("replaying CODEX_EVENTS from the start with an ordered consumer equals the live KV view", async () => {
    const envelopes = await streamEnvelopes(bus);
    expect(envelopes.length).toBeGreaterThan(500);
    const replayed = replayEnvelopes(envelopes);
    expect(replayed.sessions).toEqual(await kvSessionRecords(bus.nc));
    expect(replayed.hosts).toEqual(await kvHostRecords(bus.nc));
    expect(replayed.sessions.map((s) => s.status)).toEqual(expect.arrayContaining(["idle", "error", "closed"]));
  });
});
