/** Leases in codex-leases against a real nats-server: taking, standing by, expiry, takeover, release, epochs. */
import { afterEach, describe, expect, it } from "vitest";
import { useBus } from "../../test/support/bus.js";
import { until } from "../../test/support/wait.js";
import { openKvBucket, type KvBucket } from "./kv.js";
import { leaseKeys, leaseView, startLease, type Lease, type LeaseLossReason } from "./lease.js";
import { KV_BUCKET_NAMES } from "./topology.js";

describe("leases", () => {
  const bus = useBus({ ensure: true });
  const started: Lease[] = [];
  let n = 0;
  const key = (): string => leaseKeys.registryPartition(4, n++);
  const kv = (): Promise<KvBucket> => openKvBucket(bus.nc, KV_BUCKET_NAMES.leases);
  afterEach(() => {
    for (const l of started.splice(0)) l.stop();
  });
  const lease = async (k: string, holder: string, extra: { force?: boolean; ttlMs?: number } = {}) => {
    const losses: LeaseLossReason[] = [];
    const l = startLease({
      kv: await kv(),
      key: k,
      holder,
      ttlMs: extra.ttlMs ?? 900,
      force: extra.force,
      onLost: (reason) => losses.push(reason),
    });
    started.push(l);
    return { l, losses };
  };

  it("one holder at a time; a standby takes over within the TTL once the holder stops renewing", async () => {
    const k = key();
    const a = await lease(k, "a");
    const epochA = await a.l.acquired;
    const b = await lease(k, "b");
    // b stands by while a renews: over three TTLs it never holds.
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 450));
      expect(b.l.held()).toBe(false);
      expect(a.l.held()).toBe(true);
    }
    const stoppedAt = Date.now();
    a.l.stop();
    const epochB = await b.l.acquired;
    const tookMs = Date.now() - stoppedAt;
    expect(epochB).toBeGreaterThan(epochA);
    // Taken no sooner than one TTL after the last renewal it saw, and within TTL + two polling periods.
    expect(tookMs).toBeGreaterThanOrEqual(900 - 300);
    expect(tookMs).toBeLessThan(900 + 2 * 300 + 1_000);
    const view = leaseView(await (await kv()).get(k));
    expect(view?.record.holder).toBe("b");
    expect(view?.epoch).toBe(epochB);
  });

  it("a forced take deposes the holder: its next renewal fails and it reports 'taken'", async () => {
    const k = key();
    const a = await lease(k, "a");
    const epochA = await a.l.acquired;
    const b = await lease(k, "b", { force: true });
    const epochB = await b.l.acquired;
    expect(epochB).toBeGreaterThan(epochA);
    await until("a loses the lease", () => a.losses.includes("taken"), 2_000);
    expect(a.l.held()).toBe(false);
    expect(a.l.epoch).toBeUndefined();
    // a now stands by behind b and does not take it back.
    await new Promise((r) => setTimeout(r, 1_200));
    expect(b.l.held()).toBe(true);
    expect(a.l.held()).toBe(false);
  });

  it("observe() notices a takeover before the next renewal", async () => {
    const k = key();
    const a = await lease(k, "a", { ttlMs: 20_000 });
    await a.l.acquired;
    const b = await lease(k, "b", { force: true, ttlMs: 20_000 });
    await b.l.acquired;
    const entry = await (await kv()).get(k);
    if (!entry) throw new Error("no lease entry");
    a.l.observe(entry);
    expect(a.losses).toEqual(["taken"]);
  });

  it("a record copied onto another key is junk there: no takeover, and the holder renews over it", async () => {
    const [k1, k2] = [key(), key()];
    const a = await lease(k1, "a", { ttlMs: 1_500 });
    await a.l.acquired;
    const b = await lease(k2, "b", { ttlMs: 1_500 });
    await b.l.acquired;
    const bucket = await kv();
    const aEntry = await bucket.get(k1);
    if (!aEntry) throw new Error("no lease entry");
    expect(leaseView(aEntry)?.record.key).toBe(k1);
    // What a reader could have the server deliver onto k2 by naming it as a reply subject.
    const copied = await bucket.put(k2, aEntry.string());
    const onK2 = await bucket.get(k2);
    if (!onK2) throw new Error("no entry on k2");
    expect(leaseView(onK2)).toBeNull();
    b.l.observe(onK2);
    expect(b.losses).toEqual([]);
    await until("b renews over the copy", async () => ((await bucket.get(k2))?.revision ?? 0) > copied, 2_000);
    expect(leaseView(await bucket.get(k2))?.record.holder).toBe("b");
    expect(b.l.held()).toBe(true);
  });

  it("release lets a standby take over at once, with a higher epoch", async () => {
    const k = key();
    const a = await lease(k, "a", { ttlMs: 3_000 });
    const epochA = await a.l.acquired;
    const b = await lease(k, "b", { ttlMs: 3_000 });
    await new Promise((r) => setTimeout(r, 300));
    const releasedAt = Date.now();
    await a.l.release("test over");
    const epochB = await b.l.acquired;
    expect(epochB).toBeGreaterThan(epochA);
    expect(Date.now() - releasedAt).toBeLessThan(3_000 / 3 + 1_000);
    expect(a.losses).toEqual(["released"]);
  });

  it("a holder cut off from the bus stops holding after 0.8 TTL, before anyone may take over", async () => {
    const k = key();
    const nc2 = await bus.connect();
    const losses: LeaseLossReason[] = [];
    const l = startLease({
      kv: await openKvBucket(nc2, KV_BUCKET_NAMES.leases),
      key: k,
      holder: "cut",
      ttlMs: 900,
      onLost: (r) => losses.push(r),
    });
    started.push(l);
    await l.acquired;
    await nc2.close();
    await until("the cut-off holder stops", () => losses.includes("expired"), 2_000);
    expect(l.held()).toBe(false);
  });

  it("refuses a TTL the bucket's max age could collect", async () => {
    expect(() => startLease({ kv: {} as KvBucket, key: "x", holder: "a", ttlMs: 60_000 })).toThrow(/between/);
  });
});
