/**
 * Host-token operator requests (`codex.admin.token.create|revoke|list`): the token path. The policy service mints and
 * revokes host tokens for operators, so operator credentials cannot write KV `codex-host-tokens` themselves, and
 * each change is audited with the operator who asked (never the secret). The store itself is the gateway's
 * (services/rpc-gateway/tokens.ts), handed in by the composition root as a {@link HostTokenAdmin}.
 */
import { randomUUID } from "node:crypto";
import type { AdminCaller } from "../../schemas/admin.js";
import {
  type PublicHostToken,
  TokenCreateRequest,
  type TokenCreateResult,
  TokenListRequest,
  type TokenListResult,
  TokenRevokeRequest,
  type TokenRevokeResult,
} from "../../schemas/admin-tokens.js";
import { type CommandFailure, failure } from "../../schemas/commands.js";
import { adminOp, type AdminOps, type AdminReply } from "./admin.js";
import type { AuditInput, AuditLog } from "./audit-log.js";
import { commandIdOf } from "./ledger.js";

/** The host-token store as the policy service uses it; errors carry `code` `invalid_host_id` or `token_not_found`. */
export interface HostTokenAdmin {
  /** Stores a minted token's record (id, host, SHA-256); an id already stored is refused. */
  register(minted: { tokenId: string; hostId: string; sha256: string }): Promise<PublicHostToken>;
  list(): Promise<PublicHostToken[]>;
  revoke(target: { hostId: string } | { tokenId: string }): Promise<PublicHostToken[]>;
}

/** What the token ops need. */
export interface TokenAdminDeps {
  tokens: HostTokenAdmin;
  audit: AuditLog;
}

function storeFailure(err: unknown, what: string): CommandFailure {
  const code = (err as { code?: unknown }).code;
  const message = (err as Error).message;
  if (code === "invalid_host_id") return failure("invalid", message);
  if (code === "token_not_found") return failure("not_found", message);
  return failure("timeout", `could not ${what}: ${message}`);
}

/** Audits an operator's token request and its result around `run`; the request record is written first. */
async function audited<R extends TokenCreateResult | TokenRevokeResult | TokenListResult>(
  deps: TokenAdminDeps,
  op: string,
  caller: AdminCaller,
  requestId: string | undefined,
  detail: Record<string, unknown>,
  run: () => Promise<{ reply: R; detail: Record<string, unknown> }>,
): Promise<AdminReply & R> {
  const id = requestId ?? randomUUID();
  const record = (outcome: AuditInput["outcome"], more: Record<string, unknown>): AuditInput => ({
    kind: "admin",
    commandId: commandIdOf(caller, id),
    verb: null,
    caller,
    target: null,
    decision: null,
    outcome,
    detail: { request: op, requestId: id, ...detail, ...more },
  });
  try {
    await deps.audit.write(record(null, {}), "request");
  } catch (err) {
    return failure(
      "timeout",
      `could not write the audit record of ${op} (${(err as Error).message}); nothing was changed`,
    ) as AdminReply & R;
  }
  const { reply, detail: resultDetail } = await run();
  await deps.audit.writeLate(
    record(
      reply.ok ? { ok: true, code: null, message: null } : { ok: false, code: reply.code, message: reply.message },
      resultDetail,
    ),
    "result",
  );
  return reply as AdminReply & R;
}

/** `token.create` and `token.revoke`, for the admin table. */
export function tokenAdminOps(deps: TokenAdminDeps): AdminOps {
  return {
    "token.create": adminOp("token create", TokenCreateRequest, (req) =>
      audited<TokenCreateResult>(
        deps,
        "token.create",
        req.caller,
        req.requestId,
        { hostId: req.hostId, tokenId: req.tokenId },
        async () => {
          try {
            const record = await deps.tokens.register({ tokenId: req.tokenId, hostId: req.hostId, sha256: req.sha256 });
            return { reply: { ok: true, record }, detail: { tokenId: record.tokenId } };
          } catch (err) {
            return { reply: storeFailure(err, "create the host token"), detail: {} };
          }
        },
      ),
    ),
    "token.revoke": adminOp("token revoke", TokenRevokeRequest, (req) =>
      audited<TokenRevokeResult>(
        deps,
        "token.revoke",
        req.caller,
        req.requestId,
        { hostId: req.hostId, ...(req.tokenId ? { tokenId: req.tokenId } : {}) },
        async () => {
          try {
            if (req.tokenId !== undefined) {
              const mine = (await deps.tokens.list()).find((r) => r.tokenId === req.tokenId);
              if (!mine || mine.hostId !== req.hostId)
                return { reply: failure("not_found", `host ${req.hostId} has no token ${req.tokenId}`), detail: {} };
            }
            const revoked = await deps.tokens.revoke(
              req.tokenId === undefined ? { hostId: req.hostId } : { tokenId: req.tokenId },
            );
            if (revoked.length === 0)
              return {
                reply: failure(
                  "not_found",
                  `host ${req.hostId} has no active token${req.tokenId ? ` ${req.tokenId}` : ""}`,
                ),
                detail: {},
              };
            return { reply: { ok: true, revoked }, detail: { revoked: revoked.map((r) => r.tokenId) } };
          } catch (err) {
            return { reply: storeFailure(err, "revoke the host token"), detail: {} };
          }
        },
      ),
    ),
    "token.list": adminOp("token list", TokenListRequest, async (req): Promise<AdminReply & TokenListResult> => {
      try {
        const tokens = (await deps.tokens.list()).filter((r) => req.hostId === undefined || r.hostId === req.hostId);
        return { ok: true, tokens };
      } catch (err) {
        return storeFailure(err, "list host tokens");
      }
    }),
  };
}
