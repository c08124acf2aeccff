/**
 * `startRegistry`: the registry service, the I/O shell around the pure fold `FleetState` (which replay shares; this
 * shell passes it the clock). Restores the fleet from KV, then consumes CODEX_EVENTS through its
 * durable consumer and host lifecycle from `codex.host.*`, sweeps hosts on a timer, and answers queries.
 * Every batch is persisted in one order: FLEET notices first (deterministic ids), then KV entries
 * (compare-and-set), then the acks of the messages those entries cover; so a crash anywhere redelivers
 * events that are either skipped (already in KV) or re-derive the same state and the same notice ids.
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { z } from "zod";
import { SessionEventEnvelopeSchema } from "../../schemas/bus.js";
import { HostLifecycle } from "../../schemas/gateway.js";
import {
  BusError,
  JetStreamPublisher,
  KV_BUCKET_NAMES,
  STREAM_NAMES,
  connectBus,
  deliveredFromStream,
  kvStreamName,
  loadKvBucket,
  missingStreams,
  openKvBucket,
  subjects,
  type StreamMsg,
} from "../bus/index.js";
import { consumeEvents, type ConsumedEvent, type EventConsumer, type MessageSink } from "./consumer.js";
import { HostEntry, SessionEntry, sessionKey } from "../../schemas/registry-entry.js";
import { publishFleetEvents } from "./fleet.js";
import { FleetState, type FleetStateStats } from "./fleet-state.js";
import { KvTable } from "./kv-view.js";
import { silentLogger, type RegistryLogger } from "./logger.js";
import { serveQueries } from "./queries.js";
import { startSweeper, type Sweeper } from "./sweeper.js";

const ms = z.number().int().positive();

/**
 * Registry settings; every duration is in milliseconds. The host defaults suit the host agent's 15 s heartbeat:
 * degraded after two missed beats, offline after four, stale five minutes after that.
 */
export const RegistryConfig = z.object({
  sweepIntervalMs: ms.default(5_000),
  degradedAfterMs: ms.default(35_000),
  offlineAfterMs: ms.default(60_000),
  staleAfterMs: ms.default(300_000),
  /** Host status at which its sessions are marked stale. */
  staleSessionsWhen: z.enum(["stale", "offline"]).default("stale"),
  durableName: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, "durableName must be letters, digits, '-' or '_'")
    .default("registry"),
  /** How long a change of only `lastSeenAt` (or heartbeat times) may wait to be batched into one KV write. */
  batchWindowMs: ms.default(1_000),
  /** Messages pulled per request; up to four times this many may wait unacked while flushes run. */
  maxBatch: ms.default(2_000),
  ackWaitMs: ms.default(30_000),
});

/** Options of `startRegistry`: a connection (`nc`, kept open on stop) or `servers` (connected and closed here). */
export type RegistryOptions = z.input<typeof RegistryConfig> & {
  nc?: NatsConnection;
  servers?: string | string[];
  logger?: RegistryLogger;
};

/** Counters since start, for tests and benchmarks. */
export interface RegistryStats extends FleetStateStats {
  flushes: number;
  sessionWrites: number;
  hostWrites: number;
  kvConflicts: number;
  fleetStored: number;
  fleetDuplicates: number;
  restoredSessions: number;
  restoredHosts: number;
  /** Events read straight from the stream because a delivery skipped over them (lost in flight). */
  gapEventsRead: number;
}

/** A running registry. */
export interface Registry {
  /** Stops consuming, persists and acks everything applied, and closes the connection if it opened it. */
  stop(): Promise<void>;
  stats(): RegistryStats;
}

const STOP_FLUSH_DEADLINE_MS = 5_000;

async function requireTopology(nc: NatsConnection): Promise<void> {
  const needed = [
    STREAM_NAMES.events,
    STREAM_NAMES.fleet,
    kvStreamName(KV_BUCKET_NAMES.sessions),
    kvStreamName(KV_BUCKET_NAMES.hosts),
  ];
  const [missing] = await missingStreams(nc, needed, "registry: ");
  if (missing !== undefined) {
    throw new BusError(
      "invalid_config",
      `registry: stream ${missing} does not exist; create the bus first (ensureBus, or 'claw-supervisor up')`,
    );
  }
}

