/**
 * Dashboard operators, served by the policy service (schemas/admin-operators.ts):
 * - `codex.admin.operator.add|revoke|list`: operator requests, audited with the operator who asked (never a hash);
 * - `codex.auth.operator.signin|status`: the sign-in checks the dashboard server asks with its `client` bus user.
 *   Every sign-in is audited (kind `admin`, request `operator.signin`), a refused one with the token id and why,
 *   never the token or its hash; the caller is told only `denied`, never which check failed.
 */
import { randomUUID } from "node:crypto";
import {
  OperatorAddRequest,
  type OperatorAddResult,
  OperatorListRequest,
  type OperatorListResult,
  OperatorRevokeRequest,
  type OperatorRevokeResult,
  OperatorSigninRequest,
  type OperatorSigninResult,
  OperatorStatusRequest,
  type OperatorStatusResult,
} from "../../schemas/admin-operators.js";
import { type CommandFailure, failure } from "../../schemas/commands.js";
import { adminOp, audited, type AdminOps, type AdminReply } from "./admin.js";
import type { AuditLog } from "./audit-log.js";
import type { OperatorStore } from "./operator-store.js";

/** What the operator ops need. */
export interface OperatorOpsDeps {
  operators: OperatorStore;
  audit: AuditLog;
}

/** The message every refused sign-in gets, whatever the reason. */
export const SIGNIN_DENIED = "sign-in refused: the operator token is unknown, revoked or wrong";

function storeFailure(err: unknown, what: string): CommandFailure {
  const code = (err as { code?: unknown }).code;
  const message = (err as Error).message;
  if (code === "operator_exists") return failure("conflict", message);
  if (code === "not_found") return failure("not_found", message);
  return failure("timeout", `could not ${what}: ${message}`);
}

/** `operator.add`, `operator.revoke` and `operator.list`, for the admin table (`codex.admin.>`). */
export function operatorAdminOps(deps: OperatorOpsDeps): AdminOps {
  return {
    "operator.add": adminOp("operator add", OperatorAddRequest, (req) =>
      audited(
        deps.audit,
        {
          op: "operator.add",
          caller: req.caller,
          requestId: req.requestId,
          detail: { name: req.name, role: req.role, tokenId: req.tokenId },
        },
        async (): Promise<{ reply: AdminReply & OperatorAddResult; detail: Record<string, unknown> }> => {
          try {
            const record = await deps.operators.add({
              tokenId: req.tokenId,
              name: req.name,
              role: req.role,
              sha256: req.sha256,
              createdBy: req.caller.id,
            });
            return { reply: { ok: true, record }, detail: { tokenId: record.tokenId } };
          } catch (err) {
            return { reply: storeFailure(err, "add the operator"), detail: {} };
          }
        },
      ),
    ),
    "operator.revoke": adminOp("operator revoke", OperatorRevokeRequest, (req) =>
      audited(
        deps.audit,
        {
          op: "operator.revoke",
          caller: req.caller,
          requestId: req.requestId,
          detail: { name: req.name, ...(req.tokenId ? { tokenId: req.tokenId } : {}) },
        },
        async (): Promise<{ reply: AdminReply & OperatorRevokeResult; detail: Record<string, unknown> }> => {
          try {
            const revoked = await deps.operators.revoke(req.name, req.tokenId);
            if (revoked.length === 0)
              return {
                reply: failure(
                  "not_found",
                  `operator ${req.name} has no active token${req.tokenId ? ` ${req.tokenId}` : ""}`,
                ),
                detail: {},
              };
            return { reply: { ok: true, revoked }, detail: { revoked: revoked.map((r) => r.tokenId) } };
          } catch (err) {
            return { reply: storeFailure(err, "revoke the operator"), detail: {} };
          }
        },
      ),
    ),
    "operator.list": adminOp(
      "operator list",
      OperatorListRequest,
      async (): Promise<AdminReply & OperatorListResult> => {
        try {
          return { ok: true, operators: await deps.operators.list() };
        } catch (err) {
          return storeFailure(err, "list operators");
        }
      },
    ),
  };
}

/** `operator.signin` and `operator.status`, for the sign-in table (`codex.auth.>`). */
export function operatorAuthOps(deps: OperatorOpsDeps): AdminOps {
  return {
    "operator.signin": adminOp(
      "operator signin",
      OperatorSigninRequest,
      async (req, ctx): Promise<AdminReply & OperatorSigninResult> => {
        let check: Awaited<ReturnType<OperatorStore["signin"]>>;
        try {
          check = await deps.operators.signin(req.tokenId, req.sha256);
        } catch (err) {
          return failure("timeout", `could not check the operator token: ${(err as Error).message}`);
        }
        const requestId = randomUUID();
        await deps.audit.writeLate({
          kind: "admin",
          commandId: `signin:${requestId}`,
          verb: null,
          caller: check.ok ? { role: check.role, id: check.name } : null,
          target: null,
          decision: null,
          outcome: check.ok
            ? { ok: true, code: null, message: null }
            : { ok: false, code: "denied", message: `operator sign-in refused: ${check.reason}` },
          detail: {
            request: "operator.signin",
            requestId,
            tokenId: req.tokenId,
            ...(check.ok ? { name: check.name, role: check.role } : { reason: check.reason }),
            ...(!check.ok && check.name !== undefined ? { name: check.name } : {}),
          },
        });
        if (!check.ok) {
          ctx.log.warn({ tokenId: req.tokenId, reason: check.reason }, "operator sign-in refused");
          return failure("denied", SIGNIN_DENIED);
        }
        return { ok: true, name: check.name, role: check.role, tokenId: check.tokenId };
      },
    ),
    "operator.status": adminOp(
      "operator status",
      OperatorStatusRequest,
      async (req): Promise<AdminReply & OperatorStatusResult> => {
        try {
          const record = await deps.operators.status(req.tokenId);
          if (!record) return failure("not_found", `no operator token with id ${req.tokenId}`);
          return { ok: true, active: record.revokedAtMs === null, name: record.name, role: record.role };
        } catch (err) {
          return failure("timeout", `could not read the operator token: ${(err as Error).message}`);
        }
      },
    ),
  };
}
