/**
 * Host-token operator requests (`codex.admin.token.create|revoke|list`): the token path. The policy service stores and
 * revokes host tokens for operators, so operator credentials cannot write KV `codex-host-tokens` themselves, and
 * each change is audited with the operator who asked (never the secret). The store itself is the gateway's
 * (services/rpc-gateway/tokens.ts), handed in by the composition root as a {@link HostTokenAdmin}.
 */
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
import { adminOp, audited, type AdminOps, type AdminReply } from "./admin.js";
import type { AuditLog } from "./audit-log.js";

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

/** `token.create`, `token.revoke` and `token.list`, for the admin table. */
export function tokenAdminOps(deps: TokenAdminDeps): AdminOps {
  return {
    "token.create": adminOp("token create", TokenCreateRequest, (req) =>
      audited(
        deps.audit,
        {
          op: "token.create",
          caller: req.caller,
          requestId: req.requestId,
          detail: { hostId: req.hostId, tokenId: req.tokenId },
        },
        async (): Promise<{ reply: AdminReply & TokenCreateResult; detail: Record<string, unknown> }> => {
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
      audited(
        deps.audit,
        {
          op: "token.revoke",
          caller: req.caller,
          requestId: req.requestId,
          detail: { hostId: req.hostId, ...(req.tokenId ? { tokenId: req.tokenId } : {}) },
        },
        async (): Promise<{ reply: AdminReply & TokenRevokeResult; detail: Record<string, unknown> }> => {
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
