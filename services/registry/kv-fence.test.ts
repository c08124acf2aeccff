/**
 * Fenced writes to the view on a real nats-server: the newer epoch overwrites a deposed writer's entry and counts
 * it; the deposed writer's write to an entry the newer one wrote is refused (and counted), never retried; an
 * entry of a higher epoch whose lease is gone is overwritten; an older entry further along can be adopted.
 */
import { afterAll, describe, expect, it } from "vitest";
import { useBus } from "../../test/support/bus.js";
import {
  JetStreamPublisher,
  KV_BUCKET_NAMES,
  leaseView,
  openKvBucket,
  startLease,
  type KvBucket,
  type Lease,
} from "../bus/index.js";
import { DeposedError, KvTable, type Fence } from "./kv-view.js";

describe("registry: fenced view writes", () => {
  const bus = useBus({ ensure: true });
  const leases: Lease[] = [];
  let publisher: JetStreamPublisher | undefined;
  afterAll(() => {
    for (const l of leases) l.stop();
    publisher?.close();
  });

  const setup = async () => {
    const leasesKv = await openKvBucket(bus.nc, KV_BUCKET_NAMES.leases);
    const sessions = await openKvBucket(bus.nc, KV_BUCKET_NAMES.sessions);
    publisher ??= new JetStreamPublisher(bus.nc);
    const liveEpoch: Fence["liveEpoch"] = async (key) => {
      const view = leaseView(await leasesKv.get(key));
      return view === null || view.record.released ? null : view.epoch;
    };
    return { leasesKv, sessions, liveEpoch };
  };
  const table = (kv: KvBucket, fence: Fence) => new KvTable(kv, KV_BUCKET_NAMES.sessions, publisher!, fence);
  const value = (who: string, lease: string, epoch: number) => JSON.stringify({ who, writer: { lease, epoch } });
  const whoWrote = async (kv: KvBucket, key: string) => (await kv.get(key))!.json<{ who: string }>().who;

  it("a deposed writer is refused where the new owner wrote, and overwritten where it wrote late", async () => {
    const { leasesKv, sessions, liveEpoch } = await setup();
    const key = "registry.2.0";
    const a = startLease({ kv: leasesKv, key, holder: "a", ttlMs: 5_000 });
    leases.push(a);
    const epochA = await a.acquired;
    const b = startLease({ kv: leasesKv, key, holder: "b", ttlMs: 5_000, force: true });
    leases.push(b);
    const epochB = await b.acquired;
    expect(epochB).toBeGreaterThan(epochA);
    let conflictsA = 0;
    let conflictsB = 0;
    const tA = table(sessions, { writer: { lease: key, epoch: epochA }, liveEpoch, onConflict: () => conflictsA++ });
    const tB = table(sessions, { writer: { lease: key, epoch: epochB }, liveEpoch, onConflict: () => conflictsB++ });

    // Before the takeover, a wrote both keys.
    await tA.write("hf.t1", value("a", key, epochA));
    await tA.write("hf.t2", value("a", key, epochA));
    // The new owner writes t1 (it never read it: its create conflicts with a's older entry, which it overwrites).
    await tB.write("hf.t1", value("b", key, epochB));
    expect(tB.fenceStats).toEqual({ overOlder: 1, refused: 0 });
    expect(await whoWrote(sessions, "hf.t1")).toBe("b");
    // a, deposed, writes t1 again: CAS on its own old revision fails, and the entry's epoch is live and higher.
    const refused = await tA.write("hf.t1", value("a-late", key, epochA)).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(DeposedError);
    expect((refused as DeposedError).by).toEqual({ lease: key, epoch: epochB });
    expect(tA.fenceStats).toEqual({ overOlder: 0, refused: 1 });
    expect(await whoWrote(sessions, "hf.t1")).toBe("b");
    // a's late write to t2, which b has not written yet, lands (its CAS still holds)...
    await tA.write("hf.t2", value("a-late", key, epochA));
    expect(await whoWrote(sessions, "hf.t2")).toBe("a-late");
    // ...and b overwrites it at its next write of t2, counting the conflict.
    await tB.write("hf.t2", value("b", key, epochB));
    expect(await whoWrote(sessions, "hf.t2")).toBe("b");
    expect(tB.fenceStats).toEqual({ overOlder: 2, refused: 0 });
    expect({ conflictsA, conflictsB }).toEqual({ conflictsA: 1, conflictsB: 2 });
  });

  it("an entry of a higher epoch whose lease nobody holds any more is overwritten", async () => {
    const { leasesKv, sessions, liveEpoch } = await setup();
    const mine = startLease({ kv: leasesKv, key: "registry.1.0", holder: "c", ttlMs: 5_000 });
    leases.push(mine);
    const epoch = await mine.acquired;
    await sessions.put("hg.t1", value("ghost", "registry.3.2", epoch + 1_000_000));
    const t = table(sessions, { writer: { lease: "registry.1.0", epoch }, liveEpoch });
    await t.write("hg.t1", value("c", "registry.1.0", epoch));
    expect(await whoWrote(sessions, "hg.t1")).toBe("c");
    expect(t.fenceStats).toEqual({ overOlder: 1, refused: 0 });
  });

  it("an older entry further along is adopted, not overwritten", async () => {
    const { sessions, liveEpoch } = await setup();
    await sessions.put("hh.t1", value("older", "registry.1.0", 1));
    const seen: unknown[] = [];
    const t = table(sessions, {
      writer: { lease: "registry.2.1", epoch: 10_000_000 },
      liveEpoch,
      onOlder: (_key, current) => {
        seen.push(current);
        return "keep";
      },
    });
    const revision = await t.write("hh.t1", value("newer", "registry.2.1", 10_000_000));
    expect(await whoWrote(sessions, "hh.t1")).toBe("older");
    expect(revision).toBe((await sessions.get("hh.t1"))!.revision);
    expect(seen).toEqual([{ who: "older", writer: { lease: "registry.1.0", epoch: 1 } }]);
    expect(t.stats).toEqual({ writes: 0, conflicts: 1 });
  });
});
