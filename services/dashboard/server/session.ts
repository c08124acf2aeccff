/**
 * The dashboard's sign-in session: the signed cookie `claw_session` (HttpOnly, SameSite=Strict, Path=/, Secure
 * when the page's origin is https, 12 h) holding `{tokenId, name, role, exp, sid}`, signed by @fastify/cookie with
 * the server's cookie secret, and the check every request but sign-in passes: a valid, unexpired cookie, not signed
 * out on this server, whose token the policy service still says is active (`operatorTokenStatus`, cached 5 s per
 * token id), sent with the session's key (`X-Claw-Key`, or the WebSocket's `hello`; see session-key.ts).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { type Me, OperatorRole } from "../../../schemas/dashboard.js";
import {
  type OperatorTokenStatus,
  type OperatorVerification,
  operatorTokenStatus,
  verifyOperatorToken,
} from "../../clients/operator-auth.js";
import { KEY_HEADER, SESSION_ID, SignedOutSessions, keyMatches } from "./session-key.js";

/** The cookie's name. */
export const SESSION_COOKIE = "claw_session";
/** How long a sign-in lasts. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** How long a token's status answer is reused. */
export const STATUS_CACHE_MS = 5_000;

/** What the cookie holds. */
export const CookieSession = z.strictObject({
  tokenId: z.string().regex(/^[0-9a-f]{16}$/),
  name: z.string().min(1).max(64),
  role: OperatorRole,
  /** Expiry, unix ms. */
  exp: z.number().int().positive(),
  /** The random session id the page's key is derived from (session-key.ts). */
  sid: z.string().regex(SESSION_ID),
});
export type CookieSession = z.infer<typeof CookieSession>;

/** The sign-in checks, as the policy service answers them (an interface so the checker can be tested alone). */
export interface OperatorAuth {
  verify(token: string): Promise<OperatorVerification>;
  status(tokenId: string): Promise<OperatorTokenStatus>;
}

/** The sign-in checks over the bus (services/clients/operator-auth.ts). */
export function busOperatorAuth(nc: NatsConnection): OperatorAuth {
  return { verify: (token) => verifyOperatorToken(nc, token), status: (id) => operatorTokenStatus(nc, id) };
}

/** Who a request is, or why it is refused (`status` 401 clears the cookie; 503: the check could not be made). */
export type SessionResult =
  | { ok: true; session: CookieSession; me: Me }
  | { ok: false; status: 401 | 503; code: "unauthenticated" | "revoked" | "unavailable"; message: string };

/**
 * Checks sessions against the policy service's token status (each token id's answer cached for 5 s) and this
 * server's signed-out sessions, and the page's key against the cookie's session id.
 */
export class SessionChecker {
  private readonly cache = new Map<string, { atMs: number; answer: Promise<OperatorTokenStatus> }>();
  private readonly signedOut: SignedOutSessions;

  constructor(
    private readonly auth: OperatorAuth,
    private readonly cookieSecret: string,
    private readonly now: () => number = Date.now,
  ) {
    this.signedOut = new SignedOutSessions(now);
  }

  /** Whether `key` (the page's `X-Claw-Key` or hello key; undefined when missing) is `session`'s. Constant time. */
  keyMatches(session: CookieSession, key: string | undefined): boolean {
    return keyMatches(this.cookieSecret, session.sid, key);
  }

  /** Refuses `session`'s cookie on this server from now until it expires (sign-out). */
  signOut(session: CookieSession): void {
    this.signedOut.add(session.sid, session.exp);
  }

  /** The session `raw` (the cookie's unsigned value, or undefined) stands for, or why not. */
  async check(raw: string | undefined): Promise<SessionResult> {
    const session = decodeSession(raw);
    if (session === null) return refuse("unauthenticated", "not signed in");
    if (session.exp <= this.now()) return refuse("unauthenticated", "the sign-in has expired: sign in again");
    if (this.signedOut.has(session.sid)) return refuse("unauthenticated", "signed out: sign in again");
    const status = await this.status(session.tokenId);
    if (!status.ok) return { ok: false, status: 503, code: "unavailable", message: status.message };
    if (!status.active || status.name !== session.name || status.role !== session.role)
      return refuse("revoked", "the operator token was revoked: sign in again");
    return { ok: true, session, me: { name: session.name, role: session.role } };
  }

