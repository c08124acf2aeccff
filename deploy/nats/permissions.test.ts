// deploy/nats/permissions.conf against a real nats-server (Debian's 2.9.10 here): every user connects with
// nats.js as the services do, and each test shows a grant works or a refusal holds (and is delivered nowhere).
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { PermissionViolationError, type Msg, type NatsConnection, type Status } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BusError } from "../../services/bus/errors.js";
import {
  BUS_USERS,
  type BusUser,
  busTopology,
  connectBus,
  passwordVariable,
  renderDeployPermissionsConf,
  ensureBus,
  KV_BUCKET_NAMES,
  STREAM_NAMES,
  subjects,
} from "../../services/bus/index.js";
import { natsServerBinary, startNatsServer, type NatsTestServer } from "../../test/support/nats-server.js";

const here = dirname(fileURLToPath(import.meta.url));
const PERMISSIONS_CONF = readFileSync(join(here, "permissions.conf"), "utf8");

const USERS = BUS_USERS;
type User = BusUser;
const envVarOf = passwordVariable;
// Letters and digits starting with a letter: nats-server parses a $VAR's value as config text (README.md).
const PASSWORDS = Object.fromEntries(USERS.map((u) => [u, `p${randomBytes(16).toString("hex")}`])) as Record<
  User,
  string
>;
const passwordEnv = (): Record<string, string> => Object.fromEntries(USERS.map((u) => [envVarOf(u), PASSWORDS[u]]));

const RPC_H1 = subjects.hostRpc("h1");

interface Conn {
  user: User;
  nc: NatsConnection;
  statuses: Status[];
}

let server: NatsTestServer;
const open: Conn[] = [];

async function connectAs(user: User): Promise<Conn> {
  const statuses: Status[] = [];
  const nc = await connectBus({
    servers: server.url,
    name: `permissions-test-${user}`,
    user,
    pass: PASSWORDS[user],
    onStatus: (s) => statuses.push(s),
  });
  const conn = { user, nc, statuses };
  open.push(conn);
  return conn;
}

function violationsOf(conn: Conn): PermissionViolationError[] {
  return conn.statuses.flatMap((s) =>
    s.type === "error" && s.error instanceof PermissionViolationError ? [s.error] : [],
  );
}

