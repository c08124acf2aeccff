/**
 * What binds a session cookie to the dashboard's own origin. Browsers send a 127.0.0.1 cookie to every port of
 * 127.0.0.1 (another port is the same site, so neither HttpOnly nor SameSite=Strict helps): another local user's
 * server on another port receives `claw_session`. So the cookie alone does not sign in: each cookie carries a
 * random session id (`sid`), sign-in answers the page a key derived from it (HMAC-SHA256 of the cookie secret),
 * the page keeps the key in localStorage (scoped to its origin, port included) and sends it as `X-Claw-Key` on
 * every API call and in the WebSocket's `hello`. And a signed-out sid is refused until its cookie would expire.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** The request header the page sends its key in. */
export const KEY_HEADER = "x-claw-key";
/** A session id: 18 random bytes, base64url (24 characters). */
export const SESSION_ID = /^[A-Za-z0-9_-]{22,64}$/;

/** A fresh random session id. */
export function newSessionId(): string {
  return randomBytes(18).toString("base64url");
}

/** The key of session `sid`: base64url HMAC-SHA256(cookieSecret, "claw-dashboard-key:" + sid). Pure. */
export function sessionKey(cookieSecret: string, sid: string): string {
  return createHmac("sha256", cookieSecret).update(`claw-dashboard-key:${sid}`).digest("base64url");
}

/** Whether `key` (as the page sent it; undefined when missing) is session `sid`'s, compared in constant time. */
export function keyMatches(cookieSecret: string, sid: string, key: string | undefined): boolean {
  if (typeof key !== "string" || key.length === 0) return false;
  const want = Buffer.from(sessionKey(cookieSecret, sid), "utf8");
  const got = Buffer.from(key, "utf8");
  return got.length === want.length && timingSafeEqual(got, want);
}

/** Most signed-out sessions remembered; past it the oldest entry is forgotten. */
export const MAX_SIGNED_OUT = 10_000;

/**
 * The session ids signed out on this server, each until its cookie expires (pruned by expiry, bounded). In memory
 * and per process: another dashboard instance on the same bus does not see it, and a restart forgets it (issue 17
 * shares state between instances); the token's status check still applies everywhere.
 */
export class SignedOutSessions {
  private readonly until = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Remembers `sid` as signed out until `expMs` (the cookie's expiry, unix ms). */
  add(sid: string, expMs: number): void {
    const now = this.now();
    for (const [id, exp] of this.until) if (exp <= now) this.until.delete(id);
    if (expMs <= now) return;
    this.until.delete(sid);
    while (this.until.size >= MAX_SIGNED_OUT) {
      const oldest = this.until.keys().next().value;
      if (oldest === undefined) break;
      this.until.delete(oldest);
    }
    this.until.set(sid, expMs);
  }

  /** Whether `sid` was signed out (and its cookie has not expired yet). */
  has(sid: string): boolean {
    const exp = this.until.get(sid);
    return exp !== undefined && exp > this.now();
  }

  /** How many are remembered (for tests). */
  get size(): number {
    return this.until.size;
  }
}
