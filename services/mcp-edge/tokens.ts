/**
 * Per-session MCP tokens, version 2:
 *   `cmt2.s.<threadId>.<hostId>.<iat>.<exp>.<mac>`  one session (the host may be empty: any host),
 *   `cmt2.t.<ticket>..<iat>.<exp>.<mac>`            the session a spawn (its command id, the ticket) started,
 *                                                   before its thread id is known.
 * Ids are base64url; `iat` and `exp` are unix ms in decimal. The mac is HMAC-SHA256 under the edge's secret over
 * everything before it, so a token names only what it was minted for, issued and expiring when it says:
 * changing any part breaks the mac. Checked in constant time. Version 1 tokens (`cmt1.`, no times) are refused
 * with a message saying to get a new one. Whether a valid token is still good (expiry, revocation, the session
 * being known) is the edge's call (identity.ts). Pure apart from the crypto.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** What a valid token names. `hostId` null: the session token names no host (any host's thread of that id). */
export type TokenSubject =
  | { kind: "session"; sessionId: string; hostId: string | null }
  | { kind: "ticket"; ticket: string };

/** A token whose mac matched: what it names, when it was issued and when it expires (unix ms). */
export interface VerifiedToken {
  subject: TokenSubject;
  issuedAtMs: number;
  expiresAtMs: number;
}

/** Why a token is not one of this edge's: unreadable, of the old version, or not signed with this secret. */
export type TokenCheck =
  | { ok: true; token: VerifiedToken }
  | { ok: false; reason: "malformed" | "old_version" | "bad_mac"; message: string };

/** How long a token is valid by default: a week. */
export const DEFAULT_TOKEN_TTL_MS = 7 * 24 * 60 * 60 * 1000;
/** Longest token lifetime `mcp-config --ttl` accepts: a year. */
export const MAX_TOKEN_TTL_MS = 366 * 24 * 60 * 60 * 1000;

/** When a token is minted and for how long; defaults: now, a week. */
export interface MintOptions {
  nowMs?: number;
  ttlMs?: number;
}

const PREFIX = "cmt2";
const OLD_PREFIX = "cmt1";
const MAX_ID = 200;
const TIME = /^\d{1,16}$/;
const NEW_TOKEN_HINT = "get a new one with 'claw-supervisor mcp-config <sessionId>'";

/** A new random edge secret: 32 bytes, hex. */
export function newEdgeSecret(): string {
  return randomBytes(32).toString("hex");
}

function mac(secret: string, body: string): string {
  return createHmac("sha256", secret).update(body).digest("base64url");
}

const b64 = (s: string): string => Buffer.from(s, "utf8").toString("base64url");

function mint(secret: string, kind: "s" | "t", id: string, host: string, o: MintOptions): string {
  const iat = Math.floor(o.nowMs ?? Date.now());
  const exp = iat + Math.floor(o.ttlMs ?? DEFAULT_TOKEN_TTL_MS);
  const body = `${PREFIX}.${kind}.${b64(id)}.${b64(host)}.${iat}.${exp}`;
  return `${body}.${mac(secret, body)}`;
}

/** The token of one session (`hostId` narrows it to that host's thread). Pure apart from the default clock. */
export function sessionToken(
  secret: string,
  sessionId: string,
  o: MintOptions & { hostId?: string | null } = {},
): string {
  return mint(secret, "s", sessionId, o.hostId ?? "", o);
}

/** The token a spawned session is given in its thread config: it names the spawn's ticket (command id). */
export function ticketToken(secret: string, ticket: string, o: MintOptions = {}): string {
  return mint(secret, "t", ticket, "", o);
}

const malformed = (): TokenCheck => ({
  ok: false,
  reason: "malformed",
  message: "the token is not a valid MCP token of this supervisor",
});

/** What `token` names and its times, or why it is not one of this edge's tokens (constant-time mac compare). */
export function verifyToken(secret: string, token: string): TokenCheck {
  const parts = token.split(".");
  if (parts[0] === OLD_PREFIX)
    return {
      ok: false,
      reason: "old_version",
      message: `this MCP token is of the old format (cmt1, no expiry), which is no longer accepted: ${NEW_TOKEN_HINT}`,
    };
  if (parts.length !== 7 || parts[0] !== PREFIX || (parts[1] !== "s" && parts[1] !== "t")) return malformed();
  const body = parts.slice(0, 6).join(".");
  const given = Buffer.from(parts[6]!, "utf8");
  const wanted = Buffer.from(mac(secret, body), "utf8");
  if (given.length !== wanted.length || !timingSafeEqual(given, wanted))
    return { ok: false, reason: "bad_mac", message: "the token is not a valid MCP token of this supervisor" };
  const id = Buffer.from(parts[2]!, "base64url").toString("utf8");
  const host = Buffer.from(parts[3]!, "base64url").toString("utf8");
  const [iat, exp] = [parts[4]!, parts[5]!];
  if (!id || id.length > MAX_ID || host.length > MAX_ID || !TIME.test(iat) || !TIME.test(exp)) return malformed();
  const issuedAtMs = Number(iat);
  const expiresAtMs = Number(exp);
  if (expiresAtMs <= issuedAtMs) return malformed();
  const subject: TokenSubject =
    parts[1] === "s" ? { kind: "session", sessionId: id, hostId: host || null } : { kind: "ticket", ticket: id };
  return { ok: true, token: { subject, issuedAtMs, expiresAtMs } };
}
