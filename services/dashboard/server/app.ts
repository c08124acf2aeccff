/**
 * The dashboard's Fastify app: the peer guard first (Host, Origin), then the Content-Security-Policy
 * (@fastify/helmet: nothing inline, nothing from elsewhere, no framing), the signed cookies (@fastify/cookie),
 * the WebSocket plugin, and the routes: the API, the audit views, `/ws`, and the built page.
 */
import fastifyCookie from "@fastify/cookie";
import fastifyHelmet from "@fastify/helmet";
import fastifyWebsocket from "@fastify/websocket";
import Fastify, { type FastifyInstance, LogController } from "fastify";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { registerApiRoutes } from "./api-routes.js";
import { registerAuditRoutes } from "./audit-routes.js";
import type { ClawsFeed } from "./claws-feed.js";
import { type AllowedPeers, peerGuard } from "./guard.js";
import { registerLiveRoute } from "./live-route.js";
import type { LiveFeed } from "./live-feed.js";
import type { NoticeFeed } from "./notices.js";
import type { OperatorAuth, SessionChecker } from "./session.js";
import type { SocketTuning } from "./socket.js";
import { registerStaticRoutes } from "./static-routes.js";

/** The Content-Security-Policy of every answer. */
export const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  styleSrc: ["'self'"],
  imgSrc: ["'self'", "data:"],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

/** Everything the app is built from. */
export interface AppDeps {
  nc: NatsConnection;
  cookieSecret: string;
  webDir: string;
  peers: AllowedPeers;
  feed: LiveFeed;
  notices: NoticeFeed;
  claws: ClawsFeed;
  auth: OperatorAuth;
  checker: SessionChecker;
  tuning: SocketTuning;
  logger: Logger;
}

/** Builds the app (not listening yet). */
export async function buildApp(d: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: d.logger,
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1_048_576,
    return503OnClosing: true,
  }) as unknown as FastifyInstance;
  // JSON bodies only: a text/plain POST is what a cross-site form can send without a preflight.
  app.removeContentTypeParser("text/plain");
  await app.register(fastifyHelmet, {
    global: true,
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
  });
  // Before the guard: its onRequest hook marks upgrade requests, whose sockets it then closes after any answer
  // (a refused upgrade's included).
  await app.register(fastifyWebsocket, { options: { maxPayload: 64 * 1024 } });
  app.addHook("onRequest", peerGuard(d.peers));
  // API answers (who is signed in, transcripts, the audit trail) are never kept by a browser or a proxy.
  app.addHook("onSend", async (req, reply) => {
    if (req.url.startsWith("/api/")) reply.header("cache-control", "no-store");
  });
  await app.register(fastifyCookie, { secret: d.cookieSecret });
  registerApiRoutes(app, { nc: d.nc, auth: d.auth, checker: d.checker, cookieSecret: d.cookieSecret });
  registerAuditRoutes(app, { nc: d.nc, checker: d.checker, log: d.logger });
  registerLiveRoute(app, {
    feed: d.feed,
    notices: d.notices,
    claws: d.claws,
    checker: d.checker,
    tuning: d.tuning,
    log: d.logger,
  });
  await registerStaticRoutes(app, d.webDir);
  app.setNotFoundHandler((_req, reply) => {
    void reply.code(404).send({ ok: false, code: "not_found", message: "no such page or API route" });
  });
  return app;
}
