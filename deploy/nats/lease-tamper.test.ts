// Leases and the view tampered with through the bus, as someone holding one user's credentials would try it,
// against a real nats-server (Debian's 2.9.10 here) with the permissions of deploy/nats: every user connects as
// the services do. What is tried:
// - a service user writing leases that are not its own (the gateway a registry partition's, the registry a host's),
//   and a client or operator reading codex-leases at all (whatever a user reads, it can have the server store
//   elsewhere by naming a KV subject as the reply subject); the policy service reads it (issue 18) but writes none;
// - a Claw's plugin service (user `claw`) reaching past its own `claw.>` and `claw-session.>` keys: writing or
//   reading a host's or a partition's lease, reading any other bucket's records, publishing other FLEET kinds;
// - bytes the server stores on a lease key for a client (a JetStream API answer whose reply subject is
//   `$KV.codex-leases.<key>`): no takeover, neither of a host's connection nor of a registry partition; nor a
//   Claw's session lease record aimed at a host's key (it names the key it was written for);
// - a client having the server copy a view entry one registry partition wrote (under its own, higher lease epoch)
//   onto a key of another partition: the rightful writer must not take it for a newer owner and stop writing.
//
// What the server lets through a reply subject: any API answer, stored anywhere; and a copy of a stored record
// only where the record's own compare-and-set header (Nats-Expected-Last-Subject-Sequence, which the copy
// keeps) holds, i.e. a key's first write (expected 0) copied onto a key that was never written.
import { randomBytes } from "node:crypto";
import { AckPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { subjects } from "../../services/bus/subjects.js";
import { PermissionViolationError, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { WebSocket } from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sessionKey } from "../../schemas/registry-entry.js";
import {
  BUS_USERS,
  connectBus,
  ensureBus,
  followKvBucket,
  KV_BUCKET_NAMES,
  leaseKeys,
  leaseView,
  literalPassword,
  openKvBucket,
  renderAuthorization,
  STREAM_NAMES,
  type BusUser,
} from "../../services/bus/index.js";
import { partitionOf } from "../../services/registry/partition.js";
import { startRegistry, type Registry } from "../../services/registry/registry.js";
import { FakeHost, readSessionEntries } from "../../services/registry/test-fleet.js";
import { startGateway, type Gateway } from "../../services/rpc-gateway/server.js";
import { connectAgent, hello, type TestAgent } from "../../services/rpc-gateway/test-agent.js";
import { createHostToken, openHostTokenBucket } from "../../services/rpc-gateway/tokens.js";
import { TEST_BUS_CONFIG } from "../../test/support/bus.js";
import { startNatsServer, type NatsTestServer } from "../../test/support/nats-server.js";
import { until } from "../../test/support/wait.js";

const LEASES = KV_BUCKET_NAMES.leases;
const PASSWORDS = Object.fromEntries(BUS_USERS.map((u) => [u, `p${randomBytes(12).toString("hex")}`])) as Record<
  BusUser,
  string
>;

let nats: NatsTestServer;
const opened: NatsConnection[] = [];

async function as(user: BusUser): Promise<NatsConnection> {
  const nc = await connectBus({ servers: nats.url, name: `lease-tamper-${user}`, user, pass: PASSWORDS[user] });
  opened.push(nc);
  return nc;
}

/** What a promise rejected with, or undefined when it resolved. */
const rejection = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (err: unknown) => err,
  );

/** The PermissionViolationError a KV write was refused with (a KV write is a request; the cause says why). */
async function writeRefusal(p: Promise<unknown>): Promise<PermissionViolationError | undefined> {
  let found = await rejection(p);
  while (found instanceof Error && !(found instanceof PermissionViolationError)) found = found.cause;
  return found instanceof PermissionViolationError ? found : undefined;
}

/** Has the server copy the current record of `fromKey` in `bucket` onto `toKey` of `toBucket` (a direct get's reply). */
async function copyRecord(nc: NatsConnection, bucket: string, fromKey: string, toBucket: string, toKey: string) {
  nc.publish(`$JS.API.DIRECT.GET.KV_${bucket}`, JSON.stringify({ last_by_subj: `$KV.${bucket}.${fromKey}` }), {
    reply: `$KV.${toBucket}.${toKey}`,
  });
  await nc.flush();
}