/** Waits for the server's `Permissions Violation for <operation> to "<subject>"`, reported through nc.status(). */
async function violation(
  conn: Conn,
  operation: "publish" | "subscription",
  subject: string,
): Promise<PermissionViolationError> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const found = violationsOf(conn).find((e) => e.operation === operation && e.subject === subject);
    if (found) return found;
    if (Date.now() > deadline) {
      const seen = violationsOf(conn).map((e) => e.message);
      throw new Error(`${conn.user}: no ${operation} violation on ${subject} in 5 s (saw: ${JSON.stringify(seen)})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** What a promise rejected with, or undefined when it resolved. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (err: unknown) => err,
  );
}

/**
 * Asserts `p` fails because the server refused a publish on `subject`: nats.js rejects a request with a
 * RequestError whose cause is the PermissionViolationError (JetStream publishes and KV writes are requests).
 */
async function expectPublishRefused(p: Promise<unknown>, subject: string): Promise<void> {
  const err = await rejection(p);
  let found: unknown = err;
  while (found instanceof Error && !(found instanceof PermissionViolationError)) found = found.cause;
  expect(found, `expected a publish permission violation on ${subject}, got ${String(err)}`).toBeInstanceOf(
    PermissionViolationError,
  );
  expect((found as PermissionViolationError).operation).toBe("publish");
  expect((found as PermissionViolationError).subject).toBe(subject);
}

interface Seen {
  subject: string;
  reply: string;
  data: string;
  natsStream: string | undefined;
}

/** A host-rpc responder like the gateway's: records every message on codex.rpc.> and answers it. */
function rpcResponder(nc: NatsConnection): Seen[] {
  const seen: Seen[] = [];
  nc.subscribe("codex.rpc.>", {
    callback: (err, msg: Msg) => {
      if (err) return;
      seen.push({
        subject: msg.subject,
        reply: msg.reply ?? "",
        data: msg.string(),
        natsStream: msg.headers?.get("Nats-Stream") || undefined,
      });
      if (msg.reply) msg.respond(`gateway-ok:${msg.string()}`);
    },
  });
  return seen;
}

async function messagesIn(stream: string): Promise<number> {
  const admin = await connectAs("admin");
  return (await (await jetstreamManager(admin.nc)).streams.info(stream)).state.messages;
}

describe("deploy/nats/permissions.conf on a real nats-server", () => {
  beforeAll(async () => {
    // The launcher spawns nats-server with this process's environment: set the passwords only while it starts.
    const saved = USERS.map((u) => [envVarOf(u), process.env[envVarOf(u)]] as const);
    Object.assign(process.env, passwordEnv());
    try {
      server = await startNatsServer({ config: PERMISSIONS_CONF });
    } finally {
      for (const [name, value] of saved) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
    expect(server.port).not.toBe(4222);
    const admin = await connectAs("admin");
    // Bootstrap as admin: streams and every KV bucket, the policy service's codex-commands among them.
    await ensureBus(admin.nc);
    await new Kvm(admin.nc).open(KV_BUCKET_NAMES.commands);
  });

  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.nc.close().catch(() => undefined)));
  });

  afterAll(async () => {
    await Promise.all(open.splice(0).map((c) => c.nc.close().catch(() => undefined)));
    await server?.stop();
  });

  it("is the rendering of the model in services/bus/permissions.ts that 'up' applies (npm run gen:nats-permissions)", () => {
    expect(PERMISSIONS_CONF).toBe(renderDeployPermissionsConf());
  });

  it("refuses connections without a user or with a wrong password", async () => {
    const anonymous = await rejection(connectBus({ servers: server.url, name: "anonymous" }));
    expect(anonymous).toBeInstanceOf(BusError);
    expect((anonymous as BusError).code).toBe("not_authorized");
    const wrong = await rejection(
      connectBus({ servers: server.url, name: "wrong", user: "policy", pass: PASSWORDS.client }),
    );
    expect((wrong as BusError).code).toBe("not_authorized");
  });

  it("(a) refuses a client's publish and request on codex.rpc.h1, and the gateway's subscriber receives nothing", async () => {
    const gateway = await connectAs("gateway");
    const seen = rpcResponder(gateway.nc);
    await gateway.nc.flush();
    const client = await connectAs("client");

    client.nc.publish(RPC_H1, "client-publish");
    expect((await violation(client, "publish", RPC_H1)).message).toContain(
      `Permissions Violation for Publish to "${RPC_H1}"`,
    );
    await expectPublishRefused(client.nc.request(RPC_H1, "client-request", { timeout: 3_000 }), RPC_H1);

    // Control: the subscriber was live all along, policy's call reaches it, and it is the only one that did.
    const policy = await connectAs("policy");
    await policy.nc.request(RPC_H1, "policy-control", { timeout: 5_000 });
    expect(seen.map((m) => m.data)).toEqual(["policy-control"]);
  });

  it("(b) refuses registry and gateway users publishing or requesting on codex.rpc.h1", async () => {
    const gateway = await connectAs("gateway");
    const seen = rpcResponder(gateway.nc);
    await gateway.nc.flush();
    for (const user of ["registry", "gateway"] as const) {
      const conn = await connectAs(user);
      conn.nc.publish(RPC_H1, `${user}-publish`);
      await violation(conn, "publish", RPC_H1);
      await expectPublishRefused(conn.nc.request(RPC_H1, `${user}-request`, { timeout: 3_000 }), RPC_H1);
    }
    const policy = await connectAs("policy");
    await policy.nc.request(RPC_H1, "policy-control", { timeout: 5_000 });
    expect(seen.map((m) => m.data)).toEqual(["policy-control"]);
  });

  it("(c) delivers the policy user's request on codex.rpc.h1 to the gateway, and the gateway's reply back", async () => {
    const gateway = await connectAs("gateway");
    const seen = rpcResponder(gateway.nc);
    await gateway.nc.flush();
    const policy = await connectAs("policy");
    const reply = await policy.nc.request(RPC_H1, JSON.stringify({ op: "thread/read" }), { timeout: 5_000 });
    expect(reply.string()).toBe(`gateway-ok:${JSON.stringify({ op: "thread/read" })}`);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.subject).toBe(RPC_H1);
    expect(seen[0]?.reply.startsWith("_INBOX.")).toBe(true);
    expect(violationsOf(policy)).toEqual([]);
    expect(violationsOf(gateway)).toEqual([]);
  });

  it("(d) lets a client ask codex.cmd.send (answered by the policy queue group) and codex.registry.* (registry queue group)", async () => {
    const policy = await connectAs("policy");
    policy.nc.subscribe(subjects.allCommands(), {
      queue: "policy",
      callback: (err, msg) => {
        if (!err) msg.respond(`policy-ok:${msg.subject}`);
      },
    });
    const registry = await connectAs("registry");
    registry.nc.subscribe("codex.registry.>", {
      queue: "registry",
      callback: (err, msg) => {
        if (!err) msg.respond(`registry-ok:${msg.subject}`);
      },
    });
    await Promise.all([policy.nc.flush(), registry.nc.flush()]);
    const client = await connectAs("client");
    expect((await client.nc.request(subjects.command("send"), "{}", { timeout: 5_000 })).string()).toBe(
      "policy-ok:codex.cmd.send",
    );
    expect((await client.nc.request(subjects.registrySessionsList(), "{}", { timeout: 5_000 })).string()).toBe(
      "registry-ok:codex.registry.sessions.list",
    );
    // ...but may not listen in on commands or host calls.
    client.nc.subscribe("codex.cmd.>");
    await violation(client, "subscription", "codex.cmd.>");
    client.nc.subscribe("codex.rpc.>");
    await violation(client, "subscription", "codex.rpc.>");
  });

  it("(e) refuses a client's codex.evt.h1.t1 and codex.audit.x, a KV codex-policy put and a stream purge; policy may not publish events", async () => {
    const eventsBefore = await messagesIn(STREAM_NAMES.events);
    const auditBefore = await messagesIn(STREAM_NAMES.audit);
    const policyBefore = await messagesIn(`KV_${KV_BUCKET_NAMES.policy}`);
    const client = await connectAs("client");
    const evt = subjects.sessionEvents("h1", "t1");

    client.nc.publish(evt, "{}");
    await violation(client, "publish", evt);
    client.nc.publish("codex.audit.x", "{}");
    await violation(client, "publish", "codex.audit.x");
    const js = jetstream(client.nc);
    await expectPublishRefused(js.publish(evt, "{}", { msgID: "client-evt" }), evt);
    await expectPublishRefused(js.publish("codex.audit.x", "{}"), "codex.audit.x");

    const policyKv = await new Kvm(client.nc).open(KV_BUCKET_NAMES.policy);
    await expectPublishRefused(policyKv.put("defaults", "{}"), `$KV.${KV_BUCKET_NAMES.policy}.defaults`);
    const sessionsKv = await new Kvm(client.nc).open(KV_BUCKET_NAMES.sessions);
    await expectPublishRefused(sessionsKv.put("client-write", "{}"), `$KV.${KV_BUCKET_NAMES.sessions}.client-write`);
    const jsm = await jetstreamManager(client.nc);
    await expectPublishRefused(jsm.streams.purge(STREAM_NAMES.audit), `$JS.API.STREAM.PURGE.${STREAM_NAMES.audit}`);
    await expectPublishRefused(jsm.streams.delete(STREAM_NAMES.events), `$JS.API.STREAM.DELETE.${STREAM_NAMES.events}`);

    const policy = await connectAs("policy");
    await expectPublishRefused(jetstream(policy.nc).publish(evt, "{}"), evt);

    expect(await messagesIn(STREAM_NAMES.events)).toBe(eventsBefore);
    expect(await messagesIn(STREAM_NAMES.audit)).toBe(auditBefore);
    expect(await messagesIn(`KV_${KV_BUCKET_NAMES.policy}`)).toBe(policyBefore);
  });

  it("(f) lets each service do its JetStream work: events, registry consumer and KV, audit, policy KV, client reads", async () => {
    const gateway = await connectAs("gateway");
    const registry = await connectAs("registry");
    const policy = await connectAs("policy");
    const client = await connectAs("client");
    const admin = await connectAs("admin");
    const evt = subjects.sessionEvents("h1", "t1");

    // admin mints a host token record; the gateway reads it.
    await (await new Kvm(admin.nc).open(KV_BUCKET_NAMES.hostTokens)).put("0123456789abcdef", '{"hostId":"h1"}');
    const tokens = await new Kvm(gateway.nc).open(KV_BUCKET_NAMES.hostTokens);
    expect((await tokens.get("0123456789abcdef"))?.string()).toBe('{"hostId":"h1"}');
    await expectPublishRefused(
      tokens.put("0123456789abcdef", "{}"),
      `$KV.${KV_BUCKET_NAMES.hostTokens}.0123456789abcdef`,
    );

    // A service's `--ensure-bus` only reads stream info when the bus is already in shape, so it works as any
    // service user after the admin bootstrap; creating or changing the bus stays admin-only ((e) above).
    const again = await ensureBus(gateway.nc);
    const topology = busTopology();
    expect([...again.streams, ...again.buckets].map((r) => r.action)).toEqual(
      Array(topology.streams.length + topology.buckets.length).fill("unchanged"),
    );

    // gateway: JetStream publish with a message id, stored once; host lifecycle on core NATS.
    const gjs = jetstream(gateway.nc);
    const first = await gjs.publish(evt, '{"type":"turn/started"}', { msgID: "h1:e1:0" });
    expect(first.stream).toBe(STREAM_NAMES.events);
    expect(first.duplicate).toBe(false);
    expect((await gjs.publish(evt, '{"type":"turn/started"}', { msgID: "h1:e1:0" })).duplicate).toBe(true);
    gateway.nc.publish(subjects.hostLifecycle("h1"), '{"kind":"connected"}');

    // registry: its durable consumer reads the event, it writes the KV view and a FLEET notice.
    const rjsm = await jetstreamManager(registry.nc);
    await rjsm.consumers.add(STREAM_NAMES.events, {
      durable_name: "registry-permissions-test",
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: subjects.allSessionEvents(),
    });
    const consumer = await jetstream(registry.nc).consumers.get(STREAM_NAMES.events, "registry-permissions-test");
    const msg = await consumer.next({ expires: 5_000 });
    expect(msg?.subject).toBe(evt);
    expect(msg?.string()).toBe('{"type":"turn/started"}');
    expect(await msg?.ackAck()).toBe(true);
    const sessions = await new Kvm(registry.nc).open(KV_BUCKET_NAMES.sessions);
    expect(await sessions.create("h1.t1", '{"status":"active"}')).toBeGreaterThan(0);
    await (await new Kvm(registry.nc).open(KV_BUCKET_NAMES.hosts)).put("h1", '{"status":"online"}');
    expect(
      (await jetstream(registry.nc).publish(subjects.fleet("session-new"), '{"threadId":"t1"}', { msgID: "fleet-1" }))
        .stream,
    ).toBe(STREAM_NAMES.fleet);

    // policy: appends to AUDIT, reads the sessions view, reads and writes codex-policy, writes codex-commands.
    expect((await jetstream(policy.nc).publish(subjects.audit("command"), '{"verb":"send"}')).stream).toBe(
      STREAM_NAMES.audit,
    );
    expect((await (await new Kvm(policy.nc).open(KV_BUCKET_NAMES.sessions)).get("h1.t1"))?.string()).toBe(
      '{"status":"active"}',
    );
    const policyKv = await new Kvm(policy.nc).open(KV_BUCKET_NAMES.policy);
    await policyKv.put("defaults", '{"mcpWrites":false}');
    expect((await policyKv.get("defaults"))?.string()).toBe('{"mcpWrites":false}');
    await (await new Kvm(policy.nc).open(KV_BUCKET_NAMES.commands)).put("cmd-1", '{"state":"done"}');
    const policySessions = await new Kvm(policy.nc).open(KV_BUCKET_NAMES.sessions);
    await expectPublishRefused(policySessions.put("h1.t1", "{}"), `$KV.${KV_BUCKET_NAMES.sessions}.h1.t1`);

    // client: reads the KV views (get and a key listing, which runs a consumer), AUDIT and FLEET through its
    // own durable consumers.
    const clientSessions = await new Kvm(client.nc).open(KV_BUCKET_NAMES.sessions);
    expect((await clientSessions.get("h1.t1"))?.string()).toBe('{"status":"active"}');
    const keys: string[] = [];
    for await (const k of await clientSessions.keys()) keys.push(k);
    expect(keys).toEqual(["h1.t1"]);
    expect((await (await new Kvm(client.nc).open(KV_BUCKET_NAMES.hosts)).get("h1"))?.string()).toBe(
      '{"status":"online"}',
    );
    const cjsm = await jetstreamManager(client.nc);
    for (const [stream, body] of [
      [STREAM_NAMES.fleet, '{"threadId":"t1"}'],
      [STREAM_NAMES.audit, '{"verb":"send"}'],
    ] as const) {
      await cjsm.consumers.add(stream, {
        durable_name: "claw-1",
        ack_policy: AckPolicy.Explicit,
        deliver_policy: DeliverPolicy.All,
      });
      const m = await (await jetstream(client.nc).consumers.get(stream, "claw-1")).next({ expires: 5_000 });
      expect(m?.string()).toBe(body);
      expect(await m?.ackAck()).toBe(true);
    }

    // The only refusals were the two writes above that must fail.
    expect(violationsOf(gateway).map((e) => e.subject)).toEqual([`$KV.${KV_BUCKET_NAMES.hostTokens}.0123456789abcdef`]);
    expect(violationsOf(policy).map((e) => e.subject)).toEqual([`$KV.${KV_BUCKET_NAMES.sessions}.h1.t1`]);
    expect(violationsOf(registry)).toEqual([]);
    expect(violationsOf(client)).toEqual([]);
  });

  it("(e2) operators ask policy (codex.admin.>) but write neither host tokens, the view, commands to hosts nor AUDIT; clients may not ask codex.admin.>", async () => {
    const admin = await connectAs("admin");
    const audit = await jetstream(admin.nc).publish("codex.audit.request", '{"kept":true}');
    const tokensBefore = await messagesIn(`KV_${KV_BUCKET_NAMES.hostTokens}`);
    const policy = await connectAs("policy");
    policy.nc.subscribe(subjects.allAdmin(), {
      queue: "policy",
      callback: (_e, m) => {
        m.respond("policy-admin-ok");
      },
    });
    await policy.nc.flush();

    const operator = await connectAs("operator");
    const asked = await operator.nc.request(subjects.admin("token", "create"), "{}", { timeout: 5_000 });
    expect(asked.string()).toBe("policy-admin-ok");
    operator.nc.publish(RPC_H1, "operator-publish");
    await violation(operator, "publish", RPC_H1);
    const tokensKv = await new Kvm(operator.nc).open(KV_BUCKET_NAMES.hostTokens);
    await expectPublishRefused(tokensKv.put("forged", "{}"), `$KV.${KV_BUCKET_NAMES.hostTokens}.forged`);
    const sessionsKv = await new Kvm(operator.nc).open(KV_BUCKET_NAMES.sessions);
    await expectPublishRefused(sessionsKv.put("h1.t1", "{}"), `$KV.${KV_BUCKET_NAMES.sessions}.h1.t1`);
    const jsm = await jetstreamManager(operator.nc);
    await expectPublishRefused(
      jsm.streams.deleteMessage(STREAM_NAMES.audit, audit.seq),
      `$JS.API.STREAM.MSG.DELETE.${STREAM_NAMES.audit}`,
    );

    const client = await connectAs("client");
    await expectPublishRefused(
      client.nc.request(subjects.admin("policy", "set"), "{}", { timeout: 3_000 }),
      subjects.admin("policy", "set"),
    );

    expect(await messagesIn(`KV_${KV_BUCKET_NAMES.hostTokens}`)).toBe(tokensBefore);
    const kept = await (await jetstreamManager(admin.nc)).streams.getMessage(STREAM_NAMES.audit, { seq: audit.seq });
    expect(kept?.string()).toBe('{"kept":true}');
  });

  it("keeps AUDIT and CODEX_EVENTS from deletion and purge even for admin (deny_delete, deny_purge)", async () => {
    const admin = await connectAs("admin");
    const jsm = await jetstreamManager(admin.nc);
    const stored = await jetstream(admin.nc).publish("codex.audit.request", '{"kept":true}');
    for (const stream of [STREAM_NAMES.audit, STREAM_NAMES.events]) {
      const info = await jsm.streams.info(stream);
      expect(info.config).toMatchObject({ deny_delete: true, deny_purge: true });
      expect(await rejection(jsm.streams.purge(stream))).toBeInstanceOf(Error);
    }
    expect(String(await rejection(jsm.streams.deleteMessage(STREAM_NAMES.audit, stored.seq)))).toMatch(/delete/i);
    expect((await jsm.streams.getMessage(STREAM_NAMES.audit, { seq: stored.seq }))?.seq).toBe(stored.seq);
  });

  it("connectBus takes user:pass from a nats:// URL (nats.js alone ignores URL credentials)", async () => {
    const port = server.port;
    const viaUrl = await connectBus({
      servers: `nats://policy:${PASSWORDS.policy}@127.0.0.1:${port}`,
      name: "url-policy",
    });
    open.push({ user: "policy", nc: viaUrl, statuses: [] });
    // Only policy (or admin) may append to AUDIT: this is the policy user.
    expect((await jetstream(viaUrl).publish(subjects.audit("url-check"), "{}")).stream).toBe(STREAM_NAMES.audit);
    const wrong = await rejection(
      connectBus({ servers: `nats://policy:${PASSWORDS.client}@127.0.0.1:${port}`, name: "url-wrong" }),
    );
    expect((wrong as BusError).code).toBe("not_authorized");
    expect((wrong as BusError).message).not.toContain(PASSWORDS.client);
  });

  it("deploy/nats/nats-server.conf parses with the password variables set, and names the one that is missing", () => {
    const binary = natsServerBinary();
    const conf = join(here, "nats-server.conf");
    const ok = spawnSync(binary, ["-t", "-c", conf], {
      env: { PATH: process.env.PATH ?? "", ...passwordEnv() },
      encoding: "utf8",
    });
    expect(ok.status, ok.stderr + ok.stdout).toBe(0);
    const missing: Record<string, string> = { PATH: process.env.PATH ?? "", ...passwordEnv() };
    delete missing.CLAW_NATS_GATEWAY_PASSWORD;
    const bad = spawnSync(binary, ["-t", "-c", conf], { env: missing, encoding: "utf8" });
    expect(bad.status).not.toBe(0);
    expect(bad.stderr + bad.stdout).toContain("CLAW_NATS_GATEWAY_PASSWORD");
  });

  // Not a grant: a limit of subject permissions, pinned so the README's advice stays true. The server checks
  // the subject a client publishes on, never the reply subject it asks for, so a JetStream direct get whose
  // reply subject is codex.rpc.h1 makes the server deliver stored bytes (here a record in a bucket clients may
  // read) there.
  // Such a message has no reply subject and carries Nats-Stream: the gateway must not act on it.
  it("documents what permissions cannot stop: a JetStream reply aimed at codex.rpc.h1 arrives without a reply subject", async () => {
    const gateway = await connectAs("gateway");
    const seen = rpcResponder(gateway.nc);
    await gateway.nc.flush();
    const client = await connectAs("client");
    // Any stored bytes will do; a client writes no bucket, so admin stores them here.
    const admin = await connectAs("admin");
    await (await new Kvm(admin.nc).open(KV_BUCKET_NAMES.commands)).put("crafted", '{"op":"turn/start"}');
    client.nc.publish(
      `$JS.API.DIRECT.GET.KV_${KV_BUCKET_NAMES.commands}`,
      JSON.stringify({ last_by_subj: `$KV.${KV_BUCKET_NAMES.commands}.crafted` }),
      {
        reply: RPC_H1,
      },
    );
    await client.nc.flush();
    const deadline = Date.now() + 5_000;
    while (seen.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(seen).toEqual([
      { subject: RPC_H1, reply: "", data: '{"op":"turn/start"}', natsStream: `KV_${KV_BUCKET_NAMES.commands}` },
    ]);
    expect(violationsOf(client)).toEqual([]);
  });

  it("keeps clients and operators from writing any bucket and from reading the policy and host-token buckets", async () => {
    const admin = await connectAs("admin");
    await (await new Kvm(admin.nc).open(KV_BUCKET_NAMES.policy)).put("active", '{"version":1,"rules":[]}');
    for (const user of ["client", "operator"] as const) {
      const conn = await connectAs(user);
      await expectPublishRefused(
        (await new Kvm(conn.nc).open(KV_BUCKET_NAMES.leases)).put("mine", "x"),
        `$KV.${KV_BUCKET_NAMES.leases}.mine`,
      );
      const direct = `$JS.API.DIRECT.GET.KV_${KV_BUCKET_NAMES.policy}`;
      await expectPublishRefused(
        conn.nc.request(direct, JSON.stringify({ last_by_subj: `$KV.${KV_BUCKET_NAMES.policy}.active` }), {
          timeout: 3_000,
        }),
        direct,
      );
      const msgGet = `$JS.API.STREAM.MSG.GET.KV_${KV_BUCKET_NAMES.hostTokens}`;
      await expectPublishRefused(conn.nc.request(msgGet, JSON.stringify({ seq: 1 }), { timeout: 3_000 }), msgGet);
      const jsm = await jetstreamManager(conn.nc);
      const err = await rejection(
        jsm.consumers.add(`KV_${KV_BUCKET_NAMES.policy}`, { ack_policy: AckPolicy.None, deliver_subject: RPC_H1 }),
      );
      expect(String(err), user).toMatch(/Permissions Violation|permission/i);
    }
  });

  it("lets no responder answer on a subject that is not an inbox (no allow_responses)", async () => {
    const admin = await connectAs("admin");
    const before = await messagesIn(`KV_${KV_BUCKET_NAMES.policy}`);
    const registry = await connectAs("registry");
    registry.nc.subscribe(subjects.registrySessionsList(), {
      queue: "registry",
      callback: (_e, m) => {
        m.respond('{"version":1,"rules":[{"id":"all","role":"client","allow":["send"]}]}');
      },
    });
    await registry.nc.flush();
    const client = await connectAs("client");
    client.nc.publish(subjects.registrySessionsList(), "{}", { reply: `$KV.${KV_BUCKET_NAMES.policy}.active` });
    await violation(registry, "publish", `$KV.${KV_BUCKET_NAMES.policy}.active`);
    expect(await messagesIn(`KV_${KV_BUCKET_NAMES.policy}`)).toBe(before);
    // An inbox still gets its answer.
    expect((await client.nc.request(subjects.registrySessionsList(), "{}", { timeout: 5_000 })).string()).toContain(
      "version",
    );
    expect(admin.nc.isClosed()).toBe(false);
  });
});
