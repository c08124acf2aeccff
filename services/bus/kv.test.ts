/** KV buckets through the bus against a real nats-server: opening, the one compare-and-set write, loading a bucket. */
import { afterAll, describe, expect, it } from "vitest";
import { useBus } from "../../test/support/bus.js";
import { BusError, JsErrCode, isRevisionConflict, jsApiErrCode } from "./errors.js";
import { JetStreamPublisher } from "./js-publisher.js";
import { listKvKeys, loadKvBucket, openKvBucket, putKvEntry } from "./kv.js";
import type { BusKvSpec } from "./topology.js";

const spec = (bucket: string): BusKvSpec => ({
  bucket,
  description: "bus kv test",
  history: 5,
  ttlMs: undefined,
  replicas: 1,
});

const rejection = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => {
      throw new Error("expected a rejection");
    },
    (err: unknown) => err,
  );

describe("KV buckets through the bus", () => {
  const bus = useBus();
  let publisher: JetStreamPublisher | undefined;
  const pub = (): JetStreamPublisher => {
    publisher ??= new JetStreamPublisher(bus.nc, 2_000);
    return publisher;
  };
  afterAll(() => publisher?.close());

  it("fails to open a missing bucket that must exist, with the StreamNotFound code", async () => {
    const err = await rejection(openKvBucket(bus.nc, "bus-missing", { mustExist: true }));
    expect(jsApiErrCode(err)).toBe(JsErrCode.StreamNotFound);
  });

  it("creates a missing bucket from its spec, and opens an existing one as it is", async () => {
    const kv = await openKvBucket(bus.nc, "bus-created", { createFrom: spec("bus-created") });
    expect((await kv.status()).history).toBe(5);
    await kv.put("k", "v");
    const again = await openKvBucket(bus.nc, "bus-created", { createFrom: { ...spec("bus-created"), history: 2 } });
    expect((await again.status()).history).toBe(5);
    expect((await again.get("k"))?.string()).toBe("v");
  });

  it("compare-and-set: expected revision 0 creates, the current revision updates, any other is a conflict by code", async () => {
    const kv = await openKvBucket(bus.nc, "bus-cas", { createFrom: spec("bus-cas") });
    const created = await putKvEntry(pub(), "bus-cas", "key", "one", 0);
    expect((await kv.get("key"))?.revision).toBe(created.seq);

    const conflict = await rejection(putKvEntry(pub(), "bus-cas", "key", "again", 0));
    expect(conflict).toBeInstanceOf(BusError);
    expect(jsApiErrCode(conflict)).toBe(JsErrCode.StreamWrongLastSequence);
    expect(isRevisionConflict(conflict)).toBe(true);
    expect(isRevisionConflict(await rejection(putKvEntry(pub(), "bus-cas", "key", "stale", created.seq + 10)))).toBe(
      true,
    );

    const updated = await putKvEntry(pub(), "bus-cas", "key", "two", created.seq);
    expect(updated.seq).toBeGreaterThan(created.seq);
    const entry = await kv.get("key");
    expect(entry?.string()).toBe("two");
    expect(entry?.revision).toBe(updated.seq);

    // A deleted key keeps its delete marker as its last revision: 0 conflicts, the marker's revision writes.
    await kv.delete("key");
    const marker = await kv.get("key");
    expect(marker?.operation).toBe("DEL");
    expect(isRevisionConflict(await rejection(putKvEntry(pub(), "bus-cas", "key", "three", 0)))).toBe(true);
    await putKvEntry(pub(), "bus-cas", "key", "three", marker!.revision);
    expect((await kv.get("key"))?.string()).toBe("three");
  });

  it("writes without an expected revision whatever the key holds", async () => {
    const kv = await openKvBucket(bus.nc, "bus-put", { createFrom: spec("bus-put") });
    await putKvEntry(pub(), "bus-put", "key", "one");
    const ack = await putKvEntry(pub(), "bus-put", "key", new TextEncoder().encode("two"));
    const entry = await kv.get("key");
    expect(entry?.revision).toBe(ack.seq);
    expect(entry?.string()).toBe("two");
  });

  it("is not a revision conflict when the write failed otherwise", async () => {
    const err = await rejection(putKvEntry(pub(), "bus-no-such-bucket", "key", "x", 0));
    expect(err).toBeInstanceOf(BusError);
    expect(isRevisionConflict(err)).toBe(false);
    expect(isRevisionConflict(new Error("wrong last sequence"))).toBe(false);
  });

  it("loads the current value and revision of every key, skipping deleted ones", async () => {
    const kv = await openKvBucket(bus.nc, "bus-load", { createFrom: spec("bus-load") });
    await kv.put("a", JSON.stringify({ n: 1 }));
    await kv.put("a", JSON.stringify({ n: 2 }));
    const b = await kv.put("b.c", JSON.stringify({ n: 3 }));
    await kv.put("gone", JSON.stringify({ n: 4 }));
    await kv.delete("gone");
    const loaded = await loadKvBucket(bus.nc, "bus-load");
    expect([...loaded.keys()].sort()).toEqual(["a", "b.c"]);
    expect(loaded.get("a")?.value).toEqual({ n: 2 });
    expect(loaded.get("b.c")).toEqual({ value: { n: 3 }, revision: b });
  });

  it("lists the keys matching a pattern that hold a value, and ends while they are being rewritten", async () => {
    const kv = await openKvBucket(bus.nc, "bus-keys", { createFrom: spec("bus-keys") });
    for (let i = 0; i < 12; i++) await kv.put(`m.k${i}`, "{}");
    await kv.put("other.k", "{}");
    await kv.put("m.gone", "{}");
    await kv.delete("m.gone");
    expect(await listKvKeys(bus.nc, "bus-keys", "m.>")).toEqual([...Array(12).keys()].map((i) => `m.k${i}`).sort());
    expect(await listKvKeys(bus.nc, "bus-keys")).toHaveLength(13);
    expect(await listKvKeys(bus.nc, "bus-keys", "none.>")).toEqual([]);
    // Renewals every few milliseconds, as leases get: every listing still ends with exactly the twelve keys.
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        await kv.put(`m.k${i % 12}`, "{}");
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    try {
      for (let n = 0; n < 20; n++) expect(await listKvKeys(bus.nc, "bus-keys", "m.>")).toHaveLength(12);
    } finally {
      writing = false;
      await writer;
    }
  });
});
