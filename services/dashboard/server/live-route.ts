/**
 * `GET /ws`: the one WebSocket per tab. The upgrade happens only after the peer guard (Host, and an allowed
 * Origin) and the session check of the cookie (`preValidation`; a refusal is an HTTP answer, so no socket opens);
 * then socket.ts serves it, taking nothing before a `hello` with the session's key (a browser cannot set headers on
 * a WebSocket) and re-checking the session every 30 s.
 */
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { ClawsFeed } from "./claws-feed.js";
import type { LiveFeed } from "./live-feed.js";
import type { NoticeFeed } from "./notices.js";
import { requireSession, type SessionChecker, sessionCookieOf, sessionOf } from "./session.js";
import { type SocketTuning, serveSocket } from "./socket.js";

/** What the live route uses. */
export interface LiveRouteDeps {
  feed: LiveFeed;
  notices: NoticeFeed;
  claws: ClawsFeed;
  checker: SessionChecker;
  tuning: SocketTuning;
  log: Logger;
}

/** Registers `/ws` (after @fastify/websocket). */
export function registerLiveRoute(app: FastifyInstance, d: LiveRouteDeps): void {
  app.get("/ws", { websocket: true, preValidation: requireSession(d.checker, { keyIn: "hello" }) }, (socket, req) => {
    const cookie = sessionCookieOf(req);
    const session = sessionOf(req);
    const log = d.log.child({ operator: session.name });
    serveSocket({
      ws: socket,
      feed: d.feed,
      notices: d.notices,
      claws: d.claws,
      log,
      tuning: d.tuning,
      keyMatches: (key) => d.checker.keyMatches(session, key),
      async recheck() {
        const r = await d.checker.check(cookie);
        if (r.ok) return { ok: true };
        // The policy service not answering is not a revocation: the next check asks again.
        if (r.code === "unavailable") return { ok: true };
        return { ok: false, code: r.code === "revoked" ? "revoked" : "unauthenticated", message: r.message };
      },
    });
  });
}
