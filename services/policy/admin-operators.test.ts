/**
 * Dashboard operators and sign-in, with every part real: a nats-server with the project's users and permissions
 * (services/bus/permissions.ts, as `up` renders them), the bus set up as `admin`, the policy service logged in as
 * `policy`, the in-process CLI as `operator` (`operator add|list|revoke`), and the sign-in checks asked as the
 * `client` user the dashboard server uses (services/clients/operator-auth.ts).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Kvm } from "@nats-io/kv";
import { PermissionViolationError, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AuditRecord } from "../../schemas/audit.js";
import {
  BUS_USERS,
  type BusUser,
  KV_BUCKET_NAMES,
  STREAM_NAMES,
  connectBus,
  ensureBus,
  literalPassword,
  readStream,
  renderAuthorization,
  subjects,
} from "../bus/index.js";
import { operatorTokenStatus, parseOperatorToken, verifyOperatorToken } from "../clients/operator-auth.js";
import { runCliInProcess } from "../cli/test-cli.js";
import { startNatsServer, type NatsTestServer } from "../../test/support/nats-server.js";
import { startPolicyService, type PolicyService } from "./service.js";

const PASSWORDS = Object.fromEntries(BUS_USERS.map((u) => [u, `p${randomBytes(16).toString("hex")}`])) as Record<
  BusUser,
  string
>;

let server: NatsTestServer;
let policy: PolicyService;
let client: NatsConnection;
let admin: NatsConnection;
let home: string;
const opened: NatsConnection[] = [];

const urlAs = (user: BusUser): string => server.url.replace("nats://", `nats://${user}:${PASSWORDS[user]}@`);
async function connectAs(user: BusUser): Promise<NatsConnection> {
  const nc = await connectBus({ servers: server.url, name: `operators-test-${user}`, user, pass: PASSWORDS[user] });
  opened.push(nc);
  return nc;
}

/** `claw-supervisor operator ...` in this process, as the `operator` bus user, with a state dir of its own. */
const cli = (...args: string[]) =>
  runCliInProcess([...args, "--nats-url", urlAs("operator")], {
    USER: "tester",
    HOME: home,
    CLAW_SUPERVISOR_STATE_DIR: path.join(home, "state"),
  });

async function auditRecords(): Promise<AuditRecord[]> {
  const out: AuditRecord[] = [];
  for await (const m of readStream(admin, STREAM_NAMES.audit))
    out.push(AuditRecord.parse(JSON.parse(new TextDecoder().decode(m.data))));
  return out;
}

/** `err` is, or was caused by, the server's permission violation on `subject`. */
function expectRefused(err: unknown, subject: string | RegExp): void {
  let found: unknown = err;
  while (found instanceof Error && !(found instanceof PermissionViolationError)) found = found.cause;
  expect(found, `expected a permission violation, got ${String(err)}`).toBeInstanceOf(PermissionViolationError);
  expect((found as PermissionViolationError).subject).toMatch(subject);
}
const rejection = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => undefined,
    (err: unknown) => err,
  );

/** A well-formed token with the same id and another secret. */
const otherSecret = (token: string): string => `${token.slice(0, 21)}${randomBytes(32).toString("base64url")}`;

beforeAll(async () => {
  server = await startNatsServer({ config: renderAuthorization(literalPassword(PASSWORDS)) });
  admin = await connectAs("admin");
  await ensureBus(admin);
  policy = await startPolicyService({ nc: await connectAs("policy"), logger: pino({ level: "silent" }) });
  client = await connectAs("client");
  home = await mkdtemp(path.join(tmpdir(), "operators-"));
});

afterAll(async () => {
  await policy?.stop();
  await Promise.all(opened.splice(0).map((nc) => nc.close().catch(() => undefined)));
  await server?.stop();
  if (home) await rm(home, { recursive: true, force: true });
});