beforeAll(async () => {
  nats = await startNatsServer({ config: renderAuthorization(literalPassword(PASSWORDS)) });
  await ensureBus(await as("admin"), TEST_BUS_CONFIG);
});

afterAll(async () => {
  await Promise.all(opened.splice(0).map((nc) => nc.close().catch(() => undefined)));
  await nats?.stop();
});

describe("codex-leases: each service writes its own leases only, and only those who need them read them", () => {
  it("lets the gateway write host leases but not registry partition leases, and the registry the reverse", async () => {
    const gateway = await new Kvm(await as("gateway")).open(LEASES);
    const registry = await new Kvm(await as("registry")).open(LEASES);
    expect(await gateway.put(leaseKeys.host("h-own"), "{}")).toBeGreaterThan(0);
    expect(await registry.put(leaseKeys.registryPartition(2, 0), "{}")).toBeGreaterThan(0);
    const registryKey = leaseKeys.registryPartition(2, 1);
    expect((await writeRefusal(gateway.put(registryKey, "{}")))?.subject).toBe(`$KV.${LEASES}.${registryKey}`);
    const hostKey = leaseKeys.host("h-other");
    expect((await writeRefusal(registry.put(hostKey, "{}")))?.subject).toBe(`$KV.${LEASES}.${hostKey}`);
    for (const user of ["client", "operator", "policy"] as const) {
      const kv = await new Kvm(await as(user)).open(LEASES);
      expect((await writeRefusal(kv.put(hostKey, "{}")))?.subject, user).toBe(`$KV.${LEASES}.${hostKey}`);
    }
  });

  it("refuses clients and operators any read of codex-leases (direct get, message get, consumer); the policy service reads it", async () => {
    const admin = await openKvBucket(await as("admin"), LEASES);
    await admin.put(leaseKeys.host("h-read"), "{}");
    for (const user of ["client", "operator"] as const) {
      const nc = await as(user);
      const direct = `$JS.API.DIRECT.GET.KV_${LEASES}`;
      expect(
        (await writeRefusal(nc.request(direct, JSON.stringify({ last_by_subj: `$KV.${LEASES}.host.h-read` }))))
          ?.subject,
        user,
      ).toBe(direct);
      const msgGet = `$JS.API.STREAM.MSG.GET.KV_${LEASES}`;
      expect((await writeRefusal(nc.request(msgGet, JSON.stringify({ seq: 1 }))))?.subject, user).toBe(msgGet);
      // A consumer's deliveries could be aimed at a lease key the same way.
      const consumers = (await jetstreamManager(nc)).consumers;
      expect(String(await rejection(consumers.add(`KV_${LEASES}`, { ack_policy: AckPolicy.None }))), user).toMatch(
        /permission/i,
      );
    }
    // The services that hold leases still follow the bucket, and the policy service (it checks Claws' epochs).
    const policyKv = await new Kvm(await as("policy")).open(LEASES, { allow_direct: true });
    expect((await policyKv.get(leaseKeys.host("h-read")))?.string()).toBe("{}");
    for (const user of ["gateway", "registry", "policy"] as const) {
      const follow = await followKvBucket(await as(user), LEASES);
      await follow.stop();
    }
  });
});

