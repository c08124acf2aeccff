/**
 * Registry partitions on a real nats-server, several instances in this process each on its own connection:
 * each partition is served by the one instance holding its lease; any instance answers from the whole view; a
 * stopped or frozen instance's partitions move to the other within the lease TTL and the view still equals a
 * replay of CODEX_EVENTS (nothing lost, nothing applied twice, no FLEET notice twice); a deposed writer's late
 * write is refused or overwritten, and counted; P changes from 1 to 2 mid-stream with both generations running.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, describe, expect, it } from "vitest";
import type { SessionRecord } from "../../schemas/registry.js";
import { useBus, type TestBus } from "../../test/support/bus.js";
import { eventually, until } from "../../test/support/wait.js";
import { KV_BUCKET_NAMES, STREAM_NAMES, leaseKeys, leaseView, openKvBucket, subjects } from "../bus/index.js";
import { ServiceMetrics } from "../ops/metrics.js";
import { partitionOf } from "./partition.js";
import { startRegistry, type Registry, type RegistryOptions } from "./registry.js";
import { replayEnvelopes } from "./replay.js";
import {
  FakeHost,
  kvHostRecords,
  kvSessionRecords,
  mixedWorkload,
  readFleet,
  readSessionEntries,
  streamEnvelopes,
} from "./test-fleet.js";

const TTL_MS = 2_000;
const base = {
  sweepIntervalMs: 60_000,
  degradedAfterMs: 60_000,
  offlineAfterMs: 60_000,
  staleAfterMs: 60_000,
  batchWindowMs: 100,
  ackWaitMs: 2_000,
  leaseTtlMs: TTL_MS,
  metricsSampleMs: 200,
} satisfies RegistryOptions;

// Two hosts in each of the two partitions.
const HOSTS = ["h-a", "h-b", "h-c", "h-d"];

const started: Registry[] = [];
afterAll(async () => {
  await Promise.all(started.map((r) => r.stop()));
});

async function start(bus: TestBus, opts: RegistryOptions): Promise<Registry> {
  const r = await startRegistry({ nc: await bus.connect(), ...base, ...opts });
  started.push(r);
  return r;
}

async function drained(bus: TestBus, durables: string[]): Promise<void> {
  const jsm = await jetstreamManager(bus.nc);
  await eventually(async () => {
    for (const durable of durables) {
      const info = await jsm.consumers.info(STREAM_NAMES.events, durable);
      expect({ durable, pending: info.num_pending, unacked: info.num_ack_pending }).toEqual({
        durable,
        pending: 0,
        unacked: 0,
      });
    }
  }, 30_000);
}

/** The view, each instance's answers, and FLEET all agree with a replay of the whole stream. */
async function expectReplayed(bus: TestBus, instances: Registry[]): Promise<void> {
  const expected = replayEnvelopes(await streamEnvelopes(bus.js));
  await eventually(async () => expect(await kvSessionRecords(bus.nc)).toEqual(expected.sessions), 10_000);
  expect(await kvHostRecords(bus.nc)).toEqual(expected.hosts);
  for (const r of instances) {
    await eventually(() => {
      const page = r.testing.answer(subjects.registrySessionsList(), { limit: 1000 }) as { sessions: SessionRecord[] };
      expect(page.sessions).toEqual(expected.sessions);
      expect(r.testing.answer(subjects.registryHostsList())).toEqual({ hosts: expected.hosts });
    }, 10_000);
  }
  const fleet = await readFleet(bus.js);
  expect(new Set(fleet.map((n) => n.id)).size).toBe(fleet.length);
  expect(new Set(fleet.map((n) => n.id))).toEqual(new Set(expected.notices.map((n) => n.id)));
}

async function holders(bus: TestBus, partitions: number): Promise<(string | null)[]> {
  const kv = await openKvBucket(bus.nc, KV_BUCKET_NAMES.leases);
  const out: (string | null)[] = [];
  for (let k = 0; k < partitions; k++) {
    const view = leaseView(await kv.get(leaseKeys.registryPartition(partitions, k)));
    out.push(view === null || view.record.released ? null : view.record.holder);
  }
  return out;
}

const runSteps = async (steps: (() => Promise<unknown>)[], pause = 0): Promise<void> => {
  for (const step of steps) {
    await step();
    if (pause) await new Promise((r) => setTimeout(r, pause));
  }
};

async function conflictsCounted(metrics: ServiceMetrics): Promise<number> {
  return (await metrics.viewWriteConflicts.get()).values.reduce((n, v) => n + v.value, 0);
}

