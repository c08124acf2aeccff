/**
 * The dashboard server: `startDashboard` serves the page, its JSON API and the one WebSocket per tab on
 * `host:port` (127.0.0.1:7412 by default) from a `client` bus connection. The live view comes from the registry's
 * KV buckets (live-feed.ts) and FLEET (notices.ts), who owns which session from the policy service (claws-feed.ts); every control is a command through the policy service with
 * the signed-in operator as caller (api-routes.ts); operators sign in with tokens the policy service checks
 * (session.ts). `claw-supervisor up` and `claw-supervisor service dashboard` start it.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { FastifyInstance } from "fastify";
import { pino, type Logger } from "pino";
import { buildApp } from "./app.js";
import { ClawsFeed, DEFAULT_CLAWS_POLL_MS, busAskClaws } from "./claws-feed.js";
import { checkCookieSecret } from "./cookie-key.js";
import { AllowedPeers, checkOrigins, isWildcard } from "./guard.js";
import { LiveFeed } from "./live-feed.js";
import { NoticeFeed } from "./notices.js";
import { busOperatorAuth, SessionChecker } from "./session.js";
import { sayShuttingDown } from "./socket.js";
import { defaultWebDir } from "./static-routes.js";

export { COOKIE_SECRET_ENV, checkCookieSecret, defaultCookieKeyFile, ensureCookieKey } from "./cookie-key.js";
export { defaultWebDir } from "./static-routes.js";

/** The dashboard's port when none is given. */
export const DEFAULT_DASHBOARD_PORT = 7412;

/** How to start the dashboard. */
export interface DashboardOptions {
  /** A connection with the `client` bus user's rights. */
  nc: NatsConnection;
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (default 7412; 0 picks a free one). */
  port?: number;
  /** Signs the session cookie; at least 32 characters. */
  cookieSecret: string;
  /** The built page (default `<package>/dist/dashboard/web`). */
  webDir?: string;
  /** Further origins the page may be served from (a reverse proxy's `https://claw.example.com`). */
  allowedOrigins?: string[];
  /** How often the socket pings (default 15 000 ms). */
  heartbeatMs?: number;
  /** How often an open socket's sign-in is checked again (default 30 000 ms; the token status is cached 5 s). */
  sessionRecheckMs?: number;
  /** How often who owns which session (Claw groups) is asked of the policy service while a page is open (5 000 ms). */
  clawsPollMs?: number;
  logger?: Logger;
}

/** A running dashboard. */
export interface Dashboard {
  /** `http://<host>:<port>` (127.0.0.1 when listening on every interface). */
  url: string;
  /** Stops the server (sockets get `bye` shutting_down), the watches and the notice follow. Never throws. */
  stop(): Promise<void>;
}

/** Starts the dashboard; resolves once it listens with the registry's view loaded. */
export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const logger = (opts.logger ?? pino({ level: "silent" })).child({ service: "dashboard" });
  const host = opts.host ?? "127.0.0.1";
  const port = opts.port ?? DEFAULT_DASHBOARD_PORT;
  checkCookieSecret(opts.cookieSecret, "the cookieSecret option");
  const allowedOrigins = opts.allowedOrigins ?? [];
  checkOrigins(allowedOrigins);
  const heartbeatMs = opts.heartbeatMs ?? 15_000;

  const feed = new LiveFeed(opts.nc, logger);
  const notices = new NoticeFeed(opts.nc, logger);
  const claws = new ClawsFeed(busAskClaws(opts.nc), logger, opts.clawsPollMs ?? DEFAULT_CLAWS_POLL_MS);
  let app: FastifyInstance | undefined;
  try {
    await feed.start();
    await notices.start();
    const auth = busOperatorAuth(opts.nc);
    const peers = new AllowedPeers(allowedOrigins);
    app = await buildApp({
      nc: opts.nc,
      cookieSecret: opts.cookieSecret,
      webDir: opts.webDir ?? defaultWebDir(),
      peers,
      feed,
      notices,
      claws,
      auth,
      checker: new SessionChecker(auth, opts.cookieSecret),
      tuning: { heartbeatMs, recheckMs: opts.sessionRecheckMs ?? 30_000 },
      logger,
    });
    await app.listen({ host, port });
    const address = app.server.address();
    const bound = typeof address === "object" && address !== null ? address.port : port;
    peers.listening(host, bound);
    const urlHost = isWildcard(host) ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
    const url = `http://${urlHost}:${bound}`;
    logger.info({ url }, "dashboard listening");
    const running = app;
    let stopped: Promise<void> | undefined;
    return {
      url,
      stop: () =>
        (stopped ??= (async () => {
          for (const ws of running.websocketServer?.clients ?? []) sayShuttingDown(ws);
          await running.close().catch((err: Error) => logger.warn({ err: err.message }, "dashboard close failed"));
          feed.stop();
          claws.stop();
          await notices.stop().catch(() => undefined);
        })()),
    };
  } catch (err) {
    await app?.close().catch(() => undefined);
    feed.stop();
    claws.stop();
    await notices.stop().catch(() => undefined);
    throw err;
  }
}
