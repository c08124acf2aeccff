/**
 * The dashboard's one WebSocket per tab, against the real registry's KV view: a snapshot equal to the buckets,
 * changes after connect, a reconnect that gets exactly what was written after its revision (removals too), a bad
 * frame closing only its own socket, the heartbeat, and FLEET notices. Real nats-server, registry, gateway and
 * policy service (test-policy.ts's rig); operators are added through the policy service.
 */
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionRow, ViewRevision } from "../../../schemas/dashboard.js";
import { HostEntry, SessionEntry } from "../../../schemas/registry-entry.js";
import { sessionRecord } from "../../registry/test-records.js";
import { OperatorRevokeResult } from "../../../schemas/admin-operators.js";
import { requestAdmin } from "../../clients/admin-request.js";
import { KV_BUCKET_NAMES, loadKvBucket } from "../../bus/index.js";
import { eventually } from "../../../test/support/wait.js";
import { addOperator, type DashboardRig, openSocket, signIn, startDashboardRig } from "../test-dashboard.js";

/** The buckets as `[key, revision]` pairs, sorted, and their last revisions. */
async function kvView(r: DashboardRig) {
  const nc = r.rig.bus.nc;
  const pairs = async (bucket: string) =>
    [...(await loadKvBucket(nc, bucket))].map(([k, e]) => [k, e.revision] as [string, number]).sort();
  return { sessions: await pairs(KV_BUCKET_NAMES.sessions), hosts: await pairs(KV_BUCKET_NAMES.hosts) };
}
const pairsOf = (rows: { key: string; revision: number }[]) =>
  rows.map((r) => [r.key, r.revision] as [string, number]).sort();

/** A SessionEntry value for a key the test writes itself (host `hz`, not the registry's). */
function entryFor(threadId: string, summary: string): string {
  const record = sessionRecord({ sessionId: threadId, host: "hz", summary });
  const entry: SessionEntry = {
    v: 1,
    hostId: "hz",
    threadId,
    record,
    snapshot: null,
    applied: { epoch: "e", seq: 1 },
  };
  return JSON.stringify(entry);
}