describe("operator add, sign-in and revoke through the policy service", () => {
  let token: string;
  let tokenId: string;

  it("adds an operator: the token is printed once, the policy service stored only its hash", async () => {
    const added = await cli("operator", "add", "alice", "--role", "operator", "--json", "--caller", "erin");
    expect(added.code, added.stderr).toBe(0);
    const data = JSON.parse(added.stdout).data;
    expect(data).toMatchObject({ name: "alice", role: "operator", createdBy: "erin", revokedAt: null });
    token = data.token;
    tokenId = data.tokenId;
    expect(token).toMatch(/^cso_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(parseOperatorToken(token)?.tokenId).toBe(tokenId);
    const stored = await (await new Kvm(admin).open(KV_BUCKET_NAMES.operators)).get(tokenId);
    const record = stored?.json<Record<string, unknown>>();
    expect(record).toMatchObject({ name: "alice", role: "operator", sha256: parseOperatorToken(token)?.sha256 });
    expect(JSON.stringify(record)).not.toContain(token.slice(21));
  });

  it("signs in (as the client user) with the right token, and says it is active", async () => {
    expect(await verifyOperatorToken(client, token)).toEqual({ ok: true, name: "alice", role: "operator", tokenId });
    expect(await verifyOperatorToken(client, `  ${token}\n`)).toMatchObject({ ok: true, name: "alice" });
    expect(await operatorTokenStatus(client, tokenId)).toEqual({
      ok: true,
      active: true,
      name: "alice",
      role: "operator",
    });
  });

  it("denies a wrong secret and an unknown id alike, and refuses what is no operator token", async () => {
    const wrong = await verifyOperatorToken(client, otherSecret(token));
    const unknown = await verifyOperatorToken(client, `cso_${"0".repeat(16)}_${randomBytes(32).toString("base64url")}`);
    expect(wrong).toEqual({
      ok: false,
      code: "denied",
      message: "sign-in refused: the operator token is unknown, revoked or wrong",
    });
    expect(unknown).toEqual(wrong);
    expect(await verifyOperatorToken(client, "cst_0123456789abcdef_nope")).toMatchObject({
      ok: false,
      code: "invalid",
    });
    expect(await operatorTokenStatus(client, "0".repeat(16))).toMatchObject({ ok: true, active: false });
  });

  it("audits every sign-in, a refused one with its token id and why, never the token or its hash", async () => {
    const signins = (await auditRecords()).filter(
      (r) => (r.detail as { request?: string }).request === "operator.signin",
    );
    const summary = signins.map((r) => [
      r.caller?.id ?? null,
      r.outcome?.ok,
      (r.detail as { reason?: string }).reason ?? null,
    ]);
    expect(summary).toEqual([
      ["alice", true, null],
      ["alice", true, null],
      [null, false, "mismatch"],
      [null, false, "unknown"],
    ]);
    expect(signins[2]?.detail).toMatchObject({ tokenId, name: "alice" });
    const text = JSON.stringify(await auditRecords());
    expect(text).not.toContain(token.slice(21));
    expect(text).not.toContain(parseOperatorToken(token)?.sha256);
  });

  it("lists operators without any hash", async () => {
    const listed = await cli("operator", "list", "--json");
    expect(listed.code, listed.stderr).toBe(0);
    const { operators } = JSON.parse(listed.stdout).data;
    expect(operators).toEqual([
      { tokenId, name: "alice", role: "operator", createdAt: expect.any(String), createdBy: "erin", revokedAt: null },
    ]);
    expect(listed.stdout).not.toContain("sha256");
    expect(listed.stdout).not.toContain(parseOperatorToken(token)?.sha256);
    const text = await cli("operator", "list");
    expect(text.stdout).toMatch(/^NAME +ROLE +TOKEN ID +CREATED +REVOKED +BY\nalice +operator +[0-9a-f]{16} /);
  });

  it("revokes: sign-in is then denied and the token inactive; revoking again is not_found", async () => {
    const other = await cli("operator", "revoke", "bob", "--token", tokenId);
    expect(other).toMatchObject({ code: 4, stderr: expect.stringContaining(`operator bob has no token ${tokenId}`) });
    const revoked = await cli("operator", "revoke", "alice", "--json", "--caller", "frank");
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout).data.revoked).toEqual([
      expect.objectContaining({ tokenId, name: "alice", revokedAt: expect.any(String) }),
    ]);
    expect(await verifyOperatorToken(client, token)).toMatchObject({ ok: false, code: "denied" });
    expect(await operatorTokenStatus(client, tokenId)).toEqual({
      ok: true,
      active: false,
      name: "alice",
      role: "operator",
    });
    const again = await cli("operator", "revoke", "alice");
    expect(again).toMatchObject({ code: 4, stderr: expect.stringContaining("operator alice has no active token") });
    const admins = (await auditRecords()).filter((r) => r.kind === "admin");
    const requests = admins.map((r) => (r.detail as { request: string }).request);
    expect(requests.filter((r) => r === "operator.revoke")).toHaveLength(6);
    const lastSignin = admins.filter((r) => (r.detail as { request: string }).request === "operator.signin").at(-1);
    expect(lastSignin?.detail).toMatchObject({ tokenId, reason: "revoked" });
  });

  it("adds a viewer, who signs in with role viewer", async () => {
    const added = await cli("operator", "add", "vera", "--role", "viewer", "--json");
    expect(added.code, added.stderr).toBe(0);
    const { token: viewerToken, tokenId: viewerId } = JSON.parse(added.stdout).data;
    expect(await verifyOperatorToken(client, viewerToken)).toEqual({
      ok: true,
      name: "vera",
      role: "viewer",
      tokenId: viewerId,
    });
  });

  it("prints how to sign in, with the dashboard URL the running up recorded", async () => {
    const stateDir = path.join(home, "state-up");
    const { mkdir } = await import("node:fs/promises");
    await mkdir(stateDir, { recursive: true });
    const url = urlAs("operator");
    await writeFile(
      path.join(stateDir, "up.json"),
      JSON.stringify({
        natsUrl: url,
        gatewayUrl: "ws://127.0.0.1:1",
        pid: process.pid,
        dashboardUrl: "http://127.0.0.1:7412/",
      }),
    );
    const added = await runCliInProcess(["operator", "add", "walt", "--role", "viewer"], {
      USER: "tester",
      HOME: home,
      NATS_URL: url,
      CLAW_SUPERVISOR_STATE_DIR: stateDir,
    });
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toMatch(
      /^Added viewer walt with token [0-9a-f]{16}\. This is the only time the token is shown:\n\n  cso_/,
    );
    expect(added.stdout).toContain("To sign in, open http://127.0.0.1:7412/ and paste the token.");
  });
});

