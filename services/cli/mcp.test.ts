/**
 * `claw-supervisor mcp-config` against a real nats-server and registry that knows one session (`thr-12345678`
 * on host h1): the snippet with a token of that session, its lifetime, revocation through a real policy service
 * (stored and audited with its caller; with no policy service, exit 8 and nothing stored); and, as the built bin
 * run as a child process, that an unknown session (an 8-character prefix included) exits 4 and junk exits 2.
 * The usage errors of `mcp` run in process.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { revocationKey } from "../../schemas/admin-mcp.js";
import { AuditRecord } from "../../schemas/audit.js";
import { KV_BUCKET_NAMES, STREAM_NAMES, openKvBucket, readStream } from "../bus/index.js";
import { DEFAULT_TOKEN_TTL_MS, newEdgeSecret, verifyToken } from "../mcp-edge/index.js";
import { startPolicyService, type PolicyService } from "../policy/index.js";
import { startRegistry, type Registry } from "../registry/index.js";
import { FakeHost } from "../registry/test-fleet.js";
import { useBus } from "../../test/support/bus.js";
import { cliEntry } from "../../test/support/cli-process.js";
import { eventually } from "../../test/support/wait.js";
import { runCliInProcess } from "./test-cli.js";

const SESSION = "thr-12345678-abcd";
const stateDir = () => mkdtempSync(path.join(os.tmpdir(), "claw-mcp-cli-"));
const HOUR = 3_600_000;

/** Runs the built bin through bash, so an argument can be any bytes (`$'\xff'`); `args` is bash words. */
function builtCli(
  args: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", ["-c", `exec "$NODE" "$CLI" ${args}`], {
      env: { PATH: process.env.PATH, NODE: process.execPath, CLI: cliEntry, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => void (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => void (stderr += c));
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("claw-supervisor mcp-config", () => {
  const bus = useBus({ ensure: true });
  let registry: Registry;
  let policy: PolicyService | undefined;
  const dir = stateDir();
  const secret = newEdgeSecret();
  const cli = (...args: string[]) =>
    runCliInProcess(["mcp-config", ...args, "--state-dir", dir, "--nats-url", bus.url], { USER: "dana" });

  beforeAll(async () => {
    writeFileSync(path.join(dir, "mcp-secret"), `${secret}\n`, { mode: 0o600 });
    registry = await startRegistry({ nc: bus.nc, sweepIntervalMs: 60_000 });
    await new FakeHost(bus, "h1").synced(SESSION);
    await eventually(async () => expect((await cli(SESSION, "--json")).code).toBe(0));
  }, 60_000);
  afterAll(async () => {
    await policy?.stop();
    await registry?.stop();
  });

  const auditOf = async (sessionId: string): Promise<AuditRecord[]> => {
    const records: AuditRecord[] = [];
    for await (const m of readStream(bus.nc, STREAM_NAMES.audit))
      records.push(AuditRecord.parse(JSON.parse(new TextDecoder().decode(m.data))));
    return records.filter(
      (r) => r.kind === "admin" && (r.detail as { request?: string; sessionId?: string }).sessionId === sessionId,
    );
  };

  it("prints the config.toml table and the codex mcp add line with a token of the session, valid a week", async () => {
    const before = Date.now();
    const text = await cli(SESSION, "--url", "http://127.0.0.1:9999/mcp");
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`for session h1/${SESSION}; the token expires 20`);
    expect(text.stdout).toContain("[mcp_servers.openclaw-codex-supervisor]");
    expect(text.stdout).toContain('url = "http://127.0.0.1:9999/mcp"');
    expect(text.stdout).toContain('default_tools_approval_mode = "approve"');
    expect(text.stdout).toMatch(
      /codex mcp add openclaw-codex-supervisor --env CLAW_MCP_TOKEN=cmt2\.s\.\S+ -- claw-supervisor mcp/,
    );
    const json = await cli(SESSION, "--json");
    const out = JSON.parse(json.stdout).data as { token: string; toml: string; expiresAt: string; hostId: string };
    const checked = verifyToken(secret, out.token);
    if (!checked.ok) throw new Error(checked.message);
    expect(checked.token.subject).toEqual({ kind: "session", sessionId: SESSION, hostId: "h1" });
    expect(checked.token.issuedAtMs).toBeGreaterThanOrEqual(before);
    expect(checked.token.expiresAtMs - checked.token.issuedAtMs).toBe(DEFAULT_TOKEN_TTL_MS);
    expect(Date.parse(out.expiresAt)).toBe(checked.token.expiresAtMs);
    expect(out.hostId).toBe("h1");
    expect(out.toml).toContain(`Authorization = "Bearer ${out.token}"`);
    expect(out.toml).toContain('url = "http://127.0.0.1:7411/mcp"');
  });

  it("takes <hostId>/<threadId> and a --ttl", async () => {
    const out = await cli(`h1/${SESSION}`, "--ttl", "12h", "--json");
    expect(out.code, out.stderr).toBe(0);
    const checked = verifyToken(secret, (JSON.parse(out.stdout).data as { token: string }).token);
    if (!checked.ok) throw new Error(checked.message);
    expect(checked.token.expiresAtMs - checked.token.issuedAtMs).toBe(12 * HOUR);
    expect(await cli(`h2/${SESSION}`)).toMatchObject({
      code: 4,
      stderr: expect.stringContaining(`no session h2/${SESSION} in the registry`),
    });
    for (const [ttl, message] of [
      ["3w", "--ttl: must be a number and a unit, m, h or d (e.g. 30m, 12h, 7d)"],
      ["0d", "--ttl: must be a number and a unit"],
      ["400d", "--ttl: must be at most a year (366d)"],
    ] as const)
      expect(await cli(SESSION, "--ttl", ttl)).toMatchObject({ code: 2, stderr: expect.stringContaining(message) });
  });

  it("--revoke with no policy service answering exits 8, saying so, and stores nothing", async () => {
    const res = await cli(SESSION, "--revoke", "--caller", "nobody-home");
    expect(res.code).toBe(8);
    expect(res.stderr).toBe(
      "claw-supervisor mcp-config: timeout: no policy service is answering on codex.admin.mcp.revoke: is 'claw-supervisor up' or 'service policy' running? Nothing was revoked.\n",
    );
    expect(res.stdout).toBe("");
    const kv = await openKvBucket(bus.nc, KV_BUCKET_NAMES.mcpRevocations);
    expect(await kv.get(revocationKey(SESSION))).toBeNull();
    expect(await auditOf(SESSION)).toEqual([]);
  });

  it("--revoke has the policy service record who revoked the session's tokens and when, audited with that caller", async () => {
    policy = await startPolicyService({ nc: bus.nc, logger: pino({ level: "silent" }) });
    const before = Date.now();
    const res = await cli(SESSION, "--revoke", "--json");
    expect(res.code, res.stderr).toBe(0);
    const out = JSON.parse(res.stdout).data as { sessionId: string; hostId: string; revokedAt: string; by: string };
    expect(out).toMatchObject({ sessionId: SESSION, hostId: "h1", by: expect.stringMatching(/^dana@/) });
    const kv = await openKvBucket(bus.nc, KV_BUCKET_NAMES.mcpRevocations);
    const stored = (await kv.get(revocationKey(SESSION)))!.json<{ revokedAt: number; by: string }>();
    expect(stored.revokedAt).toBeGreaterThanOrEqual(before);
    expect(new Date(stored.revokedAt).toISOString()).toBe(out.revokedAt);
    const text = await cli(SESSION, "--revoke", "--caller", "ops-bot");
    expect(text.stdout).toMatch(/^Revoked the MCP tokens of session .* issued before .*: the edge refuses them/);
    expect((await kv.get(revocationKey(SESSION)))!.json<{ by: string }>().by).toBe("ops-bot");
    expect(await cli("not-a-session", "--revoke")).toMatchObject({ code: 4 });
    // Each revocation: the request and its result, with the operator as caller and the session as target.
    const audited = await auditOf(SESSION);
    expect(
      audited.map((r) => [
        (r.detail as { request: string }).request,
        r.caller,
        r.target,
        r.outcome?.ok ?? "request",
        (r.detail as { revokedAt?: number }).revokedAt ?? null,
      ]),
    ).toEqual([
      ["mcp.revoke", { role: "operator", id: out.by }, { hostId: "h1", sessionId: SESSION }, "request", null],
      ["mcp.revoke", { role: "operator", id: out.by }, { hostId: "h1", sessionId: SESSION }, true, stored.revokedAt],
      ["mcp.revoke", { role: "operator", id: "ops-bot" }, { hostId: "h1", sessionId: SESSION }, "request", null],
      [
        "mcp.revoke",
        { role: "operator", id: "ops-bot" },
        { hostId: "h1", sessionId: SESSION },
        true,
        expect.any(Number),
      ],
    ]);
    expect(await cli(SESSION, "--revoke", "--ttl", "1d")).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--ttl does not go with --revoke"),
    });
  });

  it("the built CLI exits 4 for a session the registry does not know, an 8-character prefix included", async () => {
    const env = { NATS_URL: bus.url, CLAW_SUPERVISOR_STATE_DIR: dir };
    for (const id of ["not-a-session", SESSION.slice(0, 8)]) {
      const res = await builtCli(`mcp-config ${id}`, env);
      expect(res.code, res.stderr).toBe(4);
      expect(res.stderr).toBe(
        `claw-supervisor mcp-config: no session ${id} in the registry: give a whole session id as 'claw-supervisor sessions' shows it\n`,
      );
      expect(res.stdout).toBe("");
    }
    const known = await builtCli(`mcp-config ${SESSION} --json`, env);
    expect(known.code, known.stderr).toBe(0);
  });

  it("the built CLI exits 2 for junk, before asking anyone", async () => {
    const env = { NATS_URL: "nats://127.0.0.1:1", CLAW_SUPERVISOR_STATE_DIR: dir };
    const cases: [string, RegExp][] = [
      [`$'\\xff'`, /a session id must be printable ASCII with no spaces/],
      [`'a b'`, /must be printable ASCII with no spaces/],
      [`$'thr\\x01'`, /must be printable ASCII/],
      [`'a.b'`, /must not contain '\.', '\*' or '>'/],
      [`'h1/a/b'`, /too many '\/'/],
      [`'/thr'`, /a host id is empty/],
      [`"${"x".repeat(201)}"`, /a session id is at most 200 characters/],
      [`''`, /needs a session id/],
    ];
    for (const [arg, message] of cases) {
      const res = await builtCli(`mcp-config ${arg}`, env);
      expect(res.code, `${arg}: ${res.stderr}`).toBe(2);
      expect(res.stderr, arg).toMatch(message);
      expect(res.stderr, arg).toMatch(/^claw-supervisor mcp-config: .*See 'claw-supervisor mcp-config --help'\.\n$/);
    }
  });

  it("refuses a missing secret with a clear message, and prints its help", async () => {
    expect(await runCliInProcess(["mcp-config", SESSION, "--state-dir", stateDir()])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining("no MCP secret in"),
    });
    expect(await cli(SESSION, "--url", "ftp://x")).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--url: must be an http:// or https:// URL"),
    });
    const help = await runCliInProcess(["mcp-config", "--help"]);
    expect(help.stdout).toContain("--revoke");
    expect(help.stdout).toContain("--ttl DURATION");
  });
});

describe("claw-supervisor mcp", () => {
  it("prints its help, and needs a token", async () => {
    expect((await runCliInProcess(["mcp", "--help"])).stdout).toContain("codex mcp add openclaw-codex-supervisor");
    expect(await runCliInProcess(["mcp"], {})).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("no MCP token in $CLAW_MCP_TOKEN"),
    });
    expect(await runCliInProcess(["mcp", "--token-env", "1BAD"], {})).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--token-env: must be an environment variable name"),
    });
  });
});
