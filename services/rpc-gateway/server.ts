/**
 * The rpc-gateway: an HTTP server whose WebSocket upgrades are authenticated with a host token before any
 * socket is accepted; each accepted socket becomes a `HostConnection`. Any number of gateways may run on one
 * bus: each connection takes its host's lease in `codex-leases` (host-leases.ts), so a host has one live
 * connection across all of them, and only the holder serves its commands.
 */
import { randomBytes } from "node:crypto";
import { createServer, STATUS_CODES, type IncomingMessage, type Server } from "node:http";
import type { Socket } from "node:net";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino, type Logger } from "pino";
import { WebSocketServer, type WebSocket } from "ws";
import { z } from "zod";
import {
  HttpTimeoutFields,
  headersWithinRequest,
  headersWithinRequestIssue,
  httpServerTimeouts,
} from "../../schemas/http-timeouts.js";
import { DEFAULT_GATEWAY_MAX_FRAME_BYTES } from "../../schemas/gateway.js";
import {
  JetStreamPublisher,
  LEASE_BUCKET,
  MAX_LEASE_TTL_MS,
  connectBus,
  openKvBucket,
  publishDeduplicated,
  subjects,
  type KvBucket,
} from "../bus/index.js";
import type { ServiceMetrics } from "../ops/metrics.js";
import { HostConnection, type HostConnectionDeps } from "./connection.js";
import { GatewayError } from "./errors.js";
import { DEFAULT_HOST_LEASE_TTL_MS, HostLeases, hostConflict, hostConflictNotice } from "./host-leases.js";
import { RpcRelay } from "./rpc-relay.js";
import { DEFAULT_STORED_LOOKUP_MARGIN_MS, DEFAULT_STORED_LOOKUP_TIMEOUT_MS, findStoredSeqs } from "./stored-lookup.js";
import { bearerToken } from "./host-token.js";
import { authenticateHostToken, openHostTokenBucket, watchHostTokenRevocations } from "./tokens.js";

/** Port the gateway listens on when none is given. */
export const DEFAULT_GATEWAY_PORT = 7410;
/**
 * At most one host-conflict notice per host per this many ms from one gateway: a host token reconnecting in a
 * loop with a new agent run each time would otherwise publish one high-priority notice per reconnect.
 */
export const CONFLICT_NOTICE_GAP_MS = 60_000;
/** Optional request header naming the host the agent means to be; when present it must be the token's host. */
export const HOST_ID_HEADER = "x-claw-host-id";

const positiveInt = z.number().int().positive();

/** The gateway's settings; every field has a default. Durations in ms, sizes in bytes. */
export const GatewaySettingsSchema = z
  .object({
    servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(DEFAULT_GATEWAY_PORT),
    maxFrameBytes: positiveInt.default(DEFAULT_GATEWAY_MAX_FRAME_BYTES),
    pingIntervalMs: positiveInt.default(15_000),
    helloTimeoutMs: positiveInt.default(10_000),
    maxBadFrames: positiveInt.default(10),
    maxInFlight: positiveInt.default(64),
    heartbeatMinIntervalMs: z.number().int().nonnegative().default(1_000),
    closeGraceMs: positiveInt.default(2_000),
    ...HttpTimeoutFields,
    gatewayId: z.string().min(1).optional(),
    /**
     * TTL of each host lease (renewed every third of it); default 15 s, at most half the `codex-leases` max age.
     * A gateway cut off from the bus closes its connections after 0.8 of it.
     */
    hostLeaseTtlMs: z.number().int().min(300).max(MAX_LEASE_TTL_MS).optional(),
    /**
     * Bound on looking up, at a hello, which of the agent's unacknowledged events are stored already
     * (stored-lookup.ts); past it the welcome goes out without them and the agent sends them all again.
     */
    storedLookupTimeoutMs: positiveInt.default(DEFAULT_STORED_LOOKUP_TIMEOUT_MS),
    /** How far before the agent's first unacknowledged send that lookup starts reading (clock differences). */
    storedLookupMarginMs: z.number().int().nonnegative().default(DEFAULT_STORED_LOOKUP_MARGIN_MS),
  })
  .refine(headersWithinRequest, headersWithinRequestIssue);

