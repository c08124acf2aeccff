/**
 * Host-token operator requests, `codex.admin.token.create|revoke|list` (see admin.ts): host tokens are written by
 * the policy service on an operator's behalf, audited with the operator, so operator credentials need no access
 * to KV `codex-host-tokens`. The CLI mints a token itself and sends only its id and SHA-256: the secret never
 * crosses the bus (replies travel on inboxes every bus user may subscribe to).
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

/** `codex.admin.token.create`: store a token the operator minted for `hostId`: its id and the SHA-256 of the whole token. */
export const TokenCreateRequest = z.strictObject({
  ...adminRequestFields,
  hostId: HostIdField,
  tokenId: z.string().regex(/^[0-9a-f]{16}$/, "must be 16 hex digits"),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "must be 64 hex digits"),
});
export type TokenCreateRequest = z.infer<typeof TokenCreateRequest>;

/** `codex.admin.token.revoke`: revoke every active token of `hostId`, or only `tokenId` (which must be that host's). */
export const TokenRevokeRequest = z.strictObject({
  ...adminRequestFields,
  hostId: HostIdField,
  tokenId: z.string().min(1).max(64).optional(),
});
export type TokenRevokeRequest = z.infer<typeof TokenRevokeRequest>;

/** What `token.create` answers: the stored record, without its hash. */
export const TokenCreateResult = z.discriminatedUnion("ok", [
  z.strictObject({ ok: z.literal(true), record: PublicHostToken }),
  CommandFailure,
]);
export type TokenCreateResult = z.infer<typeof TokenCreateResult>;

/** What `token.revoke` answers: the records it revoked (a host with no active token is `not_found`). */
export const TokenRevokeResult = z.discriminatedUnion("ok", [
  z.strictObject({ ok: z.literal(true), revoked: z.array(PublicHostToken) }),
  CommandFailure,
]);
export type TokenRevokeResult = z.infer<typeof TokenRevokeResult>;

/** `codex.admin.token.list`: every token record (of one host with `hostId`), public parts only. */
export const TokenListRequest = z.strictObject({ ...adminRequestFields, hostId: HostIdField.optional() });
export type TokenListRequest = z.infer<typeof TokenListRequest>;

/** What `token.list` answers, oldest first. */
export const TokenListResult = z.discriminatedUnion("ok", [
  z.strictObject({ ok: z.literal(true), tokens: z.array(PublicHostToken) }),
  CommandFailure,
]);
export type TokenListResult = z.infer<typeof TokenListResult>;
