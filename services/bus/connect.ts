import { connect, type NatsConnection, type Status } from "@nats-io/transport-node";
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
}

const RECONNECT_JITTER_MS = 250;
const PING_INTERVAL_MS = 20_000;

/** Connects to NATS; the connection reconnects forever (`maxReconnectAttempts: -1`) and only `close()` ends it. */
export async function connectBus(opts: ConnectBusOptions): Promise<NatsConnection> {
  const { onStatus, ...settings } = opts;
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
