/**
 * Dashboard operators and their sign-in, served by the policy service:
 * - `codex.admin.operator.add|revoke|list` (operator requests, schemas/admin.ts): the CLI mints an operator token
 *   `cso_<tokenId>_<secret>` itself and sends only its id and the SHA-256 of the whole token, so the secret never
 *   crosses the bus. Records live in KV `codex-operators` (key: the token id), written only by the policy service.
 * - `codex.auth.operator.signin|status` (the `client` bus user may ask them): whether a presented token's hash
 *   matches an active record, and whether a token id is still active. Neither ever carries the secret.
 */
import { z } from "zod";
import { adminRequestFields } from "./admin.js";
import { CommandFailure } from "./commands.js";
import { OperatorRole } from "./dashboard.js";

export { OperatorRole };

/** Prefix of every operator token, so a leaked one is recognisable (e.g. by secret scanners). */
export const OPERATOR_TOKEN_PREFIX = "cso_";

/** A whole operator token: `cso_<tokenId: 16 hex>_<secret: 32 bytes base64url>`. */
export const OPERATOR_TOKEN_PATTERN = /^cso_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** An operator's name: what the audit trail records as the caller id of their dashboard commands. */
export const OperatorName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9._-]{0,63}$/,
    "must be 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit",
  );
export type OperatorName = z.infer<typeof OperatorName>;

/** A token id: 16 lowercase hex digits (the KV key of its record). */
export const OperatorTokenId = z.string().regex(/^[0-9a-f]{16}$/, "must be 16 lowercase hex digits");

/** SHA-256 of a whole token, lowercase hex. */
export const TokenSha256 = z.string().regex(/^[0-9a-f]{64}$/, "must be 64 lowercase hex digits");

/** The stored record in KV `codex-operators` (never the secret; the hash never leaves the policy service). */
export const OperatorRecord = z.strictObject({
  tokenId: OperatorTokenId,
  name: OperatorName,
  role: OperatorRole,
  sha256: TokenSha256,
  createdAtMs: z.number().int().nonnegative(),
  /** The operator (caller id) who added it. */
  createdBy: z.string(),
  revokedAtMs: z.number().int().nonnegative().nullable(),
});
export type OperatorRecord = z.infer<typeof OperatorRecord>;

/** The public part of a record: never the hash. */
export const PublicOperator = OperatorRecord.omit({ sha256: true });
export type PublicOperator = z.infer<typeof PublicOperator>;

/** `codex.admin.operator.add`: store an operator token minted by the caller: name, role, token id and SHA-256. */
export const OperatorAddRequest = z.strictObject({
  ...adminRequestFields,
  name: OperatorName,
  role: OperatorRole,
  tokenId: OperatorTokenId,
  sha256: TokenSha256,
});
export type OperatorAddRequest = z.infer<typeof OperatorAddRequest>;

/** What `operator.add` answers: the stored record, without its hash. */
export const OperatorAddResult = z.discriminatedUnion("ok", [
  z.strictObject({ ok: z.literal(true), record: PublicOperator }),
  CommandFailure,
]);
export type OperatorAddResult = z.infer<typeof OperatorAddResult>;

/** `codex.admin.operator.revoke`: revoke every active token of `name`, or only `tokenId` (which must be theirs). */
export const OperatorRevokeRequest = z.strictObject({
  ...adminRequestFields,
  name: OperatorName,
  tokenId: OperatorTokenId.optional(),
});
export type OperatorRevokeRequest = z.infer<typeof OperatorRevokeRequest>;

/** What `operator.revoke` answers: the records it revoked (none active is `not_found`). */
export const OperatorRevokeResult = z.discriminatedUnion("ok", [
  z.strictObject({ ok: z.literal(true), revoked: z.array(PublicOperator) }),
  CommandFailure,
]);
export type OperatorRevokeResult = z.infer<typeof OperatorRevokeResult>;

/** `codex.admin.operator.list`: every operator token record, public parts only. */
export const OperatorListRequest = z.strictObject(adminRequestFields);
export type OperatorListRequest = z.infer<typeof OperatorListRequest>;

/** What `operator.list` answers, oldest first. */
export const OperatorListResult = z.discriminatedUnion("ok", [
  z.strictObject({ ok: z.literal(true), operators: z.array(PublicOperator) }),
  CommandFailure,
]);
export type OperatorListResult = z.infer<typeof OperatorListResult>;

/** `codex.auth.operator.signin`: does this token (its id and whole-token SHA-256) name an active operator? */
export const OperatorSigninRequest = z.strictObject({ tokenId: OperatorTokenId, sha256: TokenSha256 });
export type OperatorSigninRequest = z.infer<typeof OperatorSigninRequest>;

/** What `operator.signin` answers: who the token is, or `denied` (unknown, revoked or wrong: never which). */
export const OperatorSigninResult = z.discriminatedUnion("ok", [
  z.strictObject({ ok: z.literal(true), name: OperatorName, role: OperatorRole, tokenId: OperatorTokenId }),
  CommandFailure,
]);
export type OperatorSigninResult = z.infer<typeof OperatorSigninResult>;

/** `codex.auth.operator.status`: is the token with this id still active (not revoked)? */
export const OperatorStatusRequest = z.strictObject({ tokenId: OperatorTokenId });
export type OperatorStatusRequest = z.infer<typeof OperatorStatusRequest>;

/** What `operator.status` answers; a token id with no record is `not_found`. */
export const OperatorStatusResult = z.discriminatedUnion("ok", [
  z.strictObject({ ok: z.literal(true), active: z.boolean(), name: OperatorName, role: OperatorRole }),
  CommandFailure,
]);
export type OperatorStatusResult = z.infer<typeof OperatorStatusResult>;