describe("a Claw's plugin service (user claw) in codex-leases and FLEET", () => {
  it("reads and writes its claw.> and claw-session.> keys, one at a time by subject", async () => {
    const kv = await new Kvm(await as("claw")).open(LEASES, { allow_direct: true });
    for (const key of [leaseKeys.claw("c-own"), leaseKeys.clawSession("s-own")]) {
      const revision = await kv.create(key, "{}");
      expect(await kv.update(key, '{"a":1}', revision)).toBeGreaterThan(revision);
      expect((await kv.get(key))?.string(), key).toBe('{"a":1}');
    }
  });

  it("neither writes nor reads a host's or a partition's lease, nor reads the bucket but by its own keys", async () => {
    const admin = await openKvBucket(await as("admin"), LEASES);
    const hostKey = leaseKeys.host("h-claw-read");
    const partitionKey = leaseKeys.registryPartition(4, 3);
    await admin.put(hostKey, "{}");
    await admin.put(partitionKey, "{}");
    const nc = await as("claw");
    const kv = await new Kvm(nc).open(LEASES, { allow_direct: true });
    for (const key of [hostKey, partitionKey]) {
      expect((await writeRefusal(kv.put(key, "{}")))?.subject, key).toBe(`$KV.${LEASES}.${key}`);
      expect((await writeRefusal(kv.get(key)))?.subject, key).toBe(
        `$JS.API.DIRECT.GET.KV_${LEASES}.$KV.${LEASES}.${key}`,
      );
    }
    // Not by sequence, not by a subject in the request body, not through a consumer.
    const direct = `$JS.API.DIRECT.GET.KV_${LEASES}`;
    expect(
      (await writeRefusal(nc.request(direct, JSON.stringify({ last_by_subj: `$KV.${LEASES}.${hostKey}` }))))?.subject,
    ).toBe(direct);
    const msgGet = `$JS.API.STREAM.MSG.GET.KV_${LEASES}`;
    expect((await writeRefusal(nc.request(msgGet, JSON.stringify({ seq: 1 }))))?.subject).toBe(msgGet);
    const consumers = (await jetstreamManager(nc)).consumers;
    expect(String(await rejection(consumers.add(`KV_${LEASES}`, { ack_policy: AckPolicy.None })))).toMatch(
      /permission/i,
    );
  });

  it("reads no other bucket's records", async () => {
    const nc = await as("claw");
    for (const bucket of Object.values(KV_BUCKET_NAMES).filter((b) => b !== LEASES)) {
      const direct = `$JS.API.DIRECT.GET.KV_${bucket}`;
      expect((await writeRefusal(nc.request(direct, JSON.stringify({ seq: 1 }))))?.subject, bucket).toBe(direct);
      const bySubject = `${direct}.$KV.${bucket}.active`;
      expect((await writeRefusal(nc.request(bySubject, "")))?.subject, bucket).toBe(bySubject);
      const msgGet = `$JS.API.STREAM.MSG.GET.KV_${bucket}`;
      expect((await writeRefusal(nc.request(msgGet, JSON.stringify({ seq: 1 }))))?.subject, bucket).toBe(msgGet);
    }
  });

  it("publishes session-adopted to FLEET and no other notice kind", async () => {
    const js = jetstream(await as("claw"));
    const adopted = subjects.fleet("session-adopted");
    expect(
      (await js.publish(adopted, "{}", { msgID: `adopted-${randomBytes(4).toString("hex")}` })).seq,
    ).toBeGreaterThan(0);
    for (const kind of ["session-new", "session-ask", "host-stale", "approval-requested"]) {
      const subject = subjects.fleet(kind);
      expect((await writeRefusal(js.publish(subject, "{}")))?.subject, kind).toBe(subject);
    }
  });
});

