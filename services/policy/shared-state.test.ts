// The policy instances' shared memory (KV codex-policy-state) on a real nats-server, with two PolicyState
// objects on connections of their own standing for two instances.
import { jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useBus } from "../../test/support/bus.js";
import { JetStreamPublisher, KV_BUCKET_NAMES, kvStreamName, openKvBucket, type KvBucket } from "../bus/index.js";
import { PolicyState, policyStateKeys } from "./shared-state.js";

const log = pino({ level: "silent" });
const loops = { maxHops: 3, cycleWindowMs: 60_000 };
const slow = (burst: number) => ({ burst, perSecond: 0.001 });

describe("PolicyState: rate limits and loop memory shared by instances", () => {
  const bus = useBus({ ensure: true });
  let one: PolicyState;
  let two: PolicyState;
  let kv: KvBucket;
  const publishers: JetStreamPublisher[] = [];

  const open = async (name: string) => {
    const nc = await bus.connect({ name });
    const publisher = new JetStreamPublisher(nc);
    publishers.push(publisher);
    return PolicyState.open({ nc, publisher, log });
  };
  beforeAll(async () => {
    one = await open("one");
    two = await open("two");
    kv = await openKvBucket(bus.nc, KV_BUCKET_NAMES.policyState);
  });
  afterAll(async () => {
    await one.stop();
    await two.stop();
    for (const p of publishers) p.close("test done");
  });

  it("admits exactly the burst between two instances taking at once from one bucket", async () => {
    const takes = Array.from({ length: 80 }, (_, i) =>
      (i % 2 === 0 ? one : two).take([{ kind: "caller", id: "operator:race", spec: slow(25) }]),
    );
    const results = await Promise.all(takes);
    expect(results.filter((r) => r.ok)).toHaveLength(25);
    expect(results.filter((r) => !r.ok).every((r) => !r.ok && r.refused.id === "operator:race")).toBe(true);
    // Both instances took some: the bucket's last value is what is left (none).
    const entry = await kv.get(policyStateKeys.bucket("caller", "operator:race"));
    expect(JSON.parse(entry!.string()).tokens).toBeLessThan(1);
  });

  it("refuses from what it knows without writing, and takes nothing from the other bucket then", async () => {
    const spec = slow(1);
    expect(await one.take([{ kind: "caller", id: "operator:once", spec }])).toEqual({ ok: true });
    const callerKey = policyStateKeys.bucket("caller", "operator:once");
    const revision = (await kv.get(callerKey))!.revision;
    const refused = await one.take([
      { kind: "caller", id: "operator:once", spec },
      { kind: "target", id: "h1.untouched", spec },
    ]);
    expect(refused).toMatchObject({ ok: false, refused: { kind: "caller" } });
    expect((await kv.get(callerKey))!.revision).toBe(revision);
    expect(await kv.get(policyStateKeys.bucket("target", "h1.untouched"))).toBeNull();
  });

  it("counts a bucket whose value does not name its own key as empty from when it was stored", async () => {
    const key = policyStateKeys.bucket("caller", "operator:forged");
    const other = policyStateKeys.bucket("caller", "operator:someone-else");
    // A full bucket's value, but another key's: as if replayed into this key through a reply subject.
    await kv.put(key, JSON.stringify({ key: other, tokens: 1_000, atMs: Date.now() }));
    expect(await two.take([{ kind: "caller", id: "operator:forged", spec: slow(5) }])).toMatchObject({ ok: false });
    // Refilled at 1,000 a second, it holds tokens again a moment later.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await two.take([{ kind: "caller", id: "operator:forged", spec: { burst: 5, perSecond: 1_000 } }])).toEqual({
      ok: true,
    });
  });

  it("takes from a bucket whose entry is gone (as the bucket's max age removes it) as from a full one", async () => {
    const spec = slow(5);
    const id = "operator:expired";
    const key = policyStateKeys.bucket("caller", id);
    for (let i = 0; i < 4; i++) expect(await one.take([{ kind: "caller", id, spec }])).toEqual({ ok: true });
    // What max age does: the key's messages are gone, no delete marker, nothing a follow would deliver.
    const jsm = await jetstreamManager(bus.nc);
    await jsm.streams.purge(kvStreamName(KV_BUCKET_NAMES.policyState), {
      filter: `$KV.${KV_BUCKET_NAMES.policyState}.${key}`,
    });
    expect(await kv.get(key)).toBeNull();
    // `one` still knows one token left at the old revision: its write conflicts, it reads, and takes from a full bucket.
    expect(await one.take([{ kind: "caller", id, spec }])).toEqual({ ok: true });
    expect(JSON.parse((await kv.get(key))!.string()).tokens).toBeCloseTo(4, 2);
  });

  it("sees a delivery one instance recorded in the other's check: a cycle, and the hops it carried", async () => {
    expect((await one.check({ from: "a", to: "b", hops: 1 }, loops)).check).toEqual({ ok: true });
    await one.record("a", "b", 1);
    const back = await two.check({ from: "b", to: "a", hops: 0 }, loops);
    expect(back.check).toMatchObject({ ok: false, kind: "cycle" });
    expect(back.hops).toBe(2);
    // Not from a session, or to itself: judged without reading anything.
    expect((await two.check({ from: null, to: "a", hops: 4 }, loops)).check).toMatchObject({ kind: "hops" });
    expect((await two.check({ from: "a", to: "a", hops: 0 }, loops)).check).toMatchObject({ kind: "self_echo" });
  });

  it("counts junk on a loop entry as the worst case from when it was stored, not as no memory", async () => {
    // A→B delivered: B→A is a cycle. Then junk lands on both loop keys (any bus user can have the server store an
    // API answer on a key by naming it as a reply subject): the memory must not be erased by it.
    await one.record("c", "d", 1);
    expect((await two.check({ from: "d", to: "c", hops: 0 }, loops)).check).toMatchObject({ ok: false, kind: "cycle" });
    await kv.put(policyStateKeys.inbound("d"), '{"type":"io.nats.jetstream.api.v1.stream_info_response"}');
    await kv.put(policyStateKeys.sent("c", "d"), "not json");
    const after = await two.check({ from: "d", to: "c", hops: 0 }, loops);
    expect(after.check.ok).toBe(false);
    expect(after.hops).toBeGreaterThan(loops.maxHops);
  });
});
