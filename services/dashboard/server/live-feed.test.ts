/**
 * The dashboard's live feed against a real nats-server: a view entry copied by the server onto a key never
 * written (a direct get whose reply subject is that key, which any user that reads the view can ask for) is not
 * shown, neither in the snapshot nor live, for sessions and hosts alike, and is logged once per key however often
 * it is copied again; the key shows as soon as its own session is written there.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type HostEntry, type SessionEntry, sessionKey } from "../../../schemas/registry-entry.js";
import { useBus } from "../../../test/support/bus.js";
import { until } from "../../../test/support/wait.js";
import { KV_BUCKET_NAMES, openKvBucket, type KvBucket } from "../../bus/index.js";
import { hostRecord, sessionRecord } from "../../registry/test-records.js";
import { type FeedChange, LiveFeed } from "./live-feed.js";

const sessionEntry = (hostId: string, threadId: string): string =>
  JSON.stringify({
    v: 1,
    hostId,
    threadId,
    record: sessionRecord({ host: hostId, sessionId: threadId }),
    snapshot: null,
    applied: { epoch: "e", seq: 1 },
  } satisfies SessionEntry);
const hostEntry = (hostId: string): string =>
  JSON.stringify({ v: 1, hostId, record: hostRecord({ hostId }), snapshot: null } satisfies HostEntry);

/** Has the server copy the current entry of `fromKey` onto `toKey` of the same bucket (a direct get's reply). */
async function copyEntry(nc: NatsConnection, bucket: string, fromKey: string, toKey: string): Promise<void> {
  nc.publish(`$JS.API.DIRECT.GET.KV_${bucket}`, JSON.stringify({ last_by_subj: `$KV.${bucket}.${fromKey}` }), {
    reply: `$KV.${bucket}.${toKey}`,
  });
  await nc.flush();
}

describe("the dashboard's live feed skips entries not of their key", () => {
  const bus = useBus({ ensure: true });
  const logs: Record<string, unknown>[] = [];
  let sessions: KvBucket;
  let hosts: KvBucket;
  let feed: LiveFeed;
  const changes: FeedChange[] = [];
  const T1 = "11111111-1111-7111-8111-111111111111";
  const T2 = "22222222-2222-7222-8222-222222222222";
  const T3 = "33333333-3333-7333-8333-333333333333";
  const misplaced = () => logs.filter((l) => String(l.msg).startsWith("skipped a KV value of another key"));

  beforeAll(async () => {
    sessions = await openKvBucket(bus.nc, KV_BUCKET_NAMES.sessions);
    hosts = await openKvBucket(bus.nc, KV_BUCKET_NAMES.hosts);
    await sessions.put(sessionKey("h1", T1), sessionEntry("h1", T1));
    await hosts.put("h1", hostEntry("h1"));
    // Copies made before the dashboard starts: on a session key and a host key nobody ever wrote.
    await copyEntry(bus.nc, KV_BUCKET_NAMES.sessions, sessionKey("h1", T1), sessionKey("h1", T2));
    await copyEntry(bus.nc, KV_BUCKET_NAMES.hosts, "h1", "h2");
    await until("both copies are stored", async () => (await sessions.get(sessionKey("h1", T2))) && hosts.get("h2"));
    const logger = pino({ level: "debug" }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    feed = new LiveFeed(bus.nc, logger);
    await feed.start();
    feed.subscribe((c) => changes.push(c));
  });
  afterAll(() => feed?.stop());

  it("a copy already in the bucket is no row: one row per session and host, one log line per key", () => {
    const snap = feed.snapshot();
    expect(snap.sessions.map((r) => r.key)).toEqual([sessionKey("h1", T1)]);
    expect(snap.hosts.map((r) => r.key)).toEqual(["h1"]);
    // (The two buckets are followed side by side: their lines come in either order.)
    expect(
      misplaced()
        .map((l) => [l.bucket, l.key, l.itsKey])
        .sort(),
    ).toEqual([
      [KV_BUCKET_NAMES.hosts, "h2", "h1"],
      [KV_BUCKET_NAMES.sessions, sessionKey("h1", T2), sessionKey("h1", T1)],
    ]);
  });

  it("a copy arriving live is no change either, and copying again logs nothing more; the key's own session shows", async () => {
    await copyEntry(bus.nc, KV_BUCKET_NAMES.sessions, sessionKey("h1", T1), sessionKey("h1", T3));
    await copyEntry(bus.nc, KV_BUCKET_NAMES.sessions, sessionKey("h1", T1), sessionKey("h1", T2));
    await copyEntry(bus.nc, KV_BUCKET_NAMES.hosts, "h1", "h2");
    // A write after the copies: once it is in the view, the copies before it have been seen.
    await sessions.put(sessionKey("h1", T2), sessionEntry("h1", T2));
    await until("the rightful entry of h1.T2 is in the view", () =>
      feed.snapshot().sessions.some((r) => r.key === sessionKey("h1", T2) && r.record.sessionId === T2),
    );
    await hosts.put("h3", hostEntry("h3"));
    await until("h3 is in the view", () => feed.snapshot().hosts.some((r) => r.key === "h3"));

    expect(
      feed
        .snapshot()
        .sessions.map((r) => [r.key, r.record.sessionId])
        .sort(),
    ).toEqual([
      [sessionKey("h1", T1), T1],
      [sessionKey("h1", T2), T2],
    ]);
    expect(
      feed
        .snapshot()
        .hosts.map((r) => r.key)
        .sort(),
    ).toEqual(["h1", "h3"]);
    // Changes only for keys of their own entries (a new session's row may go out twice: its short id is refreshed).
    expect([...new Set(changes.flatMap((c) => (c.row ? [`${c.bucket}/${c.key}`] : [])))]).toEqual([
      `sessions/${sessionKey("h1", T2)}`,
      "hosts/h3",
    ]);
    // Logged once per key: h1.T3 is new, h1.T2 and h2 were logged at start.
    expect(
      misplaced()
        .map((l) => l.key)
        .sort(),
    ).toEqual([sessionKey("h1", T2), sessionKey("h1", T3), "h2"]);
  });
});
