/**
 * Host tokens as values, with no I/O: the token format, minting, hashing, and the decision whether a
 * presented token authenticates as a host. The KV store around this lives in `tokens.ts`.
 *
 * Format: `cst_<tokenId>_<secret>`; `tokenId` is 16 hex digits (8 random bytes) and names the KV record,
 * `secret` is 32 random bytes in base64url. The store keeps the SHA-256 of the whole token beside the host id.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import type { HostTokenRecord } from "../../schemas/bus.js";
import { isSubjectToken } from "../bus/index.js";

/** Prefix of every host token, so a leaked one is recognisable (e.g. by secret scanners). */
export const HOST_TOKEN_PREFIX = "cst_";

const TOKEN_PATTERN = /^cst_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

/** A host id: a single safe NATS subject token (it names `codex.host.<hostId>` and `codex.evt.<hostId>.*`). */
export const HostIdSchema = z
  .string()
  .min(1, "host id must not be empty")
  .max(128, "host id must be at most 128 characters")
  .refine(isSubjectToken, "host id must not contain '.', '*', '>', whitespace or control characters");

/** A freshly minted token: the secret (shown once) and the record to store. */
export interface MintedHostToken {
  token: string;
  record: HostTokenRecord;
}

/** SHA-256 of a whole token, lowercase hex. Pure. */
export function hashHostToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Mints a token for `hostId` (assumed valid) at `nowMs`; `random` is injectable for tests. */
export function mintHostToken(
  hostId: string,
  nowMs: number,
  random: (size: number) => Buffer = randomBytes,
): MintedHostToken {
  const tokenId = random(8).toString("hex");
  const token = `${HOST_TOKEN_PREFIX}${tokenId}_${random(32).toString("base64url")}`;
  return { token, record: { tokenId, hostId, sha256: hashHostToken(token), createdAtMs: nowMs, revokedAtMs: null } };
}

/** The token id of a well-formed token, or undefined. Pure. */
export function hostTokenId(token: string): string | undefined {
  return TOKEN_PATTERN.exec(token)?.[1];
}

/** Why a presented bearer value is not usable, or the token it carries. Pure. */
export type BearerResult = { ok: true; token: string } | { ok: false; reason: string };

/** Extracts the token from an `Authorization: Bearer <token>` header value. Pure. */
export function bearerToken(header: string | string[] | undefined): BearerResult {
  if (header === undefined || header === "") return { ok: false, reason: "no Authorization header" };
  if (Array.isArray(header)) return { ok: false, reason: "more than one Authorization header" };
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  if (!match) return { ok: false, reason: "Authorization header is not 'Bearer <token>'" };
  const token = match[1] as string;
  if (!TOKEN_PATTERN.test(token)) return { ok: false, reason: "bearer value is not a host token (cst_<id>_<secret>)" };
  return { ok: true, token };
}

/** The outcome of checking a token against its stored record. */
export type HostTokenCheck =
  | { ok: true; hostId: string; tokenId: string }
  | { ok: false; reason: "malformed" | "unknown" | "revoked" | "mismatch"; tokenId: string | undefined };

/**
 * Decides whether `token` authenticates, given the record stored under its token id (undefined when none).
 * The hashes are compared in constant time. Pure.
 */
export function checkHostToken(token: string, record: HostTokenRecord | undefined): HostTokenCheck {
  const tokenId = hostTokenId(token);
  if (tokenId === undefined) return { ok: false, reason: "malformed", tokenId };
  // Hash even when there is no record, so an unknown id costs the same work as a known one.
  const presented = Buffer.from(hashHostToken(token), "hex");
  const stored = Buffer.from(record?.sha256 ?? "0".repeat(64), "hex");
  const same = stored.length === presented.length && timingSafeEqual(stored, presented);
  if (record === undefined || record.tokenId !== tokenId) return { ok: false, reason: "unknown", tokenId };
  if (!same) return { ok: false, reason: "mismatch", tokenId };
  if (record.revokedAtMs !== null) return { ok: false, reason: "revoked", tokenId };
  return { ok: true, hostId: record.hostId, tokenId };
}