/** Starts the registry; resolves once its view is restored from KV and it is consuming and answering. */
export async function startRegistry(options: RegistryOptions): Promise<Registry> {
  const parsed = RegistryConfig.safeParse(options);
  if (!parsed.success) {
    throw new BusError(
      "invalid_config",
      `invalid registry options: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  const config = parsed.data;
  const logger = options.logger ?? silentLogger;
  if (!options.nc && options.servers === undefined)
    throw new BusError("invalid_config", "startRegistry needs nc or servers");
  const ownsConnection = !options.nc;
  const nc =
    options.nc ??
    (await connectBus({ servers: options.servers as string | string[], name: "claw-supervisor-registry" }));
  try {
    return await run(nc, ownsConnection, config, logger);
  } catch (err) {
    if (ownsConnection) await nc.close();
    throw err;
  }
}

async function run(
  nc: NatsConnection,
  ownsConnection: boolean,
  config: z.infer<typeof RegistryConfig>,
  logger: RegistryLogger,
): Promise<Registry> {
  await requireTopology(nc);
  // FLEET notices and KV writes go through one pipelined publisher (see js-publisher.ts for why).
  const publisher = new JetStreamPublisher(nc);
  const sessionsKv = new KvTable(await openKvBucket(nc, KV_BUCKET_NAMES.sessions), KV_BUCKET_NAMES.sessions, publisher);
  const hostsKv = new KvTable(await openKvBucket(nc, KV_BUCKET_NAMES.hosts), KV_BUCKET_NAMES.hosts, publisher);
  const state = new FleetState({ ...config, logger });
  const counters = { flushes: 0, fleetStored: 0, fleetDuplicates: 0, restoredSessions: 0, restoredHosts: 0 };

  for (const [key, loaded] of await loadKvBucket(nc, KV_BUCKET_NAMES.sessions)) {
    const entry = SessionEntry.safeParse(loaded.value);
    if (!entry.success || sessionKey(entry.data.hostId, entry.data.threadId) !== key) {
      logger.error(
        { key, issues: entry.error?.issues },
        "registry: unreadable session entry in KV; it will be rebuilt only by its next events",
      );
      continue;
    }
    sessionsKv.remember(key, loaded.revision);
    state.restoreSession(entry.data);
    counters.restoredSessions++;
  }
  for (const [key, loaded] of await loadKvBucket(nc, KV_BUCKET_NAMES.hosts)) {
    const entry = HostEntry.safeParse(loaded.value);
    if (!entry.success || entry.data.hostId !== key) {
      logger.error(
        { key },
        "registry: unreadable host entry in KV; it is rebuilt from the host's next lifecycle message",
      );
      continue;
    }
    hostsKv.remember(key, loaded.revision);
    state.restoreHost(entry.data);
    counters.restoredHosts++;
  }
  state.finishRestore(Date.now());

  let stopping = false;
  let stopped = false;
  let stopDeadline = Infinity;
  let pending: { msg: StreamMsg; keys: string[] }[] = [];
  let lock: Promise<void> = Promise.resolve();
  let soonTimer: NodeJS.Timeout | undefined;
  let flushRequested = false;

  /** Runs `op` until it succeeds; gives up only while stopping (past the deadline) or once the connection is closed. */
  const persist = async (what: string, op: () => Promise<void>): Promise<boolean> => {
    for (let delayMs = 100; ; delayMs = Math.min(delayMs * 2, 5_000)) {
      try {
        await op();
        return true;
      } catch (err) {
        if (nc.isClosed() || Date.now() > stopDeadline) {
          logger.error({ err }, `registry: giving up on ${what}; the events stay unacked and will be redelivered`);
          return false;
        }
        logger.warn({ err }, `registry: ${what} failed; retrying`);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  };

  const flushOnce = async (force: boolean): Promise<void> => {
    const notices = state.takeNotices();
    const soonBefore = Date.now() - config.batchWindowMs;
    const sessionWrites = state.takeSessionWrites(soonBefore, force);
    const hostWrites = state.takeHostWrites(soonBefore, force);
    const waits = (p: { keys: string[] }): boolean => p.keys.some((key) => state.isSessionDirty(key));
    const ackable = pending.filter((p) => !waits(p));
    pending = pending.filter(waits);
    if (notices.length + sessionWrites.length + hostWrites.length + ackable.length === 0) return;
    counters.flushes++;
    let ok = await persist("publishing fleet notices", async () => {
      const r = await publishFleetEvents(publisher, notices);
      counters.fleetStored += r.stored;
      counters.fleetDuplicates += r.duplicates;
    });
    ok &&= await persist("writing the KV view", async () => {
      await Promise.all([
        ...sessionWrites.map((w) => sessionsKv.write(w.key, w.value)),
        ...hostWrites.map((w) => hostsKv.write(w.key, w.value)),
      ]);
    });
    if (ok) for (const p of ackable) p.msg.ack();
  };

  const armSoonTimer = (): void => {
    if (soonTimer || stopping) return;
    const oldest = state.oldestSoonChange();
    if (oldest === undefined) return;
    soonTimer = setTimeout(
      () => {
        soonTimer = undefined;
        void flush(false);
      },
      Math.max(0, oldest + config.batchWindowMs - Date.now()),
    );
    soonTimer.unref();
  };

  const flush = (force: boolean): Promise<void> => {
    if (stopped) return lock;
    lock = lock
      .then(() => flushOnce(force))
      .catch((err: unknown) => logger.error({ err }, "registry: flush failed"))
      .then(armSoonTimer);
    return lock;
  };

  const requestFlush = (): void => {
    if (flushRequested) return;
    flushRequested = true;
    setImmediate(() => {
      flushRequested = false;
      void flush(false);
    });
  };

  const sink: MessageSink = {
    take(event) {
      const keys = applyMessage(state, event, logger);
      if (event.msg) pending.push({ msg: event.msg, keys });
    },
    get unacked() {
      return pending.length;
    },
    flush: () => flush(pending.length >= config.maxBatch),
    requestFlush,
  };

  const lifecycle: Subscription = nc.subscribe(subjects.allHostLifecycle(), {
    callback: (err, msg) => {
      if (err) return logger.warn({ err }, "registry: host lifecycle subscription error");
      const parsed = HostLifecycle.safeParse(safeJson(msg.data));
      if (
        !parsed.success ||
        deliveredFromStream(msg) ||
        !subjectIs(msg.subject, () => subjects.hostLifecycle(parsed.data.hostId))
      ) {
        return logger.warn({ subject: msg.subject }, "registry: dropped an invalid host lifecycle message");
      }
      state.applyHostLifecycle(parsed.data, Date.now());
      requestFlush();
    },
  });
  const queries = serveQueries(nc, { sessions: state.index, hosts: () => state.hostRecords() }, logger);
  const sweeper: Sweeper = startSweeper(
    config.sweepIntervalMs,
    (nowMs) => {
      state.sweep(nowMs);
      requestFlush();
    },
    (err) => logger.error({ err }, "registry: sweep failed"),
  );
  const consumer: EventConsumer = consumeEvents(
    nc,
    {
      durableName: config.durableName,
      ackWaitMs: config.ackWaitMs,
      maxAckPending: config.maxBatch * 4,
      maxBatch: config.maxBatch,
    },
    sink,
    logger,
  );
  await flush(false);
  logger.info(
    { sessions: counters.restoredSessions, hosts: counters.restoredHosts, durable: config.durableName },
    "registry: running",
  );

  return {
    stats: () => ({
      ...state.stats,
      ...counters,
      sessionWrites: sessionsKv.stats.writes,
      hostWrites: hostsKv.stats.writes,
      kvConflicts: sessionsKv.stats.conflicts + hostsKv.stats.conflicts,
      gapEventsRead: consumer.gapEventsRead,
    }),
    async stop() {
      if (stopping) return;
      stopping = true;
      stopDeadline = Date.now() + STOP_FLUSH_DEADLINE_MS;
      sweeper.stop();
      clearTimeout(soonTimer);
      for (const sub of [lifecycle, ...queries]) sub.unsubscribe();
      await consumer.stop();
      await flush(true);
      stopped = true;
      state.stop();
      publisher.close("the registry stopped");
      if (!nc.isClosed()) await nc.flush().catch(() => undefined);
      if (ownsConnection) await nc.close();
    },
  };
}

/** True when `build()` returns `subject`; false when it differs or the ids are not valid subject tokens. */
function subjectIs(subject: string, build: () => string): boolean {
  try {
    return build() === subject;
  } catch {
    return false;
  }
}

const utf8 = new TextDecoder();

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(utf8.decode(data));
  } catch {
    return undefined;
  }
}

/**
 * Applies one consumed message; returns the session keys its effect is persisted under (its ack waits until
 * each is persisted, even for a duplicate: it may be a redelivery of a message whose effect is not in KV yet),
 * none for a message that can be acked as is.
 */
function applyMessage(state: FleetState, event: ConsumedEvent, logger: RegistryLogger): string[] {
  const parsed = SessionEventEnvelopeSchema.safeParse(safeJson(event.data));
  if (
    !parsed.success ||
    !subjectIs(event.subject, () => subjects.sessionEvents(parsed.data.hostId, parsed.data.threadId))
  ) {
    logger.warn({ subject: event.subject, seq: event.streamSeq }, "registry: skipped an invalid session event");
    return [];
  }
  return state.applyEnvelope(parsed.data, Date.now()) === "ignored" ? [] : state.keysOf(parsed.data);
}