/** Options for `startGateway`: a NATS connection (yours, left open by `stop`) or `servers` (the gateway's own). */
export type GatewayOptions = z.input<typeof GatewaySettingsSchema> & {
  natsConnection?: NatsConnection;
  logger?: Logger;
  /** Counts stored events (`eventsIn`) and which host leases this instance holds (`leaseHeld`). */
  metrics?: ServiceMetrics;
};

/** A running gateway. */
export interface Gateway {
  /** `ws://host:port/`, what a host agent dials. */
  url: string;
  port: number;
  gatewayId: string;
  /** Closes every connection (publishing `disconnected`), stops listening, and closes its own NATS connection. */
  stop(): Promise<void>;
}

function parseSettings(opts: GatewayOptions): z.output<typeof GatewaySettingsSchema> {
  const { natsConnection, logger, metrics, ...settings } = opts;
  const parsed = GatewaySettingsSchema.safeParse(settings);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "options"}: ${i.message}`).join("; ");
    throw new GatewayError("invalid_options", `invalid gateway options: ${detail}`, { cause: parsed.error });
  }
  if ((natsConnection === undefined) === (parsed.data.servers === undefined)) {
    throw new GatewayError(
      "invalid_options",
      "invalid gateway options: give exactly one of natsConnection and servers",
    );
  }
  return parsed.data;
}

/** Answers a refused upgrade with a bare HTTP status and closes the socket: no WebSocket is ever made. */
function refuseUpgrade(socket: Socket, status: 401 | 503): void {
  if (!socket.writable) return void socket.destroy();
  const body = `${STATUS_CODES[status]}\n`;
  const auth = status === 401 ? 'WWW-Authenticate: Bearer realm="claw-supervisor"\r\n' : "";
  socket.once("finish", () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n${auth}` +
      `Content-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Settles like `promise`, or rejects after `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not done within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no TCP address");
  return address.port;
}

/** The host lease TTL: as asked, else the default; below the leases bucket's max age (`bucketTtlMs`, 0: none). */
function hostLeaseTtl(asked: number | undefined, bucketTtlMs: number): number {
  const cap = bucketTtlMs > 0 ? Math.floor(bucketTtlMs / 2) : MAX_LEASE_TTL_MS;
  if (asked === undefined) return Math.max(300, Math.min(DEFAULT_HOST_LEASE_TTL_MS, cap));
  if (bucketTtlMs > 0 && asked >= bucketTtlMs)
    throw new GatewayError(
      "invalid_options",
      `invalid gateway options: hostLeaseTtlMs ${asked} must be below the ${LEASE_BUCKET} max age (${bucketTtlMs} ms)`,
    );
  return asked;
}

/**
 * Starts the gateway; resolves once it listens. Needs the bus set up (CODEX_EVENTS, `codex-host-tokens` and
 * `codex-leases`).
 */