  private status(tokenId: string): Promise<OperatorTokenStatus> {
    const now = this.now();
    const cached = this.cache.get(tokenId);
    if (cached && now - cached.atMs < STATUS_CACHE_MS) return cached.answer;
    const answer = this.auth.status(tokenId);
    this.cache.set(tokenId, { atMs: now, answer });
    // An unknown answer is not kept: the next request asks again.
    void answer.then((a) => {
      if (!a.ok && this.cache.get(tokenId)?.answer === answer) this.cache.delete(tokenId);
    });
    for (const [id, c] of this.cache) if (now - c.atMs >= STATUS_CACHE_MS) this.cache.delete(id);
    return answer;
  }
}

function refuse(code: "unauthenticated" | "revoked", message: string): SessionResult {
  return { ok: false, status: 401, code, message };
}

/** The cookie value of a session (before signing): base64url JSON. Pure. */
export function encodeSession(s: CookieSession): string {
  return Buffer.from(JSON.stringify(s), "utf8").toString("base64url");
}

/** The session in an (already unsigned) cookie value, or null. Pure. */
export function decodeSession(value: string | undefined): CookieSession | null {
  if (!value || value.length > 1_000) return null;
  try {
    const parsed = CookieSession.safeParse(JSON.parse(Buffer.from(value, "base64url").toString("utf8")));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The request's session cookie, unsigned: undefined when absent or its signature is wrong. */
export function sessionCookieOf(req: FastifyRequest): string | undefined {
  const raw = req.cookies[SESSION_COOKIE];
  if (raw === undefined) return undefined;
  const unsigned = req.unsignCookie(raw);
  return unsigned.valid && unsigned.value !== null ? unsigned.value : undefined;
}

/** Sets the signed session cookie; Secure when `secure` (the page's origin is https). */
export function setSessionCookie(reply: FastifyReply, session: CookieSession, secure: boolean): void {
  reply.setCookie(SESSION_COOKIE, encodeSession(session), {
    signed: true,
    httpOnly: true,
    sameSite: "strict",
    path: "/",
    secure,
    maxAge: Math.floor(SESSION_TTL_MS / 1000),
  });
}

/** Clears the session cookie. */
export function clearSessionCookie(reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, { path: "/", httpOnly: true, sameSite: "strict" });
}

const sessions = new WeakMap<FastifyRequest, CookieSession>();

/** The signed-in session of a request that passed {@link requireSession}. */
export function sessionOf(req: FastifyRequest): CookieSession {
  const s = sessions.get(req);
  if (!s) throw new Error("sessionOf: the route does not require a session");
  return s;
}

/** The request's `X-Claw-Key` header, or undefined. */
export function sessionKeyOf(req: FastifyRequest): string | undefined {
  const key = req.headers[KEY_HEADER];
  return typeof key === "string" ? key : undefined;
}

/**
 * The `preValidation` hook of every route that needs a session: 401 `unauthenticated` (cookie cleared) without a
 * valid one or without its key in `X-Claw-Key`, 503 `unavailable` when the policy service cannot say. On the
 * WebSocket route (`keyIn: "hello"`, a browser cannot set headers there) this refuses the upgrade without a valid
 * cookie, and the socket checks the key in `hello`.
 */
export function requireSession(checker: SessionChecker, o: { keyIn: "header" | "hello" } = { keyIn: "header" }) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const raw = sessionCookieOf(req);
    const cookie = decodeSession(raw);
    // The key first: a replayed cookie without it costs no token-status request.
    const result =
      cookie !== null && o.keyIn === "header" && !checker.keyMatches(cookie, sessionKeyOf(req))
        ? refuse("unauthenticated", "this request does not carry the session's key: sign in again")
        : await checker.check(raw);
    if (result.ok) {
      sessions.set(req, result.session);
      return;
    }
    if (result.status === 401) clearSessionCookie(reply);
    await reply
      .code(result.status)
      .send({ ok: false, code: result.status === 401 ? "unauthenticated" : "unavailable", message: result.message });
  };
}
