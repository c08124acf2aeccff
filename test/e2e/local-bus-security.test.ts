/**
 * `claw-supervisor up`'s bus, tried as an attacker would, with every part real: the built CLI runs `up` against
 * a real codex app-server (fake model on loopback), a session is spawned through the command path, and then
 * - a connection with no credentials, or a wrong password, is refused;
 * - with the operator's own credentials, publishing on `codex.rpc.<host>`, writing KV `codex-sessions` or
 *   `codex-host-tokens`, writing `codex-policy` directly and deleting an AUDIT message are each refused, and
 *   nothing changed (the model saw no new request, the view, tokens and the audit record are as they were);
 * - as another local user (`nobody`, through setpriv; only when this runs as root), the state dir, its
 *   credentials and the nats-server ports file cannot be read, and the stock CLI cannot drive the session.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, PermissionViolationError, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionEntry } from "../../schemas/registry-entry.js";
import { KV_BUCKET_NAMES, STREAM_NAMES, subjects } from "../../services/bus/index.js";
import { cliEntry, spawnCli, type CliProcess } from "../support/cli-process.js";
import { startCodexAppServer, type CodexAppServer } from "../support/codex-harness.js";
import { startFakeModel, type FakeModel } from "../support/fake-model.js";
import { processAlive } from "../support/processes.js";
import { untilWith } from "../support/wait.js";

const HOST = "sec-host";
const until = untilWith({ timeoutMs: 60_000, stepMs: 250 });
const isRoot = process.getuid?.() === 0;
const NOBODY = 65534;

let model: FakeModel;
let server: CodexAppServer;
let base: string;
let stateDir: string;
let env: Record<string, string>;
let up: CliProcess;
let report: { nats: { url: string; pid: number; storeDir: string } };
let sessionId: string;
const opened: NatsConnection[] = [];

async function cli(...args: string[]) {
  const p = spawnCli(args, env);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

const login = (user: string): { user: string; pass: string } => {
  const file = JSON.parse(readFileSync(path.join(stateDir, "credentials", `${user}.json`), "utf8"));
  return { user: file.user, pass: file.password };
};

async function connectAs(user: string): Promise<NatsConnection> {
  const nc = await connect({ servers: report.nats.url, ...login(user), name: `attacker-test-${user}` });
  opened.push(nc);
  return nc;
}

/** The error a promise rejected with (undefined if it resolved). */
const rejection = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (err: unknown) => err,
  );

/** `err` is, or was caused by, the server's publish permission violation on `subject`. */
function expectRefused(err: unknown, subject: string): void {
  let found: unknown = err;
  while (found instanceof Error && !(found instanceof PermissionViolationError)) found = found.cause;
  expect(found, `expected a publish permission violation on ${subject}, got ${String(err)}`).toBeInstanceOf(
    PermissionViolationError,
  );
  expect((found as PermissionViolationError).subject).toBe(subject);
}

/**
 * A raw NATS client for `node -e`: connects to 127.0.0.1:<port> with no credentials, publishes a turn/start on
 * <subject> for <threadId>, pings, and prints what the server said (an -ERR, or +OK/PONG had it been let in).
 */
const rawNatsPublish = `
const [port, subject, threadId] = process.argv.slice(1);
const body = JSON.stringify({ method: "turn/start", params: { threadId, input: [{ type: "text", text: "from nobody" }] } });
const s = require("node:net").connect(Number(port), "127.0.0.1");
let seen = "";
s.on("data", (d) => {
  seen += d;
  if (seen.startsWith("INFO") && !s.sent) {
    s.sent = true;
    s.write('CONNECT {"verbose":true,"pedantic":false}\\r\\nPUB ' + subject + " " + Buffer.byteLength(body) + "\\r\\n" + body + "\\r\\nPING\\r\\n");
  }
});
const done = () => { process.stdout.write(seen); process.exit(0); };
s.on("close", done);
s.on("error", done);
setTimeout(done, 5000);
`;

