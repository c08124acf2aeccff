/**
 * MCP token revocation, `codex.admin.mcp.revoke` (see admin.ts): the policy service writes KV
 * `codex-mcp-revocations` on an operator's behalf and audits it with the operator, so no `client` or `operator`
 * user writes that bucket. (A bus user can have the server re-deliver a stored message's raw bytes onto a subject
 * of its choosing, so no bucket may hold bytes such a user wrote.) The MCP edge reads the bucket on every call.
 * Also here: the record as stored and its key, which the policy service (writer) and the edge (reader) share.
 */
import { z } from "zod";
import { CommandFailure } from "./commands.js";
import { adminRequestFields } from "./admin.js";

/** One id as a session reference carries it: printable ASCII, no space, nothing that splits a subject or a ref. */
const idField = (what: string) =>
  z
    .string()
    .min(1, `${what} is empty`)
    .max(200, `${what} is at most 200 characters`)
    .regex(/^[\x21-\x7e]+$/, `${what} must be printable ASCII with no spaces`)
    .refine((v) => !/[.*>/]/.test(v), `${what} must not contain '.', '*', '>' or '/'`);

/**
 * `codex.admin.mcp.revoke`: refuse every MCP token of `sessionId` (a Codex thread id) issued until now. `hostId`
 * is the session's host when the operator named it or the registry knew it: recorded in the audit trail only.
 */
export const McpRevokeRequest = z.strictObject({
  ...adminRequestFields,
  sessionId: idField("a session id"),
  hostId: idField("a host id").nullable().optional(),
});
export type McpRevokeRequest = z.infer<typeof McpRevokeRequest>;

/** What `mcp.revoke` answers: the revocation as stored (tokens issued before `revokedAt`, unix ms, are refused). */
export const McpRevokeResult = z.discriminatedUnion("ok", [
  z.strictObject({
    ok: z.literal(true),
    sessionId: z.string(),
    revokedAt: z.number().int().nonnegative(),
    by: z.string(),
  }),
  CommandFailure,
]);
export type McpRevokeResult = z.infer<typeof McpRevokeResult>;

/** One revocation as stored in KV `codex-mcp-revocations`, at {@link revocationKey} of its session. */
export const McpRevocation = z.object({
  sessionId: z.string().min(1),
  /** Tokens of the session issued before this (unix ms) are refused. */
  revokedAt: z.number().int().nonnegative(),
  /** Who revoked them (the operator id). */
  by: z.string(),
});
export type McpRevocation = z.infer<typeof McpRevocation>;

const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** The KV key of a session's revocation: its thread id as UTF-8, base64url without padding (always a valid key). Pure. */
export function revocationKey(sessionId: string): string {
  const bytes = new TextEncoder().encode(sessionId);
  let out = "";
  for (let i = 0; i < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | ((bytes[i + 1] ?? 0) << 8) | (bytes[i + 2] ?? 0);
    const chars = Math.min(bytes.length - i, 3) + 1;
    for (let j = 0; j < chars; j++) out += BASE64URL[(n >> (18 - 6 * j)) & 63];
  }
  return out;
}
