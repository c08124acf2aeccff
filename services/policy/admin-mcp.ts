/**
 * MCP token revocation as an operator request (`codex.admin.mcp.revoke`, schemas/admin-mcp.ts): the policy
 * service writes KV `codex-mcp-revocations` for the operator, so neither operator nor client credentials write
 * that bucket (the server can be made to re-deliver a stored message's raw bytes onto any subject, so no bucket
 * holds bytes they wrote), and each revocation is audited with the operator who asked. The MCP edge reads the
 * bucket on every call (services/mcp-edge/identity.ts).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { type McpRevocation, McpRevokeRequest, type McpRevokeResult, revocationKey } from "../../schemas/admin-mcp.js";
import { failure } from "../../schemas/commands.js";
import { JsErrCode, KV_BUCKET_NAMES, jsApiErrCode, openKvBucket } from "../bus/index.js";
import { adminOp, audited, type AdminOps, type AdminReply } from "./admin.js";
import type { AuditLog } from "./audit-log.js";

/** Stores one revocation record (tests hand in their own). */
export type RevocationWriter = (record: McpRevocation) => Promise<void>;

/** What the mcp ops need. */
export interface McpAdminDeps {
  audit: AuditLog;
  /** Where a revocation is stored; {@link kvRevocationWriter} in the service. */
  write: RevocationWriter;
  now?: () => number;
}

const bucket = KV_BUCKET_NAMES.mcpRevocations;

/** Writes revocations into KV `codex-mcp-revocations` over `nc`; a missing bucket is named, not created. */
export function kvRevocationWriter(nc: NatsConnection): RevocationWriter {
  return async (record) => {
    try {
      const kv = await openKvBucket(nc, bucket, { mustExist: true });
      await kv.put(revocationKey(record.sessionId), JSON.stringify(record));
    } catch (err) {
      if (jsApiErrCode(err) === JsErrCode.StreamNotFound)
        throw new Error(
          `KV bucket ${bucket} does not exist: run 'claw-supervisor up' (or a service with --ensure-bus) once to create it`,
        );
      throw new Error(`cannot write KV ${bucket}: ${(err as Error).message}`);
    }
  };
}

/** `mcp.revoke`, for the admin table: audits the request, stores the revocation, audits the result. */
export function mcpAdminOps(deps: McpAdminDeps): AdminOps {
  const now = deps.now ?? Date.now;
  return {
    "mcp.revoke": adminOp("mcp revoke", McpRevokeRequest, (req) => {
      const hostId = req.hostId ?? null;
      return audited(
        deps.audit,
        {
          op: "mcp.revoke",
          caller: req.caller,
          requestId: req.requestId,
          target: { hostId, sessionId: req.sessionId },
          detail: { sessionId: req.sessionId, hostId },
        },
        async (): Promise<{ reply: AdminReply & McpRevokeResult; detail: Record<string, unknown> }> => {
          const revocation: McpRevocation = { sessionId: req.sessionId, revokedAt: now(), by: req.caller.id };
          try {
            await deps.write(revocation);
            return { reply: { ok: true, ...revocation }, detail: { revokedAt: revocation.revokedAt } };
          } catch (err) {
            return {
              reply: failure("timeout", `could not store the revocation: ${(err as Error).message}`),
              detail: {},
            };
          }
        },
      );
    }),
  };
}