describe("bytes a client has the server store on a host's lease key", () => {
  let gateway: Gateway;
  let tokens: Awaited<ReturnType<typeof openHostTokenBucket>>;
  const agents: TestAgent[] = [];

  beforeAll(async () => {
    gateway = await startGateway({
      natsConnection: await as("gateway"),
      port: 0,
      gatewayId: "gw-tamper",
      hostLeaseTtlMs: 3_000,
      logger: pino({ level: "silent" }),
    });
    tokens = await openHostTokenBucket(await as("admin"));
  });
  afterAll(async () => {
    for (const a of agents) a.ws.terminate();
    await gateway?.stop();
  });

  it("are no takeover: the connection keeps the host at its epoch and renews over them", async () => {
    const agent = await connectAgent(gateway.url, (await createHostToken(tokens, "h-victim")).token);
    agents.push(agent);
    agent.send(hello("h-victim", "run-victim"));
    const welcome = await agent.next((f) => f.type === "welcome");
    const epoch = (welcome as Extract<typeof welcome, { type: "welcome" }>).leaseEpoch;
    const key = leaseKeys.host("h-victim");
    const client = await as("client");
    // Any API answer will do: the server sends it to the reply subject, and the bucket stores it there.
    client.publish(`$JS.API.STREAM.INFO.${STREAM_NAMES.audit}`, "", { reply: `$KV.${LEASES}.${key}` });
    await client.flush();
    await expectRenewedOverJunk(key, "gw-tamper", epoch);
    expect(agent.ws.readyState).toBe(WebSocket.OPEN);
    expect(agent.frames.filter((f) => f.type !== "welcome")).toEqual([]);
  });

  it("a Claw's session lease record aimed at a host's key reads as junk there: no takeover", async () => {
    const agent = await connectAgent(gateway.url, (await createHostToken(tokens, "h-victim-claw")).token);
    agents.push(agent);
    agent.send(hello("h-victim-claw", "run-victim-claw"));
    const welcome = await agent.next((f) => f.type === "welcome");
    const epoch = (welcome as Extract<typeof welcome, { type: "welcome" }>).leaseEpoch;
    const key = leaseKeys.host("h-victim-claw");
    const claw = await as("claw");
    // A record as lease.ts writes one, the gateway's holder and epoch copied in, on the Claw's own key (a plain
    // put: a compare-and-set write's copy would be refused on a key with another history).
    const own = leaseKeys.clawSession("s-aimed");
    const kv = await new Kvm(claw).open(LEASES, { allow_direct: true });
    await kv.put(own, JSON.stringify({ holder: "gw-tamper", key: own, epoch, ttlMs: 3_000, takenAtMs: Date.now() }));
    claw.publish(`$JS.API.DIRECT.GET.KV_${LEASES}.$KV.${LEASES}.${own}`, "", { reply: `$KV.${LEASES}.${key}` });
    await claw.flush();
    await expectRenewedOverJunk(key, "gw-tamper", epoch);
    expect(agent.ws.readyState).toBe(WebSocket.OPEN);
    expect(agent.frames.filter((f) => f.type !== "welcome")).toEqual([]);
  });

  it("nor does one whose key field is forged to the host's key: the copy still names where it was read", async () => {
    const agent = await connectAgent(gateway.url, (await createHostToken(tokens, "h-victim-forged")).token);
    agents.push(agent);
    agent.send(hello("h-victim-forged", "run-victim-forged"));
    const welcome = await agent.next((f) => f.type === "welcome");
    const epoch = (welcome as Extract<typeof welcome, { type: "welcome" }>).leaseEpoch;
    const key = leaseKeys.host("h-victim-forged");
    const claw = await as("claw");
    const own = leaseKeys.clawSession("s-forged");
    const kv = await new Kvm(claw).open(LEASES, { allow_direct: true });
    // A record that would pass for the host's own, but for a holder the gateway is not (the attack's aim).
    await kv.put(own, JSON.stringify({ holder: "mallory", key, ttlMs: 3_000, takenAtMs: Date.now() }));
    claw.publish(`$JS.API.DIRECT.GET.KV_${LEASES}.$KV.${LEASES}.${own}`, "", { reply: `$KV.${LEASES}.${key}` });
    await claw.flush();
    await expectRenewedOverJunk(key, "gw-tamper", epoch);
    expect(agent.ws.readyState).toBe(WebSocket.OPEN);
    expect(agent.frames.filter((f) => f.type !== "welcome")).toEqual([]);
  });
});

/**
 * Waits until `key` holds junk (not a lease record) and then `holder`'s record at `epoch` again, renewed twice
 * over it: the holder neither lost the lease nor took it anew.
 */
async function expectRenewedOverJunk(key: string, holder: string, epoch: number | undefined): Promise<void> {
  const leases = await openKvBucket(await as("admin"), LEASES);
  const junkAt = await until(`junk on ${key}`, async () => {
    const e = await leases.get(key);
    return e?.operation === "PUT" && leaseView(e) === null ? e.revision : undefined;
  });
  let renewals = 0;
  let last = junkAt;
  await until(
    `${key} renewed twice over the junk by ${holder} at epoch ${epoch}`,
    async () => {
      const e = await leases.get(key);
      const view = leaseView(e);
      expect(view?.record.holder ?? holder).toBe(holder);
      expect(view?.epoch ?? epoch).toBe(epoch);
      if (view && view.revision > last) {
        renewals++;
        last = view.revision;
      }
      return renewals >= 2;
    },
    15_000,
  );
}