describe("dashboard live feed over /ws", () => {
  let r: DashboardRig;
  let cookie: string;

  beforeAll(async () => {
    r = await startDashboardRig({ heartbeatMs: 300, sessionRecheckMs: 400 });
    await r.rig.session("11111111-1111-7111-8111-111111111111");
    await r.rig.session("22222222-2222-7222-8222-222222222222");
    cookie = await signIn(r.url, await addOperator(r.rig.bus.nc, "olga", "operator"));
  });
  afterAll(async () => {
    await r?.stop();
  });

  it("sends a snapshot on connect that matches the registry's KV view", async () => {
    // The view the dashboard has may trail the KV by a write: compare once both are quiet.
    await eventually(async () => {
      const s = openSocket(r.url, { cookie });
      s.hello(null);
      const snap = await s.next("snapshot");
      s.ws.close();
      const kv = await kvView(r);
      expect(pairsOf(snap.sessions)).toEqual(kv.sessions);
      expect(pairsOf(snap.hosts)).toEqual(kv.hosts);
      expect(snap.sessions.length).toBeGreaterThanOrEqual(2);
      expect(snap.hosts.map((h) => h.key)).toContain("h1");
      expect(snap.heartbeatMs).toBe(300);
      const sessions = await new Kvm(r.rig.bus.nc).open(KV_BUCKET_NAMES.sessions);
      expect(snap.rev.sessions).toBe((await sessions.status()).streamInfo.state.last_seq);
      // Each row is the KV value's record, with a fleet-wide short id.
      const row = snap.sessions.find((x) => x.key === "h1.11111111-1111-7111-8111-111111111111") as SessionRow;
      const stored = await sessions.get(row.key);
      expect(row.record).toEqual(SessionEntry.parse(stored?.json()).record);
      expect(row.shortId).toBe("11111111");
      expect(row.writtenAtMs).toBe(stored?.created.getTime());
    });
  });

  it("a change written after connect arrives as changes", async () => {
    const s = openSocket(r.url, { cookie });
    s.hello(null);
    const snap = await s.next("snapshot");
    const key = "h1.33333333-3333-7333-8333-333333333333";
    await r.rig.session("33333333-3333-7333-8333-333333333333");
    const change = await s.next("changes", (c) => c.sessions.some((x) => x.key === key));
    expect(change.from.sessions).toBeGreaterThanOrEqual(snap.rev.sessions);
    const row = change.sessions.find((x) => x.key === key) as SessionRow;
    const stored = await (await new Kvm(r.rig.bus.nc).open(KV_BUCKET_NAMES.sessions)).get(key);
    expect(row.revision).toBeLessThanOrEqual(change.rev.sessions);
    await eventually(async () => {
      const latest = await (await new Kvm(r.rig.bus.nc).open(KV_BUCKET_NAMES.sessions)).get(key);
      const last = s.frames.flatMap((f) => (f.type === "changes" ? f.sessions : [])).filter((x) => x.key === key);
      expect(last.at(-1)?.revision).toBe(latest?.revision);
    });
    expect(stored).not.toBeNull();
    // Frames chain: each `changes` starts where the one before ended.
    let rev: ViewRevision = snap.rev;
    for (const f of s.frames) {
      if (f.type !== "changes") continue;
      expect(f.from).toEqual(rev);
      rev = f.rev;
    }
    s.ws.close();
  });

  it("live changes are coalesced per key (latest row only, at most one frame per 16 ms), deletes included", async () => {
    const s = openSocket(r.url, { cookie });
    s.hello(null);
    await s.next("snapshot");
    const kv = await new Kvm(r.rig.bus.nc).open(KV_BUCKET_NAMES.sessions);
    const writes = await Promise.all(
      Array.from({ length: 200 }, (_, i) => kv.put("hz.busy", entryFor("busy", `w${i}`))),
    );
    const last = Math.max(...writes);
    await s.next("changes", (c) => c.sessions.some((x) => x.key === "hz.busy" && x.revision === last));
    const rows = s.frames.flatMap((f) => (f.type === "changes" ? f.sessions : [])).filter((x) => x.key === "hz.busy");
    expect(rows.length).toBeLessThan(200);
    expect(rows.at(-1)?.record.summary).toBe(`w${writes.indexOf(last)}`);
    // Every frame holds a key once.
    for (const f of s.frames)
      if (f.type === "changes") expect(new Set(f.sessions.map((x) => x.key)).size).toBe(f.sessions.length);
    await kv.put("hz.live", entryFor("live", "short-lived"));
    await kv.delete("hz.live");
    const gone = await s.next("changes", (c) => c.removedSessions.includes("hz.live"));
    expect(gone.sessions.map((x) => x.key)).not.toContain("hz.live");
    s.ws.close();
  });

  it("a reconnect with since gets exactly the keys written after it, and the removals", async () => {
    const kv = await new Kvm(r.rig.bus.nc).open(KV_BUCKET_NAMES.sessions);
    await kv.put("hz.gone", entryFor("gone", "to be removed"));
    await kv.put("hz.kept", entryFor("kept", "unchanged"));
    // The page's last revision: a snapshot taken once the dashboard has those two.
    const first = openSocket(r.url, { cookie });
    first.hello(null);
    const snap = await eventually(async () => {
      const f = await first.next("snapshot");
      expect(f.sessions.map((x) => x.key)).toEqual(expect.arrayContaining(["hz.gone", "hz.kept"]));
      return f;
    });
    first.ws.close();
    await first.ended;
    // While it is away: two writes and a delete.
    const a = await kv.put("hz.a", entryFor("a", "written while away"));
    const b = await kv.put("hz.b", entryFor("b", "also"));
    await kv.put("hz.b", entryFor("b", "and again"));
    await kv.delete("hz.gone");
    await eventually(async () => {
      const s = openSocket(r.url, { cookie });
      s.hello(snap.rev);
      const f = await s.next("changes");
      s.ws.close();
      const now = await loadKvBucket(r.rig.bus.nc, KV_BUCKET_NAMES.sessions);
      const expected = [...now].filter(([, e]) => e.revision > snap.rev.sessions).map(([k, e]) => [k, e.revision]);
      expect(f.from).toEqual(snap.rev);
      expect(pairsOf(f.sessions)).toEqual(expected.sort());
      expect(f.sessions.map((x) => x.key)).toEqual(expect.arrayContaining(["hz.a", "hz.b"]));
      expect(f.sessions.map((x) => x.key)).not.toContain("hz.kept");
      expect(f.removedSessions).toEqual(["hz.gone"]);
      expect(f.rev.sessions).toBeGreaterThan(b);
      expect(a).toBeGreaterThan(snap.rev.sessions);
      expect(f.heartbeatMs).toBe(300);
    });
    // A revision ahead of this view (another bus): a snapshot instead.
    const ahead = openSocket(r.url, { cookie });
    ahead.hello({ sessions: snap.rev.sessions + 1_000_000, hosts: 0 });
    const again = await ahead.next("snapshot");
    expect(again.sessions.map((x) => x.key)).not.toContain("hz.gone");
    ahead.ws.close();
  });

  it("a value that does not parse is skipped; the key keeps its last row", async () => {
    const kv = await new Kvm(r.rig.bus.nc).open(KV_BUCKET_NAMES.sessions);
    await kv.put("hz.kept", "{not json");
    const hosts = await new Kvm(r.rig.bus.nc).open(KV_BUCKET_NAMES.hosts);
    await hosts.put("hz", JSON.stringify({ v: 1, hostId: "hz" }));
    const after = await kv.put("hz.after", entryFor("after", "written after the bad one"));
    const s = openSocket(r.url, { cookie });
    s.hello(null);
    const snap = await eventually(async () => {
      const f = await s.next("snapshot");
      expect(f.rev.sessions).toBeGreaterThanOrEqual(after);
      return f;
    });
    expect(snap.sessions.find((x) => x.key === "hz.kept")?.record.summary).toBe("unchanged");
    expect(snap.hosts.map((h) => h.key)).not.toContain("hz");
    expect(HostEntry.safeParse({ v: 1, hostId: "hz" }).success).toBe(false);
    s.ws.close();
  });

  it("a bad frame gets bye bad_message and close 4400; the server and other sockets live on", async () => {
    const other = openSocket(r.url, { cookie });
    other.hello(null);
    await other.next("snapshot");
    for (const bad of ["not json", JSON.stringify({ type: "hello" }), JSON.stringify({ type: "evil", x: 1 })]) {
      const s = openSocket(r.url, { cookie });
      s.ws.once("open", () => s.send(bad));
      const bye = await s.next("bye");
      expect(bye.code).toBe("bad_message");
      expect((await s.ended).code).toBe(4400);
    }
    const twice = openSocket(r.url, { cookie });
    twice.hello(null);
    await twice.next("snapshot");
    twice.hello(null);
    expect((await twice.next("bye")).code).toBe("bad_message");
    expect((await twice.ended).code).toBe(4400);
    // Still serving: the other socket gets pings and a new one gets its snapshot.
    const pingsBefore = other.frames.filter((f) => f.type === "ping").length;
    await other.next("ping", () => other.frames.filter((f) => f.type === "ping").length > pingsBefore);
    const fresh = openSocket(r.url, { cookie });
    fresh.hello(null);
    await fresh.next("snapshot");
    fresh.ws.close();
    other.ws.close();
  });

  it("pings every heartbeat; a socket that answers stays, one that never pongs is terminated", async () => {
    const answering = openSocket(r.url, { cookie });
    answering.ws.on("message", (d) => {
      const f = JSON.parse(d.toString()) as { type: string; t: number };
      if (f.type === "ping") answering.send({ type: "pong", t: f.t });
    });
    answering.hello(null);
    const silent = openSocket(r.url, { cookie });
    silent.hello(null);
    const ping = await silent.next("ping");
    expect(ping.t).toBeGreaterThan(0);
    const ended = await silent.ended;
    expect(ended.code).toBe(1006);
    expect(silent.frames.filter((f) => f.type === "ping").length).toBeGreaterThanOrEqual(2);
    expect(answering.ws.readyState).toBe(answering.ws.OPEN);
    answering.ws.close();
  });

  it("an open socket whose token is revoked gets bye revoked and close 4401", async () => {
    const rex = await signIn(r.url, await addOperator(r.rig.bus.nc, "rex", "viewer"));
    const s = openSocket(r.url, { cookie: rex });
    s.ws.on("message", (d) => {
      const f = JSON.parse(d.toString()) as { type: string; t: number };
      if (f.type === "ping") s.send({ type: "pong", t: f.t });
    });
    s.hello(null);
    await s.next("snapshot");
    const revoked = await requestAdmin(
      r.rig.bus.nc,
      "operator",
      "revoke",
      { caller: { role: "operator", id: "test@ops" }, name: "rex" },
      OperatorRevokeResult,
      5_000,
    );
    expect(revoked.ok && revoked.reply.ok).toBe(true);
    const bye = await s.next("bye", undefined, 8_000);
    expect(bye.code).toBe("revoked");
    expect((await s.ended).code).toBe(4401);
  });

  it("FLEET notices arrive as notice frames", async () => {
    const s = openSocket(r.url, { cookie });
    s.hello(null);
    await s.next("snapshot");
    await r.rig.session("44444444-4444-7444-8444-444444444444");
    const notice = await s.next("notice", (n) => n.notice.sessionId === "44444444-4444-7444-8444-444444444444");
    expect(notice.notice.kind).toBe("session-new");
    expect(notice.notice.text).toContain("h1/444444444444 new session");
    s.ws.close();
  });
});