/** Runs `argv` as uid/gid nobody with a clean environment; its exit code and output. */
function asNobody(argv: string[], extraEnv: Record<string, string> = {}) {
  const r = spawnSync("setpriv", [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "--", ...argv], {
    encoding: "utf8",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent", ...extraEnv },
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  model = await startFakeModel();
  server = await startCodexAppServer({ model, listen: "unix" });
  // A state dir another user could traverse to, made 0755 the way an older version left it: up must close it.
  base = mkdtempSync(path.join(os.tmpdir(), "claw-sec-"));
  chmodSync(base, 0o755);
  stateDir = path.join(base, "state");
  mkdirSync(stateDir, { mode: 0o755 });
  chmodSync(stateDir, 0o755);
  env = { ...server.env, CLAW_SUPERVISOR_STATE_DIR: stateDir };
  up = spawnCli(
    [
      "up",
      "--json",
      "--gateway-port",
      "0",
      "--mcp-port",
      "0",
      "--dashboard-port",
      "0",
      "--host-id",
      HOST,
      "--endpoint",
      server.endpoint,
    ],
    env,
  );
  report = JSON.parse(await up.waitForLine((l) => l.startsWith("{"), 60_000));
  const spawned = await until("a spawned session", async () => {
    const r = await cli("spawn", "say hello", "--cwd", server.workspace, "--host", HOST, "--json");
    return r.code === 0 ? r : undefined;
  });
  sessionId = JSON.parse(spawned.stdout).data.sessionId;
  await until("the spawned session idle in the registry", async () => {
    const r = await cli("sessions", "--json");
    const found = (JSON.parse(r.stdout).data.sessions as { sessionId: string; status: string }[]).find(
      (s) => s.sessionId === sessionId,
    );
    return found?.status === "idle" ? found : undefined;
  });
}, 180_000);

afterAll(async () => {
  await Promise.all(opened.map((nc) => nc.close().catch(() => undefined)));
  if (up && up.child.exitCode === null) {
    up.child.kill("SIGINT");
    await up.exited;
  }
  await server?.stop();
  await model?.stop();
  if (base) rmSync(base, { recursive: true, force: true });
});

describe("up's bus against someone who does not belong", () => {
  it("keeps the state dir private and refuses a connection without credentials or with a wrong password", async () => {
    expect(statSync(stateDir).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(path.join(stateDir, "credentials")))
      expect(statSync(path.join(stateDir, "credentials", f)).mode & 0o777, f).toBe(0o600);
    expect(statSync(path.join(stateDir, "nats-server.conf")).mode & 0o777).toBe(0o600);
    for (const login of [{}, { user: "operator", pass: "not-the-password" }, { user: "admin", pass: "" }]) {
      const err = await rejection(connect({ servers: report.nats.url, reconnect: false, ...login }));
      expect(String(err), JSON.stringify(login)).toMatch(/Authorization Violation/i);
    }
  });

  it("with the operator's credentials refuses codex.rpc, writes to the view, host tokens and policy, and deleting AUDIT; nothing changes", async () => {
    const admin = await connectAs("admin");
    const adminKvm = new Kvm(admin);
    const sessionsKv = await adminKvm.open(KV_BUCKET_NAMES.sessions);
    const sessionKeys: string[] = [];
    for await (const k of await sessionsKv.keys()) sessionKeys.push(k);
    const viewKey = sessionKeys.find((k) => k.includes(sessionId)) as string;
    expect(viewKey, `a view entry for ${sessionId} in ${sessionKeys.join(", ")}`).toBeDefined();
    const viewBefore = (await sessionsKv.get(viewKey))?.revision;
    const ajsm = await jetstreamManager(admin);
    const tokensBefore = (await ajsm.streams.info(`KV_${KV_BUCKET_NAMES.hostTokens}`)).state.messages;
    const policyBefore = (await ajsm.streams.info(`KV_${KV_BUCKET_NAMES.policy}`)).state.messages;
    const audit = await ajsm.streams.info(STREAM_NAMES.audit);
    const auditSeq = audit.state.first_seq;
    const modelRequestsBefore = model.requests.length;

    const operator = await connectAs("operator");
    const rpc = subjects.hostRpc(HOST);
    const turnStart = JSON.stringify({
      method: "turn/start",
      params: { threadId: sessionId, input: [{ type: "text", text: "forged by the operator" }] },
    });
    expectRefused(await rejection(operator.request(rpc, turnStart, { timeout: 3_000 })), rpc);

    const kvm = new Kvm(operator);
    const opSessions = await kvm.open(KV_BUCKET_NAMES.sessions);
    expectRefused(
      await rejection(opSessions.put(viewKey, '{"forged":true}')),
      `$KV.${KV_BUCKET_NAMES.sessions}.${viewKey}`,
    );
    const opTokens = await kvm.open(KV_BUCKET_NAMES.hostTokens);
    expectRefused(await rejection(opTokens.put("forged", "{}")), `$KV.${KV_BUCKET_NAMES.hostTokens}.forged`);
    const opPolicy = await kvm.open(KV_BUCKET_NAMES.policy);
    expectRefused(
      await rejection(opPolicy.put("active", '{"version":1,"rules":[]}')),
      `$KV.${KV_BUCKET_NAMES.policy}.active`,
    );
    const ojsm = await jetstreamManager(operator);
    expectRefused(
      await rejection(ojsm.streams.deleteMessage(STREAM_NAMES.audit, auditSeq)),
      `$JS.API.STREAM.MSG.DELETE.${STREAM_NAMES.audit}`,
    );
    expectRefused(await rejection(jetstream(operator).publish("codex.audit.request", "{}")), "codex.audit.request");
    // Even admin cannot delete from AUDIT: the stream denies it.
    expect(String(await rejection(ajsm.streams.deleteMessage(STREAM_NAMES.audit, auditSeq)))).toMatch(/delete/i);

    // Nothing changed: no turn reached the model, the view, tokens, policy and the audit record are as they were.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(model.requests.length).toBe(modelRequestsBefore);
    // The registry may have written the entry meanwhile (a batched lastSeenAt, a token count that came late): what
    // must not be there is the operator's forgery. Every revision since the test began is the registry's entry.
    let checked = 0;
    for await (const e of await sessionsKv.history({ key: viewKey })) {
      if (viewBefore === undefined || e.revision < viewBefore) continue;
      checked++;
      const entry = SessionEntry.parse(e.json());
      expect([entry.hostId, entry.threadId, e.string().includes("forged")]).toEqual([HOST, sessionId, false]);
    }
    expect(checked).toBeGreaterThan(0);
    expect((await ajsm.streams.info(`KV_${KV_BUCKET_NAMES.hostTokens}`)).state.messages).toBe(tokensBefore);
    expect((await ajsm.streams.info(`KV_${KV_BUCKET_NAMES.policy}`)).state.messages).toBe(policyBefore);
    expect((await ajsm.streams.getMessage(STREAM_NAMES.audit, { seq: auditSeq }))?.seq).toBe(auditSeq);
  });

  it("acts on no stored bytes a client has the server deliver onto codex.admin.* or codex.cmd.* (only live requests count)", async () => {
    // Bytes shaped like an operator's policy.set and a send, stored (by admin: clients and operators can store
    // nothing) where a client may read them, then delivered by a direct get whose reply subject names the target.
    const admin = await connectAs("admin");
    const kv = await new Kvm(admin).open(KV_BUCKET_NAMES.commands);
    const caller = { role: "operator", id: "mallory" };
    const inForce = JSON.parse((await cli("policy", "get", "--json")).stdout).data.inForce;
    await kv.put(
      "forged-policy",
      JSON.stringify({
        caller,
        // The document in force plus a rule letting every session send and spawn.
        document: {
          ...inForce.document,
          rules: [...inForce.document.rules, { id: "forged", role: "session", allow: ["send", "spawn"] }],
        },
      }),
    );
    await kv.put(
      "forged-send",
      JSON.stringify({
        verb: "send",
        caller,
        idempotencyKey: "forged-1",
        args: { target: { sessionId }, text: "forged" },
      }),
    );
    const policyBefore = inForce.revision;
    const modelBefore = model.requests.length;

    const client = await connectAs("client");
    for (const [key, reply] of [
      ["forged-policy", subjects.admin("policy", "set")],
      ["forged-send", subjects.command("send")],
    ] as const) {
      client.publish(
        `$JS.API.DIRECT.GET.KV_${KV_BUCKET_NAMES.commands}`,
        JSON.stringify({ last_by_subj: `$KV.${KV_BUCKET_NAMES.commands}.${key}` }),
        { reply },
      );
    }
    await client.flush();
    await new Promise((r) => setTimeout(r, 2_000));
    expect(JSON.parse((await cli("policy", "get", "--json")).stdout).data.inForce.revision).toBe(policyBefore);
    expect(model.requests.length).toBe(modelBefore);
    const audit = await cli("audit", "--caller", "mallory", "--json");
    expect(audit.stdout).not.toContain("mallory");

    // Control: the same bytes sent as live requests are a valid policy.set and a valid send, so the test above
    // could have failed; only the way they arrived made them nothing.
    const operator = await connectAs("operator");
    for (const [key, subject] of [
      ["forged-send", subjects.command("send")],
      ["forged-policy", subjects.admin("policy", "set")],
    ] as const) {
      const bytes = (await kv.get(key))?.string() as string;
      const answer = JSON.parse((await operator.request(subject, bytes, { timeout: 30_000 })).string());
      expect(answer, key).toMatchObject({ ok: true });
    }
    await until("the live send's turn at the model", () => model.requests.length > modelBefore || undefined);
    expect(JSON.parse((await cli("policy", "get", "--json")).stdout).data.inForce.revision).toBeGreaterThan(
      policyBefore ?? 0,
    );
  });

  it("lets the operator's CLI do what operators do: send through policy, change policy and host tokens through the policy service", async () => {
    const before = model.requests.length;
    const sent = await cli("send", sessionId, "operator says hi", "--start", "--json");
    expect(sent.code, sent.stderr).toBe(0);
    await until("the operator's turn at the model", () => model.requests.length > before || undefined);

    const read = await cli("read", sessionId, "--json");
    expect(read.code, read.stderr).toBe(0);
    const got = await cli("policy", "get", "--json");
    expect(got.code, got.stderr).toBe(0);
    const file = path.join(base, "policy.json");
    writeFileSync(file, JSON.stringify(JSON.parse(got.stdout).data.inForce.document));
    const set = await cli("policy", "set", file, "--caller", "sec-operator");
    expect(set.code, set.stderr).toBe(0);
    const token = await cli("token", "create", "another-host", "--json", "--caller", "sec-operator");
    expect(token.code, token.stderr).toBe(0);
    expect(JSON.parse(token.stdout).data).toMatchObject({
      hostId: "another-host",
      token: expect.stringMatching(/^cst_/),
    });
    const audit = await cli("audit", "--caller", "sec-operator", "--json");
    expect(audit.code, audit.stderr).toBe(0);
    expect(audit.stdout).toContain("token.create");
    expect(audit.stdout).toContain("policy.set");
  });

  it.skipIf(!isRoot)(
    "as another local user (nobody, through setpriv: skipped unless this runs as root, which setpriv needs): cannot read the credentials, the ports file or the up file, and cannot drive a session",
    async () => {
      const portsFile = readdirSync(report.nats.storeDir).find((f) => f.endsWith(".ports")) as string;
      expect(portsFile).toBeDefined();
      for (const file of [
        path.join(stateDir, "credentials", "operator.json"),
        path.join(stateDir, "credentials", "admin.json"),
        path.join(report.nats.storeDir, portsFile),
        path.join(stateDir, "up.json"),
        path.join(stateDir, "nats-server.conf"),
      ]) {
        const r = asNobody(["cat", file]);
        expect(r.code, `${file}: ${r.stdout}`).not.toBe(0);
        expect(r.stderr).toMatch(/Permission denied/);
      }
      expect(asNobody(["ls", stateDir]).stderr).toMatch(/Permission denied/);

      const before = model.requests.length;
      // The bus itself, spoken to directly (the port is no secret: it can be scanned for): a turn/start on
      // codex.rpc.<host> without credentials. Node is all it takes; nothing of this checkout needs to be readable.
      const { port } = new URL(report.nats.url);
      const raw = asNobody([process.execPath, "-e", rawNatsPublish, port, subjects.hostRpc(HOST), sessionId]);
      expect(raw.stdout, raw.stderr).toMatch(/-ERR 'Authorization Violation'/);
      expect(raw.stdout).not.toMatch(/PONG/);
      // The stock CLI too, when this checkout is readable by others (not under a private mktemp dir, as in CI).
      if (asNobody(["test", "-r", cliEntry]).code === 0) {
        const sent = asNobody(
          [process.execPath, cliEntry, "send", sessionId, "from nobody", "--nats-url", report.nats.url],
          { CLAW_SUPERVISOR_STATE_DIR: stateDir },
        );
        expect(sent.code, sent.stdout + sent.stderr).toBe(1);
        expect(sent.stderr).toMatch(/cannot connect to NATS.*Authorization Violation/i);
      } else {
        console.log(`${cliEntry} is not readable by nobody: the stock CLI's attempt is not run`);
      }
      await new Promise((r) => setTimeout(r, 1_000));
      expect(model.requests.length).toBe(before);
      expect(processAlive(report.nats.pid)).toBe(true);
    },
  );
});