describe("a view entry of one registry partition copied onto another partition's key", () => {
  let registry: Registry;

  afterAll(async () => {
    await registry?.stop();
  });

  it("does not stop the rightful writer: the copy is overwritten, the partition keeps writing", async () => {
    registry = await startRegistry({
      nc: await as("registry"),
      partitions: 2,
      leaseTtlMs: 2_000,
      batchWindowMs: 50,
      sweepIntervalMs: 60_000,
      instance: "reg-tamper",
      durableName: "tamper",
    });
    await until("both partitions served", () => registry.serving().length === 2);
    const admin = await as("admin");
    const leases = await openKvBucket(admin, LEASES);
    const epochOf = async (k: number) => leaseView(await leases.get(leaseKeys.registryPartition(2, k)))?.epoch ?? 0;
    const [e0, e1] = [await epochOf(0), await epochOf(1)];
    const high = e0 > e1 ? 0 : 1;
    // One host in each partition: the donor's entries carry the higher epoch.
    const hostIn = (k: number) => Array.from({ length: 64 }, (_, i) => `h-${i}`).find((h) => partitionOf(h, 2) === k)!;
    const gatewayNc = await as("gateway");
    const bus = { nc: gatewayNc, js: jetstream(gatewayNc) };
    const donor = new FakeHost(bus, hostIn(high));
    const victim = new FakeHost(bus, hostIn(1 - high));
    await donor.synced("t1");
    const donorKey = sessionKey(donor.hostId, "t1");
    await until("the donor's session in the view", async () => (await readSessionEntries(admin)).has(donorKey));

    // The client (a dashboard's or MCP edge's credentials) may read the view, so the server copies for it: the
    // donor's first write (expected revision 0) onto a session key of the victim's that was never written.
    const victimKey = sessionKey(victim.hostId, "t2");
    await copyRecord(await as("client"), KV_BUCKET_NAMES.sessions, donorKey, KV_BUCKET_NAMES.sessions, victimKey);
    const copied = await until("the copy stored on the victim's key", async () => {
      const e = (await readSessionEntries(admin)).get(victimKey);
      return e?.record.host === donor.hostId ? e : undefined;
    });
    expect(copied.writer?.epoch).toBeGreaterThan(Math.min(e0, e1));

    // The victim's session appears: its partition writes the key for the first time, over the copy.
    await victim.synced("t2");
    await until(
      "the victim's own entry on its key",
      async () => (await readSessionEntries(admin)).get(victimKey)?.record.host === victim.hostId,
      { timeoutMs: 15_000, detail: () => `registry: ${JSON.stringify(registry.stats())}` },
    );
    // And goes on writing: the next event of another of its sessions lands too.
    await victim.synced("t3");
    await until("the victim's next session", async () =>
      (await readSessionEntries(admin)).has(sessionKey(victim.hostId, "t3")),
    );
    expect(registry.stats().viewWritesRefused).toBe(0);
    expect(registry.serving()).toEqual([0, 1]);
  });

  it("keeps its partition lease when a client has junk stored on it: no takeover, no restart", async () => {
    const before = registry.stats();
    const leases = await openKvBucket(await as("admin"), LEASES);
    const key = leaseKeys.registryPartition(2, 0);
    const epoch = leaseView(await leases.get(key))?.epoch;
    const client = await as("client");
    client.publish(`$JS.API.STREAM.INFO.${STREAM_NAMES.audit}`, "", { reply: `$KV.${LEASES}.${key}` });
    await client.flush();
    await expectRenewedOverJunk(key, "reg-tamper", epoch);
    const after = registry.stats();
    expect({ lost: after.partitionsLost, taken: after.partitionsTaken }).toEqual({
      lost: before.partitionsLost,
      taken: before.partitionsTaken,
    });
    expect(registry.serving()).toEqual([0, 1]);
  });
});
