// `codex.admin.mcp.revoke` on a real nats-server with a real policy service: a revocation is stored at the
// session's key with the operator as `by` and audited (request, then result) with that caller; a request the
// schema refuses is `invalid` and changes nothing; a missing bucket is a failure naming it, audited too.
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { McpRevokeResult, revocationKey } from "../../schemas/admin-mcp.js";
import { AuditRecord } from "../../schemas/audit.js";
import { KV_BUCKET_NAMES, STREAM_NAMES, openKvBucket, readStream } from "../bus/index.js";
import { requestAdmin } from "../clients/admin-request.js";
import { useBus } from "../../test/support/bus.js";
import { startPolicyService, type PolicyService } from "./service.js";

describe("codex.admin.mcp.revoke", () => {
  const bus = useBus({ ensure: true });
  let policy: PolicyService;
  beforeAll(async () => {
    policy = await startPolicyService({ nc: bus.nc, logger: pino({ level: "silent" }) });
  });
  afterAll(() => policy?.stop());

  const revoke = (body: Record<string, unknown>) =>
    requestAdmin(bus.nc, "mcp", "revoke", body, McpRevokeResult, 10_000);
  const operator = (id: string) => ({ role: "operator", id }) as const;
  const audited = async (requestId: string): Promise<AuditRecord[]> => {
    const out: AuditRecord[] = [];
    for await (const m of readStream(bus.nc, STREAM_NAMES.audit)) {
      const r = AuditRecord.parse(JSON.parse(new TextDecoder().decode(m.data)));
      if ((r.detail as { requestId?: string }).requestId === requestId) out.push(r);
    }
    return out;
  };

  it("stores the revocation with the operator as by, and audits the request and its result with that caller", async () => {
    const before = Date.now();
    const answer = await revoke({ caller: operator("carol"), requestId: "req-mcp-0001", sessionId: "thr-a" });
    if (!answer.ok || !answer.reply.ok) throw new Error(JSON.stringify(answer));
    expect(answer.reply).toMatchObject({ sessionId: "thr-a", by: "carol" });
    expect(answer.reply.revokedAt).toBeGreaterThanOrEqual(before);
    const kv = await openKvBucket(bus.nc, KV_BUCKET_NAMES.mcpRevocations);
    expect((await kv.get(revocationKey("thr-a")))!.json()).toEqual({
      sessionId: "thr-a",
      revokedAt: answer.reply.revokedAt,
      by: "carol",
    });
    const records = await audited("req-mcp-0001");
    expect(records.map((r) => [r.kind, r.caller, r.target, r.outcome])).toEqual([
      ["admin", { role: "operator", id: "carol" }, { hostId: null, sessionId: "thr-a" }, null],
      [
        "admin",
        { role: "operator", id: "carol" },
        { hostId: null, sessionId: "thr-a" },
        { ok: true, code: null, message: null },
      ],
    ]);
    expect(records[1]!.detail).toMatchObject({ request: "mcp.revoke", revokedAt: answer.reply.revokedAt });
  });

  it("refuses a request its schema refuses as invalid, naming the field, and stores and audits nothing", async () => {
    for (const body of [
      { caller: operator("carol"), requestId: "req-mcp-0002", sessionId: "h1/thr-b" },
      { caller: { role: "session", id: "thr-b" }, requestId: "req-mcp-0002", sessionId: "thr-b" },
      { caller: operator("carol"), requestId: "req-mcp-0002", sessionId: "thr-b", revokedAt: 1 },
    ]) {
      const answer = await revoke(body);
      if (!answer.ok) throw new Error(answer.reason);
      expect(answer.reply, JSON.stringify(body)).toMatchObject({
        ok: false,
        code: "invalid",
        message: expect.stringMatching(/^invalid mcp revoke request: /),
      });
    }
    const kv = await openKvBucket(bus.nc, KV_BUCKET_NAMES.mcpRevocations);
    expect(await kv.get(revocationKey("thr-b"))).toBeNull();
    expect(await audited("req-mcp-0002")).toEqual([]);
  });

  it("answers a failure naming the missing bucket, and audits it", async () => {
    await (await openKvBucket(bus.nc, KV_BUCKET_NAMES.mcpRevocations)).destroy();
    const answer = await revoke({ caller: operator("dave"), requestId: "req-mcp-0003", sessionId: "thr-c" });
    if (!answer.ok) throw new Error(answer.reason);
    expect(answer.reply).toMatchObject({
      ok: false,
      code: "timeout",
      message: expect.stringContaining("KV bucket codex-mcp-revocations does not exist"),
    });
    expect((await audited("req-mcp-0003")).map((r) => r.outcome?.ok ?? null)).toEqual([null, false]);
  });
});