export async function startGateway(opts: GatewayOptions): Promise<Gateway> {
  const s = parseSettings(opts);
  const gatewayId = s.gatewayId ?? `rpc-gateway-${randomBytes(4).toString("hex")}`;
  const logger = (opts.logger ?? pino({ name: "rpc-gateway" }, pino.destination(2))).child({ gatewayId });
  const nc = opts.natsConnection ?? (await connectBus({ servers: s.servers!, name: gatewayId }));
  // Flush and drain wait for a reconnect while NATS is down: bound them so `stop` always returns.
  const closeOwnNats = async (): Promise<void> => {
    if (opts.natsConnection) return;
    await within(nc.drain(), s.closeGraceMs).catch(() => undefined);
    if (!nc.isClosed()) await nc.close();
  };
  let kv: KvBucket;
  let leasesKv: KvBucket;
  let leaseTtlMs: number;
  try {
    kv = await openHostTokenBucket(nc);
    leasesKv = await openKvBucket(nc, LEASE_BUCKET, { mustExist: true });
    leaseTtlMs = hostLeaseTtl(s.hostLeaseTtlMs, (await leasesKv.status()).ttl);
  } catch (err) {
    await closeOwnNats();
    throw err;
  }

  const connections = new Set<HostConnection>();
  let stopping = false;
  const publisher = new JetStreamPublisher(nc);
  const relay = new RpcRelay(nc, logger, gatewayId);
  const leases = new HostLeases(nc, leasesKv, gatewayId, leaseTtlMs, logger);
  leases.start();
  /**
   * Hosts whose unacked events are being looked up. One lookup at a time per host: a scan runs to its deadline
   * even once its socket is gone, so a token's hellos fired and dropped at once would each start one.
   */
  const lookingUp = new Set<string>();
  /** When this gateway last published a host-conflict notice, per host. */
  const conflictNoticedAt = new Map<string, number>();
  const deps: HostConnectionDeps = {
    gatewayId,
    nc,
    publisher,
    logger,
    limits: { maxBadFrames: s.maxBadFrames, heartbeatMinIntervalMs: s.heartbeatMinIntervalMs },
    maxInFlight: s.maxInFlight,
    maxFrameBytes: s.maxFrameBytes,
    helloTimeoutMs: s.helloTimeoutMs,
    pingIntervalMs: s.pingIntervalMs,
    leases,
    lookupStored(hostId, epoch, unacked) {
      // Refused: the hello is welcomed without `stored`, and its agent sends those events again (deduplicated).
      if (lookingUp.has(hostId)) return Promise.reject(new Error("another lookup of this host's events is running"));
      lookingUp.add(hostId);
      const nowMs = Date.now();
      const lookup = findStoredSeqs(nc, hostId, epoch, unacked, {
        nowMs,
        marginMs: s.storedLookupMarginMs,
        deadlineMs: nowMs + s.storedLookupTimeoutMs,
      });
      void lookup.catch(() => undefined).finally(() => lookingUp.delete(hostId));
      // The scan stops at the deadline by itself, but a fetch may be waiting on the bus: do not wait for it.
      return within(lookup, s.storedLookupTimeoutMs + 500);
    },
    metrics: opts.metrics,
    onHeld(conn) {
      // An older connection of the same host here learns it at once, not from the bucket.
      const holder = conn.claimant();
      for (const other of connections) {
        const epoch = other.leaseEpoch;
        if (holder && other !== conn && other.hostId === conn.hostId && epoch !== null && epoch < holder.leaseEpoch)
          other.depose(holder);
      }
      relay.hostConnected(conn);
    },
    onLeaseLost(conn, why) {
      relay.hostClosed(conn, why);
    },
    onConflict(conn, holder) {
      const agent = conn.agent;
      const conflict = hostConflict(
        conn.hostId,
        {
          agentEpoch: holder.agentEpoch,
          hostname: holder.hostname,
          gatewayId: holder.gatewayId,
          remoteAddress: holder.remoteAddress,
          tokenId: holder.tokenId,
        },
        {
          agentEpoch: agent?.epoch ?? null,
          hostname: agent?.hostname ?? null,
          gatewayId,
          remoteAddress: conn.remoteAddress,
          tokenId: conn.tokenId,
        },
        holder.leaseEpoch,
      );
      const notice = hostConflictNotice(conn.hostId, conflict, Date.now());
      logger.error(
        { hostId: conn.hostId, holder, displaced: conflict.displaced, copiedToken: conflict.copiedToken },
        `host conflict: ${conflict.summary}`,
      );
      const last = conflictNoticedAt.get(conn.hostId);
      if (last !== undefined && notice.atMs - last < CONFLICT_NOTICE_GAP_MS) return;
      conflictNoticedAt.set(conn.hostId, notice.atMs);
      publishDeduplicated(publisher, subjects.fleet(notice.kind), JSON.stringify(notice), notice.id).catch(
        (err: unknown) =>
          logger.error({ hostId: conn.hostId, err: (err as Error).message }, "cannot publish the host-conflict notice"),
      );
    },
    onClosed(conn) {
      connections.delete(conn);
      relay.hostClosed(conn);
    },
  };

  // A live connection whose token is revoked is cut at once, not only refused on its next upgrade.
  const revocations = await watchHostTokenRevocations(kv, (tokenId) => {
    for (const conn of connections) if (conn.tokenId === tokenId) conn.revoke();
  });
  void revocations.done.then(() => {
    if (!stopping)
      logger.error("host token watch ended: revoked tokens are refused on upgrade but live connections stay");
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: s.maxFrameBytes, clientTracking: false });
  const server = createServer(httpServerTimeouts(s), (req, res) => {
    if (req.url === "/healthz") {
      res
        .writeHead(200, { "content-type": "application/json" })
        .end(JSON.stringify({ status: "ok", gatewayId, connections: connections.size }));
      return;
    }
    res
      .writeHead(426, { "content-type": "text/plain", upgrade: "websocket" })
      .end("connect with a WebSocket and a host token\n");
  });

  const accept = (ws: WebSocket, auth: { hostId: string; tokenId: string }, req: IncomingMessage): void => {
    const conn = new HostConnection(ws, { ...auth, remoteAddress: req.socket.remoteAddress }, deps);
    connections.add(conn);
    if (stopping) conn.shutdown();
  };

  const handleUpgrade = async (req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> => {
    // The peer may reset the socket while the token is looked up; that must not be an unhandled error.
    socket.on("error", (err) => logger.debug({ err: err.message }, "upgrade socket error"));
    const remote = req.socket.remoteAddress;
    const refuse = (status: 401 | 503, reason: string, data: Record<string, unknown> = {}): void => {
      logger.warn({ remote, status, ...data }, `refused upgrade: ${reason}`);
      refuseUpgrade(socket, status);
    };
    if (stopping) return refuse(503, "gateway stopping");
    const bearer = bearerToken(req.headers.authorization);
    if (!bearer.ok) return refuse(401, bearer.reason);
    let check: Awaited<ReturnType<typeof authenticateHostToken>>;
    try {
      check = await authenticateHostToken(kv, bearer.token);
    } catch (err) {
      return refuse(503, `token store unavailable: ${(err as Error).message}`);
    }
    if (!check.ok) return refuse(401, `${check.reason} host token`, { tokenId: check.tokenId });
    const declared = req.headers[HOST_ID_HEADER];
    if (declared !== undefined && declared !== check.hostId) {
      return refuse(401, `token is for host ${check.hostId}, request declares ${String(declared)}`, {
        tokenId: check.tokenId,
      });
    }
    if (socket.destroyed) return;
    const { hostId, tokenId } = check;
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, { hostId, tokenId }, req));
  };
  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => void handleUpgrade(req, socket, head));

  let port: number;
  try {
    port = await listen(server, s.port, s.host);
  } catch (err) {
    stopping = true;
    revocations.stop();
    await leases.stop(s.closeGraceMs);
    publisher.close("the gateway failed to start");
    await closeOwnNats();
    throw new GatewayError("listen_failed", `cannot listen on ${s.host}:${s.port}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const pinger = setInterval(() => {
    for (const conn of connections) conn.checkAlive();
  }, s.pingIntervalMs);
  pinger.unref();
  const urlHost = s.host.includes(":") ? `[${s.host}]` : s.host;
  logger.info({ host: s.host, port, hostLeaseTtlMs: leaseTtlMs }, "rpc-gateway listening");

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      stopping = true;
      relay.close();
      clearInterval(pinger);
      revocations.stop();
      const open = [...connections];
      for (const conn of open) conn.shutdown();
      const grace = new Promise((resolve) => setTimeout(resolve, s.closeGraceMs).unref());
      await Promise.race([Promise.all(open.map((c) => c.closed)), grace]);
      for (const conn of connections) conn.terminate();
      await Promise.all(open.map((c) => c.closed));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      wss.close();
      // Lease releases and the flush both wait on the bus: bounded together.
      await Promise.all([leases.stop(s.closeGraceMs), within(nc.flush(), s.closeGraceMs).catch(() => undefined)]);
      publisher.close("the gateway stopped");
      await closeOwnNats();
      logger.info("rpc-gateway stopped");
    })();
    return stopped;
  };
  return { url: `ws://${urlHost}:${port}/`, port, gatewayId, stop };
}