describe("registry partitions: two instances, P = 2", () => {
  const bus = useBus({ ensure: true });
  const hosts = HOSTS.map((h) => new FakeHost(bus, h));
  const durables = ["rp-2-0", "rp-2-1"];
  let a: Registry;
  let b: Registry;

  const lines: Record<string, unknown>[] = [];
  const line =
    (level: string) =>
    (obj: object, msg: string): void =>
      void lines.push({ level, ...obj, msg });
  const logger = { debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") };
  const metricsA = new ServiceMetrics("registry", "a", { defaultMetrics: false });
  const metricsB = new ServiceMetrics("registry", "b", { defaultMetrics: false });

  it("the partitions spread over the instances, each served by exactly one; either answers from the whole view", async () => {
    expect(HOSTS.map((h) => partitionOf(h, 2))).toEqual([1, 0, 1, 0]);
    a = await start(bus, { instance: "a", partitions: 2, durableName: "rp", logger, metrics: metricsA });
    expect(a.serving()).toEqual([0, 1]);
    b = await start(bus, { instance: "b", partitions: 2, durableName: "rp", logger, metrics: metricsB });
    expect(b.serving()).toEqual([]);
    // a holds both until it sees b alive (two looks, a TTL apart), then hands one over.
    await until("one partition each", () => a.serving().length === 1 && b.serving().length === 1, TTL_MS * 15);
    expect(a.stats().partitionsHandedOver).toBe(1);
    const servedBy = (k: number) => [a, b].filter((r) => r.serving().includes(k)).map((r) => r.instance);
    expect(await holders(bus, 2)).toEqual([servedBy(0)[0], servedBy(1)[0]]);
    await runSteps(mixedWorkload(hosts, 4));
    await drained(bus, durables);
    await expectReplayed(bus, [a, b]);
    expect(servedBy(0)).toHaveLength(1);
    expect(servedBy(1)).toHaveLength(1);

    // Metrics: events taken in, sessions by status and lag of each served partition, leases held.
    const sum = async (m: ServiceMetrics, name: "eventsIn" | "sessions") =>
      (await m[name].get()).values.reduce((n, v) => n + v.value, 0);
    const sent = hosts.reduce((n, h) => n + h.sent.length, 0);
    expect((await sum(metricsA, "eventsIn")) + (await sum(metricsB, "eventsIn"))).toBeGreaterThanOrEqual(sent);
    await eventually(async () =>
      expect((await sum(metricsA, "sessions")) + (await sum(metricsB, "sessions"))).toBe(HOSTS.length * 4),
    );
    for (const [r, m] of [
      [a, metricsA],
      [b, metricsB],
    ] as const) {
      const k = r.serving()[0] as number;
      await eventually(async () =>
        expect((await m.consumerLag.get()).values.map((v) => [v.labels.consumer, v.value])).toEqual([[`rp-2-${k}`, 0]]),
      );
      const held = (await m.leaseHeld.get()).values.map((v) => [v.labels.lease, v.value]);
      expect(held.sort()).toEqual([
        [leaseKeys.registryPartition(2, 0), k === 0 ? 1 : 0],
        [leaseKeys.registryPartition(2, 1), k === 1 ? 1 : 0],
      ]);
    }
    // Log lines carry the instance, and the partition where one is concerned.
    const serving = lines.filter((l) => l.msg === "registry: serving partition");
    expect(serving.map((l) => [l.instance, l.partition]).sort()).toEqual(
      expect.arrayContaining([
        ["a", 0],
        ["a", 1],
        ["b", b.serving()[0]],
      ]),
    );
    expect(lines.every((l) => l.instance === "a" || l.instance === "b")).toBe(true);
  });

  it("stopped mid-stream: its partitions move to the other within the TTL, and nothing is lost or applied twice", async () => {
    const [leaving, staying] = [a, b];
    expect([a.serving().length, b.serving().length]).toEqual([1, 1]);
    const more = HOSTS.map((h) => new FakeHost(bus, h, "20260101T000001Z-b"));
    const steps = mixedWorkload(more, 4, 11);
    const publishing = runSteps(steps, 2);
    await until("half the workload published", () => more.reduce((n, h) => n + h.sent.length, 0) > 60);
    const stoppedAt = Date.now();
    await leaving.stop();
    await until("the other instance holds both leases", async () =>
      (await holders(bus, 2)).every((h) => h === staying.instance),
    );
    const movedInMs = Date.now() - stoppedAt;
    await until("the other instance serves both partitions", () => staying.serving().length === 2, TTL_MS * 10);
    console.log(
      `stopped instance: its leases held elsewhere after ${movedInMs} ms, served after ${Date.now() - stoppedAt} ms (lease TTL ${TTL_MS} ms)`,
    );
    // A clean stop releases its leases: the standby takes them at its next look (a third of the TTL), not at expiry.
    expect(movedInMs).toBeLessThan(TTL_MS);
    await publishing;
    await drained(bus, durables);
    await expectReplayed(bus, [staying]);
    expect(await holders(bus, 2)).toEqual([staying.instance, staying.instance]);
  });
});

/**
 * Freezing the instance that serves both partitions, with changes it applied but has not written yet (activity
 * waits for a long batch window). `thawWhen` picks when it thaws and sends its late writes: after the new owner
 * wrote those sessions (the late writes are refused), or before it did (the new owner overwrites them).
 */
function freezeSuite(name: string, thawWhen: "after-new-owner-wrote" | "before-new-owner-wrote"): void {
  describe(`registry partitions: a frozen instance, late writes landing ${thawWhen.replaceAll("-", " ")}`, () => {
    const bus = useBus({ ensure: true });
    const hosts = HOSTS.map((h) => new FakeHost(bus, h));
    const durables = [`${name}-2-0`, `${name}-2-1`];

    it("its partitions move to the standby within the TTL; the late writes are fenced and counted; the view equals a replay", async () => {
      // What both instances logged, with times, for a wait that times out to show.
      const lines: string[] = [];
      const t0 = Date.now();
      const line =
        (level: string) =>
        (obj: object, msg: string): void =>
          void lines.push(
            `+${Date.now() - t0}ms ${level} ${msg} ${JSON.stringify(obj, (_k, v) => (v instanceof Error ? v.message : v))}`,
          );
      const logger = { debug: line("debug"), info: line("info"), warn: line("warn"), error: line("error") };
      const logTail = { detail: () => lines.slice(-150).join("\n") };
      const frozenMetrics = new ServiceMetrics("registry", "x", { defaultMetrics: false });
      const standbyMetrics = new ServiceMetrics("registry", "y", { defaultMetrics: false });
      // x batches activity for long, so what it applied before freezing is still unwritten when it thaws; y
      // batches briefly (or, when x must land first, for long too).
      const x = await start(bus, {
        instance: "x",
        partitions: 2,
        durableName: name,
        batchWindowMs: 30_000,
        metrics: frozenMetrics,
        logger,
      });
      expect(x.serving()).toEqual([0, 1]);
      const y = await start(bus, {
        instance: "y",
        partitions: 2,
        durableName: name,
        batchWindowMs: thawWhen === "before-new-owner-wrote" ? 3_000 : 100,
        metrics: standbyMetrics,
        logger,
      });
      await until("x handed a partition to y", () => y.serving().length === 1 && x.serving().length === 1, TTL_MS * 15);
      await runSteps(mixedWorkload(hosts, 3));
      // Every session is in the view; only activity (deltas) is left waiting for x's batch window.
      const threads = hosts.flatMap((h) => [0, 1, 2].map((i) => ({ h, t: `${h.hostId}-t${i}` })));
      await eventually(async () => expect((await readSessionEntries(bus.nc)).size).toBe(threads.length), 10_000);
      const xPartition = x.serving()[0] as number;
      const applied = x.stats().eventsApplied;
      for (const { h, t } of threads) await h.delta(t, `${t}-turn1`);
      const ofX = threads.filter(({ h }) => partitionOf(h.hostId, 2) === xPartition).length;
      await until("x applied the activity", () => x.stats().eventsApplied >= applied + ofX);

      const frozenAt = Date.now();
      x.testing.freeze();
      await until("y holds both leases", async () => (await holders(bus, 2)).every((h) => h === "y"), TTL_MS * 10);
      const movedInMs = Date.now() - frozenAt;
      await until("y serves both partitions", () => y.serving().length === 2, TTL_MS * 10);
      console.log(
        `frozen instance: its lease taken over after ${movedInMs} ms, served after ${Date.now() - frozenAt} ms (lease TTL ${TTL_MS} ms)`,
      );
      // The holder renewed at most a third of the TTL before freezing; the standby takes over once the lease's
      // revision has stood still for the TTL, looking every third of it (slack for a loaded machine). Nothing
      // else (ack_wait, the lease bucket's 30 s max age) is waited for.
      expect(movedInMs).toBeLessThan(TTL_MS + (2 * TTL_MS) / 3 + 3_000);
      const leaseKey = leaseKeys.registryPartition(2, xPartition);
      const leasesKv = await openKvBucket(bus.nc, KV_BUCKET_NAMES.leases);
      const yEpoch = leaseView(await leasesKv.get(leaseKey))!.epoch;

      if (thawWhen === "after-new-owner-wrote") {
        // y read what x held unacked from the stream and wrote it: every entry of that partition is y's now.
        await eventually(async () => {
          const entries = [...(await readSessionEntries(bus.nc)).values()].filter(
            (e) => partitionOf(e.hostId, 2) === xPartition,
          );
          expect(entries.length).toBeGreaterThan(0);
          expect(entries.every((e) => e.writer?.lease === leaseKey && e.writer.epoch >= yEpoch)).toBe(true);
        }, 10_000);
      }
      await x.testing.thaw({ lateWrite: true });
      await until("x stops serving", () => x.serving().length === 0, TTL_MS * 10);

      if (thawWhen === "after-new-owner-wrote") {
        expect(x.stats().viewWritesRefused).toBeGreaterThan(0);
        expect(await conflictsCounted(frozenMetrics)).toBeGreaterThan(0);
      } else {
        // x's late writes landed on entries y had not written yet; y overwrites each at its next write.
        await until("y overwrote x's late writes", () => y.stats().viewWritesOverOlder > 0, 10_000);
        expect(await conflictsCounted(standbyMetrics)).toBeGreaterThan(0);
      }
      // Either way, every entry ends up written by the new owner or left as it was, never regressed.
      const more = HOSTS.map((h) => new FakeHost(bus, h, "20260101T000001Z-b"));
      await runSteps(mixedWorkload(more, 2, 5));
      await drained(bus, durables);
      await expectReplayed(bus, [x, y]);
      // x, alive again, gets a partition back: one each, and y's lease metrics say which it holds.
      await until("one partition each again", () => x.serving().length === 1 && y.serving().length === 1, {
        timeoutMs: TTL_MS * 15,
        ...logTail,
      });
      await expectReplayed(bus, [x, y]);
      await eventually(async () => {
        const held = await standbyMetrics.leaseHeld.get();
        expect(held.values.filter((v) => v.value === 1).map((v) => v.labels.lease)).toEqual([
          leaseKeys.registryPartition(2, y.serving()[0] as number),
        ]);
      });
    });
  });
}

freezeSuite("fr", "after-new-owner-wrote");
freezeSuite("fo", "before-new-owner-wrote");

describe("registry partitions: changing P from 1 to 2 mid-stream", () => {
  const bus = useBus({ ensure: true });
  const hosts = HOSTS.map((h) => new FakeHost(bus, h));

  it("the new partitions start at the old consumer's ack floor, overlap with it, and the view equals a replay", async () => {
    const one = await start(bus, { instance: "one", partitions: 1, durableName: "pc" });
    const steps = mixedWorkload(hosts, 6);
    const half = Math.floor(steps.length / 2);
    await runSteps(steps.slice(0, half));
    await drained(bus, ["pc"]);
    const jsm = await jetstreamManager(bus.nc);
    const floor = (await jsm.consumers.info(STREAM_NAMES.events, "pc")).ack_floor.stream_seq;
    expect(floor).toBeGreaterThan(50);

    // The rest is published while both generations run, as in a rolling change of --partitions.
    const publishing = runSteps(steps.slice(half), 2);
    const twoA = await start(bus, { instance: "two-a", partitions: 2, durableName: "pc" });
    const twoB = await start(bus, { instance: "two-b", partitions: 2, durableName: "pc" });
    for (const k of [0, 1]) {
      const info = await jsm.consumers.info(STREAM_NAMES.events, `pc-2-${k}`);
      // Started after the old consumer's floor (at least as far as when we read it), not from the first event.
      expect(info.config.opt_start_seq).toBeGreaterThan(floor);
    }
    await until(
      "some events applied by the new generation",
      () => twoA.stats().eventsApplied + twoB.stats().eventsApplied > 0,
    );
    await one.stop();
    await publishing;
    const o = one.stats();
    console.log(
      `P 1 -> 2 overlap: the P=1 instance had ${o.viewWritesRefused} writes refused and stood aside ${o.partitionsLost} times; the P=2 ones overwrote or adopted ${twoA.stats().viewWritesOverOlder + twoB.stats().viewWritesOverOlder} older entries`,
    );
    await drained(bus, ["pc-2-0", "pc-2-1"]);
    await expectReplayed(bus, [twoA, twoB]);
    // The new generation re-read only what came after the old floor, not the whole stream.
    const total = (await jsm.streams.info(STREAM_NAMES.events)).state.messages;
    const seenByNew = [twoA, twoB].reduce(
      (n, r) => n + r.stats().eventsApplied + r.stats().eventsUnchanged + r.stats().eventsDuplicate,
      0,
    );
    expect(seenByNew).toBeLessThan(total - floor + 50);
  });
});
