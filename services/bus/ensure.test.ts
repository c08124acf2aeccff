import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { nanos } from "@nats-io/transport-node";
import { beforeAll, describe, expect, it } from "vitest";
import { useBus } from "../../test/support/bus.js";
import { ensureBus, kvStreamName } from "./ensure.js";
import { BusError, JsErrCode } from "./errors.js";
import { publishSessionEvent, sessionEventMsgId } from "./session-events.js";
import { subjects } from "./subjects.js";
import { KV_BUCKET_NAMES, STREAM_NAMES } from "./topology.js";

describe("ensureBus on a single nats-server", () => {
  const bus = useBus();
  let jsm: JetStreamManager;

  beforeAll(async () => {
    jsm = await jetstreamManager(bus.nc);
  });

  it("creates every stream and bucket, then is a no-op the second time", async () => {
    const first = await ensureBus(bus.nc, { eventsMaxAgeMs: 3_600_000, eventsMaxBytes: 64 * 1024 * 1024 });
    expect(first.streams).toEqual([
      { name: "CODEX_EVENTS", action: "created" },
      { name: "AUDIT", action: "created" },
      { name: "FLEET", action: "created" },
    ]);
    expect(first.buckets.map((b) => b.action)).toEqual(Object.values(KV_BUCKET_NAMES).map(() => "created"));
    expect(first.kept).toEqual([]);

    const second = await ensureBus(bus.nc, { eventsMaxAgeMs: 3_600_000, eventsMaxBytes: 64 * 1024 * 1024 });
    expect([...second.streams, ...second.buckets].every((r) => r.action === "unchanged")).toBe(true);

    const events = await jsm.streams.info(STREAM_NAMES.events);
    expect(events.config.subjects).toEqual(["codex.evt.>"]);
    expect(events.config.storage).toBe("file");
    expect(events.config.max_age).toBe(nanos(3_600_000));
    expect(events.config.max_bytes).toBe(64 * 1024 * 1024);
    expect(events.config.duplicate_window).toBe(nanos(120_000));
    expect(events.config.num_replicas).toBe(1);
    expect((await jsm.streams.info(STREAM_NAMES.audit)).config.subjects).toEqual(["codex.audit.>"]);
    expect((await jsm.streams.info(STREAM_NAMES.fleet)).config.subjects).toEqual(["codex.fleet.>"]);
  });

  it("updates an existing stream whose updatable limits differ", async () => {
    const result = await ensureBus(bus.nc, { eventsMaxAgeMs: 7_200_000, eventsMaxBytes: 64 * 1024 * 1024 });
    expect(result.streams[0]).toEqual({ name: "CODEX_EVENTS", action: "updated" });
    expect(result.streams.slice(1).every((s) => s.action === "unchanged")).toBe(true);
    expect((await jsm.streams.info(STREAM_NAMES.events)).config.max_age).toBe(nanos(7_200_000));
  });

  it("refuses, without touching it, a stream that exists with a different storage type", async () => {
    await jsm.streams.delete(STREAM_NAMES.fleet);
    await jsm.streams.add({ name: STREAM_NAMES.fleet, subjects: ["codex.fleet.>"], storage: "memory" });
    const err = await ensureBus(bus.nc, { eventsMaxAgeMs: 7_200_000, eventsMaxBytes: 64 * 1024 * 1024 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BusError);
    expect((err as BusError).code).toBe("stream_config_conflict");
    expect((err as BusError).message).toMatch(/storage=memory/);
    await jsm.streams.delete(STREAM_NAMES.fleet);
    const healed = await ensureBus(bus.nc, { eventsMaxAgeMs: 7_200_000, eventsMaxBytes: 64 * 1024 * 1024 });
    expect(healed.streams[2]).toEqual({ name: "FLEET", action: "created" });
  });

  it("stores a publish repeated with the same Nats-Msg-Id once", async () => {
    const js = jetstream(bus.nc);
    const subject = subjects.sessionEvents("host-a", "thread-1");
    const before = (await jsm.streams.info(STREAM_NAMES.events)).state.messages;
    const first = await js.publish(subject, "e1", { msgID: "host-a:1" });
    const again = await js.publish(subject, "e1", { msgID: "host-a:1" });
    expect(first.duplicate).toBe(false);
    expect(again.duplicate).toBe(true);
    expect(again.seq).toBe(first.seq);

    const event = {
      hostId: "host-a",
      threadId: "thread-1",
      epoch: "run-1",
      seq: 2,
      emittedAtMs: 1_700_000_000_000,
      type: "turn/started",
      payload: {},
    };
    const a = await publishSessionEvent(js, event);
    const b = await publishSessionEvent(js, event);
    expect(a).toMatchObject({ stream: "CODEX_EVENTS", duplicate: false });
    expect(b).toEqual({ ...a, duplicate: true });
    expect(sessionEventMsgId(event)).toBe("evt:host-a:run-1:2");
    const nextRun = await publishSessionEvent(js, { ...event, epoch: "run-2" });
    expect(nextRun.duplicate).toBe(false);
    expect((await jsm.streams.info(STREAM_NAMES.events)).state.messages).toBe(before + 3);
  });

  it("creates the KV buckets, the leases bucket with its TTL", async () => {
    const kvm = new Kvm(bus.nc);
    for (const bucket of Object.values(KV_BUCKET_NAMES)) {
      const status = await (await kvm.open(bucket)).status();
      expect(status.bucket).toBe(bucket);
    }
    const leases = await (await kvm.open(KV_BUCKET_NAMES.leases)).status();
    expect(leases.ttl).toBe(30_000);
    const sessions = await (await kvm.open(KV_BUCKET_NAMES.sessions)).status();
    expect(sessions.ttl).toBe(0);
    expect(sessions.history).toBe(5);

    const kv = await kvm.open(KV_BUCKET_NAMES.sessions);
    const rev = await kv.create("thread-1", "{}");
    await expect(kv.update("thread-1", '{"v":2}', rev)).resolves.toBeGreaterThan(rev);
    await expect(kv.update("thread-1", '{"v":3}', rev)).rejects.toThrow();
  });

  it("changes the lease TTL of an existing bucket in place", async () => {
    const result = await ensureBus(bus.nc, {
      eventsMaxAgeMs: 7_200_000,
      eventsMaxBytes: 64 * 1024 * 1024,
      leaseTtlMs: 10_000,
    });
    expect(result.buckets.find((b) => b.bucket === KV_BUCKET_NAMES.leases)?.action).toBe("updated");
    const info = await jsm.streams.info(kvStreamName(KV_BUCKET_NAMES.leases));
    expect(info.config.max_age).toBe(nanos(10_000));
  });

  it("reports a missing stream by its JetStream err_code", async () => {
    const err = await jsm.streams.info("NO_SUCH_STREAM").catch((e: unknown) => e);
    expect((err as { apiError(): { err_code: number } }).apiError().err_code).toBe(JsErrCode.StreamNotFound);
  });

  it("rejects an invalid topology before talking to the server", async () => {
    const err = await ensureBus(bus.nc, { eventsMaxAgeMs: 1_000, eventsDuplicateWindowMs: 5_000 }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BusError);
    expect((err as BusError).code).toBe("invalid_config");
    expect((err as BusError).message).toMatch(/eventsDuplicateWindowMs/);
  });
});
