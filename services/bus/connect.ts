import { type Authenticator, connect, type NatsConnection, type Server, type Status } from "@nats-io/transport-node";
import { BusConnectionConfigSchema } from "../../schemas/bus.js";
import { BusError, toBusError } from "./errors.js";

/** Options for `connectBus`; `onStatus` sees every connection status change (disconnect, reconnect, error...). */
export interface ConnectBusOptions {
  servers: string | string[];
  name: string;
  user?: string;
  pass?: string;
  token?: string;
  /** Wait between reconnect attempts to one server, in milliseconds (default 1000, plus up to 250 ms jitter). */
  reconnectTimeWaitMs?: number;
  onStatus?: (status: Status) => void;
  /**
   * Asked for the credentials at every (re)connect, instead of `user`/`pass`/`token`: so a caller can decide
   * each time whether this server may have them. A refused login does not end the reconnecting.
   */
  authenticator?: Authenticator;
  /**
   * Asked before every dial (the first and each redial): while it says no, each dial waits {@link DIAL_WAIT_MS}
   * first, so a server that is still starting (its files not yet written) is not asked for credentials too early.
   */
  dialWhen?: () => boolean;
}

/** How long a dial waits while `dialWhen` says no, ms. */
export const DIAL_WAIT_MS = 500;

const RECONNECT_JITTER_MS = 250;
const PING_INTERVAL_MS = 20_000;

/**
 * Takes `user:pass@` (or `token@`) out of server URLs, percent-decoded: nats.js ignores credentials in a URL
 * (and reads a password that starts with digits as the port), and this keeps them out of error messages.
 * Every URL that carries credentials must carry the same ones. Pure.
 */
export function splitUrlCredentials(servers: string | string[]): {
  servers: string | string[];
  credentials?: { user: string; pass: string } | { token: string };
} {
  const found = new Set<string>();
  const strip = (url: string): string => {
    const m = /^([a-z][a-z0-9+.-]*:\/\/)?([^/?#]*)@([^@/?#]*)$/i.exec(url.trim());
    if (!m) return url;
    found.add(m[2] as string);
    return `${m[1] ?? ""}${m[3]}`;
  };
  const stripped = Array.isArray(servers) ? servers.map(strip) : strip(servers);
  if (found.size === 0) return { servers };
  if (found.size > 1) throw new BusError("invalid_config", "server URLs carry different credentials");
  const userinfo = [...found][0] as string;
  const colon = userinfo.indexOf(":");
  try {
    const credentials =
      colon < 0
        ? { token: decodeURIComponent(userinfo) }
        : { user: decodeURIComponent(userinfo.slice(0, colon)), pass: decodeURIComponent(userinfo.slice(colon + 1)) };
    return { servers: stripped, credentials };
  } catch (err) {
    throw new BusError("invalid_config", "server URL credentials are not valid percent-encoding", { cause: err });
  }
}

/**
 * Connects to NATS; the connection reconnects forever (`maxReconnectAttempts: -1`) and only `close()` ends it.
 * Credentials may also come in the URL (`nats://user:pass@host:4222`, `nats://token@host:4222`), but not both
 * in the URL and in `user`/`pass`/`token`.
 */
export async function connectBus(opts: ConnectBusOptions): Promise<NatsConnection> {
  const { onStatus, authenticator, dialWhen, ...given } = opts;
  const fromUrl = splitUrlCredentials(given.servers);
  if (fromUrl.credentials && (given.user !== undefined || given.pass !== undefined || given.token !== undefined)) {
    throw new BusError(
      "invalid_config",
      "invalid bus connection options: credentials both in the server URL and in user/pass/token",
    );
  }
  const settings = { ...given, servers: fromUrl.servers, ...fromUrl.credentials };
  const parsed = BusConnectionConfigSchema.safeParse(settings);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => i.message).join("; ");
    throw new BusError("invalid_config", `invalid bus connection options: ${detail}`, { cause: parsed.error });
  }
  const c = parsed.data;
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: c.servers,
      name: c.name,
      ...(c.user === undefined ? {} : { user: c.user, pass: c.pass }),
      ...(c.token === undefined ? {} : { token: c.token }),
      ...(authenticator === undefined ? {} : { authenticator, ignoreAuthErrorAbort: true }),
      ...(dialWhen === undefined
        ? {}
        : {
            // Must not throw (nats.js would close the connection): a failing check just waits.
            reconnectToServer: (pool: ReadonlyArray<Server>) => {
              const server = pool[0];
              let ready = false;
              try {
                ready = dialWhen();
              } catch {
                ready = false;
              }
              return ready || server === undefined ? null : { server, delay: DIAL_WAIT_MS };
            },
          }),
      maxReconnectAttempts: -1,
      reconnectTimeWait: c.reconnectTimeWaitMs,
      reconnectJitter: RECONNECT_JITTER_MS,
      pingInterval: PING_INTERVAL_MS,
      // nats.js otherwise builds two Error objects (stack traces included) for every request, JetStream
      // publishes and KV writes among them: a sixth of the registry's CPU at ingest rates. Our errors name
      // their operation through toBusError instead.
      noAsyncTraces: true,
    });
  } catch (err) {
    const busErr = toBusError(err, `connect to ${String(c.servers)}`);
    throw busErr.code === "not_authorized" || busErr.code === "connect_failed"
      ? busErr
      : new BusError("connect_failed", busErr.message, { retryable: true, cause: err });
  }
  if (onStatus) void forwardStatus(nc, onStatus);
  return nc;
}

async function forwardStatus(nc: NatsConnection, onStatus: (status: Status) => void): Promise<void> {
  for await (const status of nc.status()) {
    try {
      onStatus(status);
    } catch {
      // A failing logger must not stop status delivery.
    }
  }
}
