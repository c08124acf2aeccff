/**
 * Every policy change and every token action is in `claw-supervisor audit` with the operator who made it: the
 * `--caller` given, else $USER@host. Real nats-server, real policy service, the CLI in-process.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AuditRecord } from "../../schemas/audit.js";
import { DEFAULT_POLICY } from "../../schemas/policy.js";
import { useBus } from "../../test/support/bus.js";
import { subjects } from "../bus/index.js";
import { startPolicyService, type PolicyService } from "../policy/index.js";
import { sessionRecord } from "../registry/test-records.js";
import { hostTokenAdmin } from "../rpc-gateway/index.js";
import { runCliInProcess } from "./test-cli.js";

const known = sessionRecord({ sessionId: "s1", host: "h1" });

describe("audit records who changed policy and tokens", () => {
  const nats = useBus({ ensure: true });
  let policy: PolicyService | undefined;
  let dir: string;
  const cli = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
    runCliInProcess(argv, { NATS_URL: nats.url, USER: "dana", ...env });
  type Printed = AuditRecord & { detail: { request?: string } };
  const audit = async (...args: string[]): Promise<Printed[]> => {
    const out = await cli(["audit", ...args, "--json"]);
    expect(out.code, out.stderr).toBe(0);
    return JSON.parse(out.stdout).data as Printed[];
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "audit-callers-"));
    policy = await startPolicyService({
      nc: nats.nc,
      logger: pino({ level: "silent" }),
      hostTokens: hostTokenAdmin(nats.nc),
    });
    // The registry's answer for the one session mcp-config names.
    nats.nc.subscribe(subjects.registrySessionsGet(), {
      callback: (_err, msg) => {
        const req = msg.json<{ sessionId: string }>();
        msg.respond(JSON.stringify({ session: req.sessionId === known.sessionId ? known : null }));
      },
    });
    await nats.nc.flush();
  });
  afterAll(async () => {
    await policy?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("policy set: the request, its result and the change the policy service applied carry the caller", async () => {
    const file = join(dir, "policy.json");
    await writeFile(file, JSON.stringify({ ...DEFAULT_POLICY, rules: [...DEFAULT_POLICY.rules] }));
    const set = await cli(["policy", "set", file, "--caller", "erin@ops"]);
    expect(set.code, set.stderr).toBe(0);
    const changes = await audit("--kind", "policy");
    expect(changes.length).toBeGreaterThan(0);
    expect(changes.at(-1)!.caller).toEqual({ role: "operator", id: "erin@ops" });
    const admin = (await audit("--kind", "admin")).filter((r) => r.detail.request === "policy.set");
    expect(admin.map((r) => [r.caller?.id, r.outcome?.ok ?? null])).toEqual([
      ["erin@ops", null],
      ["erin@ops", true],
    ]);
    // Found by its caller too.
    expect((await audit("--caller", "erin@ops")).length).toBeGreaterThanOrEqual(3);
  });

  it("token create and revoke, and an MCP token revocation, carry the caller (default $USER@host)", async () => {
    const created = await cli(["token", "create", "host-t", "--caller", "frank@ops"]);
    expect(created.code, created.stderr).toBe(0);
    const revoked = await cli(["token", "revoke", "host-t"]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const mcp = await cli(["mcp-config", "h1/s1", "--revoke", "--caller", "gina@ops"]);
    expect(mcp.code, mcp.stderr).toBe(0);
    const admin = await audit("--kind", "admin");
    const callers = (op: string) =>
      admin.filter((r) => r.detail.request === op).map((r) => [r.caller?.role, r.caller?.id, r.outcome?.ok ?? null]);
    expect(callers("token.create")).toEqual([
      ["operator", "frank@ops", null],
      ["operator", "frank@ops", true],
    ]);
    const revokers = callers("token.revoke");
    expect(revokers).toHaveLength(2);
    expect(
      revokers.every(([role, id]) => role === "operator" && typeof id === "string" && id.startsWith("dana@")),
    ).toBe(true);
    expect(callers("mcp.revoke")).toEqual([
      ["operator", "gina@ops", null],
      ["operator", "gina@ops", true],
    ]);
  });
});