describe("who may touch the operator tokens on the bus", () => {
  it("the client user can read neither the codex-operators bucket nor write it", async () => {
    const kv = await new Kvm(client).open(KV_BUCKET_NAMES.operators);
    expectRefused(
      await rejection(kv.get("0123456789abcdef")),
      /^\$JS\.API\.(DIRECT|STREAM\.MSG)\.GET\.KV_codex-operators/,
    );
    expectRefused(await rejection(kv.put("0123456789abcdef", "{}")), "$KV.codex-operators.0123456789abcdef");
    expectRefused(await rejection(kv.watch()), /^\$JS\.API\.CONSUMER\.(DURABLE\.)?CREATE\.KV_codex-operators/);
  });

  it("the operator user can read the bucket neither (it asks the policy service)", async () => {
    const operator = await connectAs("operator");
    const kv = await new Kvm(operator).open(KV_BUCKET_NAMES.operators);
    expectRefused(
      await rejection(kv.get("0123456789abcdef")),
      /^\$JS\.API\.(DIRECT|STREAM\.MSG)\.GET\.KV_codex-operators/,
    );
  });

  it("the client user may not publish codex.admin.operator.*, and may ask codex.auth.operator.*", async () => {
    const caller = { role: "operator", id: "mallory" };
    const body = { caller, name: "mallory", role: "operator", tokenId: "0123456789abcdef", sha256: "0".repeat(64) };
    const subject = subjects.admin("operator", "add");
    expectRefused(await rejection(client.request(subject, JSON.stringify(body), { timeout: 3_000 })), subject);
    const list = subjects.admin("operator", "list");
    expectRefused(await rejection(client.request(list, JSON.stringify({ caller }), { timeout: 3_000 })), list);
    const signin = await client.request(
      subjects.auth("operator", "signin"),
      JSON.stringify({ tokenId: "0123456789abcdef", sha256: "0".repeat(64) }),
      { timeout: 5_000 },
    );
    expect(signin.json()).toMatchObject({ ok: false, code: "denied" });
    const bad = await client.request(subjects.auth("operator", "signin"), JSON.stringify({ token: "x" }), {
      timeout: 5_000,
    });
    expect(bad.json()).toMatchObject({ ok: false, code: "invalid" });
  });
});
