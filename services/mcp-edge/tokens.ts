/**
 * Per-session MCP tokens: `cmt1.s.<sessionId, base64url>.<mac>` names one session; `cmt1.t.<ticket>.<mac>`
 * names the session a spawn (its command id, the ticket) started, before its thread id is known. The mac is
 * HMAC-SHA256 under the edge's secret over everything before it, so a token can name only what it was minted
 * for: changing the session id breaks the mac. Checked in constant time. Pure apart from the crypto.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** What a valid token names. */
export type TokenSubject = { kind: "session"; sessionId: string } | { kind: "ticket"; ticket: string };

const PREFIX = "cmt1";

/** A new random edge secret: 32 bytes, hex. */
export function newEdgeSecret(): string {
  return randomBytes(32).toString("hex");
}

function mac(secret: string, body: string): string {
  return createHmac("sha256", secret).update(body).digest("base64url");
}

/** The token of one session. Pure. */
export function sessionToken(secret: string, sessionId: string): string {
  const body = `${PREFIX}.s.${Buffer.from(sessionId, "utf8").toString("base64url")}`;
  return `${body}.${mac(secret, body)}`;
}

/** The token a spawned session is given in its thread config: it names the spawn's ticket (command id). Pure. */
export function ticketToken(secret: string, ticket: string): string {
  const body = `${PREFIX}.t.${Buffer.from(ticket, "utf8").toString("base64url")}`;
  return `${body}.${mac(secret, body)}`;
}

/** What `token` names, or null when it is malformed or its mac does not match (constant-time compare). */
export function verifyToken(secret: string, token: string): TokenSubject | null {
  const parts = token.split(".");
  if (parts.length !== 4 || parts[0] !== PREFIX || (parts[1] !== "s" && parts[1] !== "t")) return null;
  const body = parts.slice(0, 3).join(".");
  const given = Buffer.from(parts[3]!, "utf8");
  const wanted = Buffer.from(mac(secret, body), "utf8");
  if (given.length !== wanted.length || !timingSafeEqual(given, wanted)) return null;
  const subject = Buffer.from(parts[2]!, "base64url").toString("utf8");
  if (!subject || subject.length > 200) return null;
  return parts[1] === "s" ? { kind: "session", sessionId: subject } : { kind: "ticket", ticket: subject };
}
