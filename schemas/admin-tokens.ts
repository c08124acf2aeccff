/**
 * Host-token operator requests, `codex.admin.token.create|revoke` (see admin.ts): host tokens are written by the
 * policy service on an operator's behalf, audited with the operator, so operator credentials need no write
 * access to KV `codex-host-tokens`. A token's secret appears once, in `create`'s answer; it is never audited.
 */
import { z } from "zod";
import { CommandFailure } from "./commands.js";
import { adminRequestFields } from "./admin.js";

/** A host id as a request carries it; the store checks it is a single safe subject token. */
const HostIdField = z.string().min(1).max(128);

/** The public part of a host-token record: never the secret or its hash. */
export const PublicHostToken = z.strictObject({
  tokenId: z.string(),
  hostId: z.string(),
  createdAtMs: z.number().int(),
  revokedAtMs: z.number().int().nullable(),
});
export type PublicHostToken = z.infer<typeof PublicHostToken>;

/** `codex.admin.token.create`: mint a token for `hostId`. */
export const TokenCreateRequest = z.strictObject({ ...adminRequestFields, hostId: HostIdField });
export type TokenCreateRequest = z.infer<typeof TokenCreateRequest>;

/** `codex.admin.token.revoke`: revoke every active token of `hostId`, or only `tokenId` (which must be that host's). */
export const TokenRevokeRequest = z.strictObject({
  ...adminRequestFields,
  hostId: HostIdField,
  tokenId: z.string().min(1).max(64).optional(),
});
export type TokenRevokeRequest = z.infer<typeof TokenRevokeRequest>;

/** What `token.create` answers: the token, once, and its public record. */
export const TokenCreateResult = z.discriminatedUnion("ok", [
  z.strictObject({ ok: z.literal(true), token: z.string(), record: PublicHostToken }),
  CommandFailure,
]);
export type TokenCreateResult = z.infer<typeof TokenCreateResult>;

/** What `token.revoke` answers: the records it revoked (a host with no active token is `not_found`). */
export const TokenRevokeResult = z.discriminatedUnion("ok", [
  z.strictObject({ ok: z.literal(true), revoked: z.array(PublicHostToken) }),
  CommandFailure,
]);
export type TokenRevokeResult = z.infer<typeof TokenRevokeResult>;
