/**
 * The health endpoints every service serves beside its own port (node:http, one small server per process):
 *
 * - `GET /healthz`: the process is alive and its event loop answers: always 200 while it serves.
 * - `GET /readyz`: 200 only when the service has started, its bus connection is up (the connection's own status,
 *   then a ping answered within `pingTimeoutMs`) and every lease it reports is held or one it stands by for; else
 *   503. Both answers are JSON: `{ status: "ready" | "not_ready", reason?, bus, leases }`.
 * - `GET /metrics`: the process's {@link ServiceMetrics} in the Prometheus text format.
 *
 * Everything else (another path, another method) is 404. `HEAD` is answered like `GET` without a body.
 * Nothing here is secret, but it listens on 127.0.0.1 unless told otherwise (containers pass 0.0.0.0).
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { NatsConnection } from "@nats-io/transport-node";
import type { ServiceMetrics } from "./metrics.js";

/**
 * The health port the deploy files give every service (`--health-port 9464`): one per container or pod, so
 * one fixed number. Processes started by hand serve no health endpoints unless asked, since several services
 * on one machine would fight over it.
 */
export const CONTAINER_HEALTH_PORT = 9464;

/** Whether a service can take work, and if not why (one line a person can act on). */
export type Readiness = { ready: true } | { ready: false; reason: string };

/** A lease as readiness sees it (services/bus/lease.ts's `Lease` has `key` and `held()`). */
export interface LeaseStatus {
  readonly key: string;
  held(): boolean;
  /** True when the service only stands by for this lease (a standby partition): not holding it is fine. */
  readonly standby?: boolean;
}

/** How to serve the health endpoints. */
export interface HealthServerOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (0 picks a free one). */
  port: number;
  metrics: ServiceMetrics;
  /** The service's bus connection; its status events and a ping decide the `bus` part of readiness. */
  nc: NatsConnection;
  /** The leases the service holds or stands by for, asked at every `/readyz`. */
  leases?: () => Iterable<LeaseStatus>;
  /** A further check of the service's own (e.g. its consumer is attached), asked at every `/readyz`. */
  ready?: () => Readiness;
  /** How long a ping to the bus may take before the service is not ready, ms (default 2000). */
  pingTimeoutMs?: number;
}

/** A running health server. */
export interface HealthServer {
  /** `http://<host>:<port>` (127.0.0.1 when listening on every interface). */
  readonly url: string;
  readonly port: number;
  /** Until called, `/readyz` says `starting`; call it once the service is running. */
  started(): void;
  /** What `/readyz` would answer now. */
  readiness(): Promise<ReadinessReport>;
  /** Stops listening and closes open connections. Never throws. */
  stop(): Promise<void>;
}

/** The body of a `/readyz` answer. */
export interface ReadinessReport {
  status: "ready" | "not_ready";
  reason?: string;
  bus: "connected" | "disconnected" | "closed" | "not_answering";
  leases: { key: string; state: "held" | "standby" | "lost" }[];
}

/** Thrown when the health server cannot listen; the message names the address and why. */
export class HealthServerError extends Error {
  override readonly name = "HealthServerError";
}

/** Starts the health server; resolves once it listens. */
export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const host = opts.host ?? "127.0.0.1";
  const pingTimeoutMs = opts.pingTimeoutMs ?? 2_000;
  const bus = watchBus(opts.nc);
  let isStarted = false;
  let ping: Promise<boolean> | undefined;

  /** One ping at a time, however many probes ask at once. */
  const pinged = (): Promise<boolean> =>
    (ping ??= new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), pingTimeoutMs);
      const settle = (answered: boolean): void => {
        clearTimeout(timer);
        resolve(answered);
      };
      opts.nc.rtt().then(
        () => settle(true),
        () => settle(false),
      );
    }).finally(() => {
      ping = undefined;
    }));

  const readiness = async (): Promise<ReadinessReport> => {
    const leases = [...(opts.leases?.() ?? [])].map((l) => ({
      key: l.key,
      state: l.held() ? ("held" as const) : l.standby ? ("standby" as const) : ("lost" as const),
    }));
    const notReady = (reason: string, state: ReadinessReport["bus"] = "connected"): ReadinessReport => ({
      status: "not_ready",
      reason,
      bus: state,
      leases,
    });
    if (opts.nc.isClosed()) return notReady("the bus connection is closed", "closed");
    if (!bus.connected()) return notReady("not connected to the bus (reconnecting)", "disconnected");
    if (!(await pinged())) return notReady(`the bus did not answer a ping within ${pingTimeoutMs} ms`, "not_answering");
    if (!isStarted) return notReady("starting");
    const lost = leases.filter((l) => l.state === "lost").map((l) => l.key);
    if (lost.length) return notReady(`lease${lost.length > 1 ? "s" : ""} not held: ${lost.join(", ")}`);
    const own = opts.ready?.();
    if (own && !own.ready) return notReady(own.reason);
    return { status: "ready", bus: "connected", leases };
  };

  const answer = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? "/").split("?")[0];
    const method = req.method ?? "GET";
    const send = (status: number, type: string, body: string): void => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(method === "HEAD" ? undefined : body);
    };
    const json = (status: number, body: unknown): void =>
      send(status, "application/json; charset=utf-8", `${JSON.stringify(body)}\n`);
    if (method !== "GET" && method !== "HEAD") return json(404, { status: "not_found" });
    switch (path) {
      case "/healthz":
        return json(200, { status: "alive" });
      case "/readyz": {
        const report = await readiness();
        return json(report.status === "ready" ? 200 : 503, report);
      }
      case "/metrics": {
        const { body, contentType } = await opts.metrics.render();
        return send(200, contentType, body);
      }
      default:
        return json(404, { status: "not_found" });
    }
  };

  const server = createServer((req, res) => {
    answer(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
      res.end(`${(err as Error).message}\n`);
    });
  });
  // Probes open a connection per request; a stuck client must not hold a socket for long.
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    bus.stop();
    const e = err as NodeJS.ErrnoException;
    const why = e.code === "EADDRINUSE" ? "the port is in use" : e.code === "EACCES" ? "permission denied" : e.message;
    throw new HealthServerError(`cannot serve health endpoints on ${host}:${opts.port}: ${why}`, { cause: err });
  }
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : opts.port;
  const urlHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
  let stopped: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${port}`,
    port,
    started: () => {
      isStarted = true;
    },
    readiness,
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        bus.stop();
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

/** Follows a connection's status events: connected until a disconnect, again after a reconnect. */
function watchBus(nc: NatsConnection): { connected(): boolean; stop(): void } {
  let connected = !nc.isClosed();
  const events = nc.status();
  void (async () => {
    for await (const s of events) {
      if (s.type === "disconnect" || s.type === "staleConnection" || s.type === "close") connected = false;
      else if (s.type === "reconnect") connected = true;
    }
  })().catch(() => undefined);
  // nats.js types status() as an AsyncIterable; the object is its QueuedIterator, whose stop() ends it now.
  const stop = (events as { stop?: () => void }).stop?.bind(events);
  return { connected: () => connected && !nc.isClosed(), stop: () => stop?.() };
}
