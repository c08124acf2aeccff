/**
 * `startRegistry`: the registry service, the I/O shell around the pure fold `FleetState` (which replay shares).
 *
 * The fleet is shared out in P partitions by a stable hash of the host id (partition.ts). Each instance runs a
 * lease per partition (`registry.<P>.<k>` in `codex-leases`, services/bus/lease.ts) and serves the partitions it
 * holds, standing by for the others: a `PartitionWorker` restores the partition's entries from KV, consumes the
 * partition's durable consumer, and writes its part of the view, every write fenced by the lease's epoch
 * (kv-view.ts). Host lifecycle (`codex.host.*`) and the sweeper reach only the served partitions. A standby
 * takes a partition over once its lease expires (or at once when released) and resumes from the partition's
 * consumer and the view.
 *
 * Any instance answers queries (queue group `registry`) from the whole view: the served partitions from their
 * folds, the others from a read model that follows the view's buckets (read-model.ts).
 */
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { z } from "zod";
import { HostLifecycle } from "../../schemas/gateway.js";
import type { HostRecord } from "../../schemas/registry.js";
import {
  BusError,
  JetStreamPublisher,
  KV_BUCKET_NAMES,
  MAX_LEASE_TTL_MS,
  STREAM_NAMES,
  connectBus,
  consumerBacklog,
  deliveredFromStream,
  kvStreamName,
  leaseKeys,
  leaseView,
  listKvKeys,
  missingStreams,
  openKvBucket,
  startLease,
  subjects,
  type KvBucket,
  type Lease,
} from "../bus/index.js";
import { defaultInstanceId, type ServiceMetrics } from "../ops/metrics.js";
import type { DeposedError } from "./kv-view.js";
import { childLogger, silentLogger, type RegistryLogger } from "./logger.js";
import { MemberWatch, memberKey, memberKeys, partitionToHandOver } from "./balance.js";
import { MAX_PARTITIONS, PartitionMap } from "./partition.js";
import type { PriceBook } from "./fleet-state.js";
import { PartitionWorker, type WorkerStats } from "./partition-worker.js";
import { followPrices } from "./prices.js";
import { answerQuery, serveQueries, type QueryView } from "./queries.js";
import { ReadModel } from "./read-model.js";
import { SessionIndex, sortedHosts } from "./session-index.js";
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
  /** Name of the durable consumer (P = 1), or the prefix of the partitions' consumers `<name>-<P>-<k>`. */
  durableName: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, "durableName must be letters, digits, '-' or '_'")
    .default("registry"),
  /** How long a change of only `lastSeenAt` (or heartbeat times) may wait to be batched into one KV write. */
  batchWindowMs: ms.default(1_000),
  /** Messages pulled per request; up to four times this many may wait unacked while flushes run. */
  maxBatch: ms.default(2_000),
  ackWaitMs: ms.default(30_000),
  /** Number of partitions P; every instance of one registry must use the same P (see the README on changing it). */
  partitions: z.number().int().min(1).max(MAX_PARTITIONS).default(1),
  /** This instance's id: the lease holder and the `instance` of its log lines; unique per instance. */
  instance: z.string().min(1).max(200).optional(),
  /** TTL of the partition leases: a standby takes over a partition this long after its holder stopped renewing. */
  leaseTtlMs: z.number().int().min(300).max(MAX_LEASE_TTL_MS).default(10_000),
  /** How often consumer lag and sessions by status are sampled into the metrics. */
  metricsSampleMs: ms.default(5_000),
  /** Hand partitions over to instances holding fewer than their share (balance.ts). */
  balance: z.boolean().default(true),
  /**
   * How a KV entry stores its session snapshot: `compact` leaves out what the entry's record holds
   * (snapshot-form.ts); `whole` writes it all, for as long as a registry older than that form still runs.
   */
  sessionSnapshots: z.enum(["compact", "whole"]).default("compact"),
});

/** Options of `startRegistry`: a connection (`nc`, kept open on stop) or `servers` (connected and closed here). */
export type RegistryOptions = z.input<typeof RegistryConfig> & {
  nc?: NatsConnection;
  servers?: string | string[];
  logger?: RegistryLogger;
  metrics?: ServiceMetrics;
};

/** Counters since start (summed over every partition this instance served), for tests and benchmarks. */
export interface RegistryStats extends WorkerStats {
  /** Times this instance started serving a partition. */
  partitionsTaken: number;
  /** Times it stopped serving one without a clean release (lease lost, or a newer owner wrote). */
  partitionsLost: number;
  /** Times it handed a partition over to another instance to balance them. */
  partitionsHandedOver: number;
}

/** A partition lease as readiness sees it: held, or stood by for. */
export interface RegistryLeaseStatus {
  readonly key: string;
  held(): boolean;
  readonly standby: true;
}

/** Test hooks: what a paused process would do, without pausing the test's own process. */
export interface RegistryTestHooks {
  /**
   * Freezes the instance: lease renewals, consuming, flushing, sweeps and host lifecycle all wait, and nothing
   * is released; its leases run out as a paused process's would.
   */
  freeze(): void;
  /**
   * Thaws it. With `lateWrite`, each partition it served first flushes what it had applied without looking at
   * its lease, as writes already on their way when the process froze would land: the fencing must refuse them
   * or the new owner overwrite them.
   */
  thaw(opts?: { lateWrite?: boolean }): Promise<void>;
  /** Answers a query (`codex.registry.*` subject, JSON body) from this instance's view, bypassing the queue group. */
  answer(subject: string, body?: unknown): unknown;
}

/** A running registry. */
export interface Registry {
  /** This instance's id. */
  readonly instance: string;
  /** Number of partitions. */
  readonly partitions: number;
  /** The partitions this instance serves now (restored and consuming). */
  serving(): number[];
  /** Its partition leases (held or stood by for), for `/readyz`. */
  leases(): RegistryLeaseStatus[];
  /** Stops consuming, persists and acks everything applied, releases its leases, and closes the connection if it opened it. */
  stop(): Promise<void>;
  stats(): RegistryStats;
  readonly testing: RegistryTestHooks;
}

let startedInProcess = 0;

async function requireTopology(nc: NatsConnection): Promise<void> {
  const needed = [
    STREAM_NAMES.events,
    STREAM_NAMES.fleet,
    kvStreamName(KV_BUCKET_NAMES.sessions),
    kvStreamName(KV_BUCKET_NAMES.hosts),
    kvStreamName(KV_BUCKET_NAMES.leases),
  ];
  const [missing] = await missingStreams(nc, needed, "registry: ");
  if (missing !== undefined) {
    throw new BusError(
      "invalid_config",
      `registry: stream ${missing} does not exist; create the bus first (ensureBus, or 'claw-supervisor up')`,
    );
  }
}

/**
 * Starts the registry; resolves once every partition it could take at once is restored and consuming (the others
 * held elsewhere), and, when it does not serve them all, once its read model has the rest of the view.
 */
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
    return await run(nc, ownsConnection, config, logger, options.metrics);
  } catch (err) {
    if (ownsConnection) await nc.close();
    throw err;
  }
}

/** One partition as this instance sees it. */
interface Slot {
  partition: number;
  key: string;
  lease: Lease;
  worker: PartitionWorker | undefined;
  /** No worker is started before this time (after a start failed, or a newer owner refused our writes). */
  notBefore: number;
  backoffMs: number;
  log: RegistryLogger;
}

const START_RETRY_MS = 1_000;
const MAX_FENCED_BACKOFF_MS = 300_000;

/** A KV bucket whose calls wait while `gate()` returns a promise (the freeze test hook). */
function gatedBucket(kv: KvBucket, gate: () => Promise<void> | undefined): KvBucket {
  return new Proxy(kv, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== "function") return value;
      return async (...args: unknown[]) => {
        await gate();
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

function zeroStats(): Omit<RegistryStats, "partitionsTaken" | "partitionsLost" | "partitionsHandedOver"> {
  return {
    eventsApplied: 0,
    eventsUnchanged: 0,
    eventsDuplicate: 0,
    eventsIgnored: 0,
    flushes: 0,
    sessionWrites: 0,
    hostWrites: 0,
    kvConflicts: 0,
    viewWritesOverOlder: 0,
    viewWritesRefused: 0,
    fleetStored: 0,
    fleetDuplicates: 0,
    restoredSessions: 0,
    restoredHosts: 0,
    gapEventsRead: 0,
  };
}

function addStats(into: ReturnType<typeof zeroStats>, from: WorkerStats): void {
  for (const k of Object.keys(into) as (keyof typeof into)[]) into[k] += from[k];
}

async function run(
  nc: NatsConnection,
  ownsConnection: boolean,
  config: z.infer<typeof RegistryConfig>,
  logger: RegistryLogger,
  metrics: ServiceMetrics | undefined,
): Promise<Registry> {
  await requireTopology(nc);
  startedInProcess++;
  const instance =
    config.instance ??
    (startedInProcess === 1 ? defaultInstanceId("registry") : `${defaultInstanceId("registry")}#${startedInProcess}`);
  const log = childLogger(logger, { instance });
  // FLEET notices and KV writes go through one pipelined publisher (see js-publisher.ts for why).
  const publisher = new JetStreamPublisher(nc);
  const [sessionsKv, hostsKv, leasesKv] = await Promise.all([
    openKvBucket(nc, KV_BUCKET_NAMES.sessions),
    openKvBucket(nc, KV_BUCKET_NAMES.hosts),
    openKvBucket(nc, KV_BUCKET_NAMES.leases),
  ]);
  const P = config.partitions;
  const partitions = new PartitionMap(P);
  const index = new SessionIndex();
  const retired = zeroStats();
  /** Workers being stopped: their counters still count until they are added to `retired`. */
  const retiring = new Set<PartitionWorker>();
  const counters = { partitionsTaken: 0, partitionsLost: 0, partitionsHandedOver: 0 };
  const eventsIn = metrics?.eventsIn.labels("registry");

  let stopping = false;
  /** Set once start-up waited for its leases: from then on, reconcile starts and stops the read model. */
  let manageReadModel = false;
  let frozen: { gate: Promise<void>; thaw: () => void } | undefined;
  const gate = (): Promise<void> | undefined => frozen?.gate;

  const liveEpoch = async (key: string): Promise<number | null> => {
    const view = leaseView(await leasesKv.get(key));
    return view === null || view.record.released ? null : view.epoch;
  };

  const slots: Slot[] = [];
  const served = (hostId: string): boolean => slots[partitions.of(hostId)]?.worker !== undefined;
  const readModel = new ReadModel(nc, index, served, log);

  const retire = async (slot: Slot, mode: "flush" | "abandon"): Promise<void> => {
    const worker = slot.worker;
    if (!worker) return;
    slot.worker = undefined;
    retiring.add(worker);
    if (mode === "abandon") counters.partitionsLost++;
    metrics?.consumerLag.remove(worker.durable);
    await worker.stop(mode);
    retiring.delete(worker);
    addStats(retired, worker.stats());
    // The records of a partition no longer served come from the view again, read afresh.
    if (!stopping && manageReadModel) void readModel.start({ restart: true });
  };

  const startWorker = (slot: Slot, epoch: number): void => {
    const worker: PartitionWorker = new PartitionWorker({
      nc,
      config,
      partitions,
      partition: slot.partition,
      lease: { key: slot.key, epoch, held: () => slot.lease.held() && slot.lease.epoch === epoch },
      liveEpoch,
      sessionsKv,
      hostsKv,
      publisher,
      index,
      prices: priceBook,
      logger: slot.log,
      gate,
      onConflict: (bucket) => metrics?.viewWriteConflicts.labels(bucket).inc(),
      onEvents: (n) => eventsIn?.inc(n),
      onDeposed: (reason: string, err?: DeposedError) => {
        if (slot.worker !== worker) return;
        if (err) {
          // A newer owner (another P during a change of P, or our lease lost) writes this partition: back off.
          slot.notBefore = Date.now() + slot.backoffMs;
          slot.log.warn(
            { by: err.by, retryInMs: slot.backoffMs },
            "registry: a newer owner writes this partition; standing aside (is an instance with another --partitions running?)",
          );
          slot.backoffMs = Math.min(slot.backoffMs * 2, MAX_FENCED_BACKOFF_MS);
        }
        void retire(slot, "abandon").then(reconcile);
        slot.log.info({ reason }, "registry: partition given up");
      },
    });
    slot.worker = worker;
    counters.partitionsTaken++;
    worker.ready.then(
      () => {
        if (slot.worker === worker) slot.backoffMs = config.leaseTtlMs * 2;
      },
      (err: unknown) => {
        if (slot.worker !== worker) return;
        slot.log.error({ err }, "registry: could not start serving the partition; retrying");
        slot.notBefore = Date.now() + START_RETRY_MS;
        void retire(slot, "abandon").then(reconcile);
      },
    );
  };

  /** Brings every partition in line with its lease: serve what is held (and not backing off), drop what is not. */
  function reconcile(): void {
    if (stopping || frozen) return;
    for (const slot of slots) {
      const held = slot.lease.held();
      const epoch = slot.lease.epoch;
      metrics?.leaseHeld.labels(slot.key).set(held ? 1 : 0);
      if (slot.worker && (!held || slot.worker.epoch !== epoch)) void retire(slot, "abandon").then(reconcile);
      else if (!slot.worker && held && epoch !== undefined && Date.now() >= slot.notBefore) startWorker(slot, epoch);
    }
    if (!manageReadModel) return;
    const all = slots.every((s) => s.worker !== undefined);
    if (all && readModel.following) void readModel.stop();
    else if (!all && !readModel.following) void readModel.start();
  }

  const gatedLeases = gatedBucket(leasesKv, gate);
  const partitionLease = (k: number, key: string, slotLog: RegistryLogger): Lease =>
    startLease({
      kv: gatedLeases,
      key,
      holder: instance,
      ttlMs: config.leaseTtlMs,
      note: `registry partition ${k} of ${P}`,
      onAcquired: (epoch) => {
        slotLog.info({ lease: key, epoch }, "registry: partition lease taken");
        queueMicrotask(reconcile);
      },
      onLost: (reason, by) => {
        if (stopping) return;
        slotLog.warn({ lease: key, reason, by: by?.record.holder }, "registry: partition lease lost");
        queueMicrotask(reconcile);
      },
      onError: (err) => slotLog.warn({ err, lease: key }, "registry: partition lease error"),
    });
  // Records are priced with the active policy's price table (issue 19). Read before any partition is served,
  // so restored records are priced as they were written (a failed first read goes on with none, then reprices).
  const priceBook: { table: PriceBook["table"] } = { table: {} };
  const prices = followPrices(nc, {
    logger: log,
    onChange: (table) => {
      priceBook.table = table;
      for (const slot of slots) slot.worker?.reprice();
    },
  });
  {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      prices.ready,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, config.leaseTtlMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }
  for (let k = 0; k < P; k++) {
    const key = leaseKeys.registryPartition(P, k);
    const slotLog = childLogger(log, { partition: k });
    slots.push({
      partition: k,
      key,
      log: slotLog,
      worker: undefined,
      notBefore: 0,
      backoffMs: config.leaseTtlMs * 2,
      lease: partitionLease(k, key, slotLog),
    });
  }
  // This instance's presence, for balancing (balance.ts).
  const presence = startLease({
    kv: gatedLeases,
    key: memberKey(P, instance),
    holder: instance,
    ttlMs: config.leaseTtlMs,
    note: `registry instance (${P} partitions)`,
    onError: (err) => log.warn({ err }, "registry: presence key error"),
  });
  const members = new MemberWatch();
  let balancing = false;

  /** Flushes and releases one served partition so an instance under its share takes it; stays out of its race for two TTLs. */
  const handOver = async (slot: Slot): Promise<void> => {
    slot.log.info({ lease: slot.key }, "registry: handing the partition over, to balance the instances");
    counters.partitionsHandedOver++;
    slot.notBefore = Number.POSITIVE_INFINITY;
    const lease = slot.lease;
    await retire(slot, "flush");
    await lease.release("handed over to balance the instances");
    metrics?.leaseHeld.labels(slot.key).set(0);
    const rejoin = setTimeout(() => {
      if (stopping) return;
      slot.lease = partitionLease(slot.partition, slot.key, slot.log);
      slot.notBefore = 0;
    }, 2 * config.leaseTtlMs);
    rejoin.unref();
  };

  /**
   * One read of a balancing look, given up after two TTLs: a read that never answers must not stop this instance
   * balancing for good (it did once under load, before listKvKeys). A late answer is ignored.
   */
  const bounded = <T>(what: string, read: Promise<T>): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const limitMs = 2 * config.leaseTtlMs;
    return Promise.race([
      read,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer in ${limitMs} ms`)), limitMs);
        timer.unref();
      }),
    ]).finally(() => clearTimeout(timer));
  };

  const balance = async (): Promise<void> => {
    if (!config.balance || P === 1 || stopping || frozen || balancing) return;
    balancing = true;
    try {
      // Not nats.js's kv.keys(), which need not end on a bucket renewed this often (services/bus listKvKeys).
      const keys = await bounded("listing presence keys", listKvKeys(nc, KV_BUCKET_NAMES.leases, memberKeys(P)));
      const seen = [];
      for (const key of keys) {
        const view = leaseView(await bounded(`reading ${key}`, leasesKv.get(key)));
        if (view)
          seen.push({ key, holder: view.record.holder, revision: view.revision, released: !!view.record.released });
      }
      const live = members.look(seen);
      const holders = await bounded(
        "reading the partition leases",
        Promise.all(
          slots.map(async (s) => {
            const view = leaseView(await leasesKv.get(s.key));
            return view === null || view.record.released ? null : view.record.holder;
          }),
        ),
      );
      const serving = slots.filter((s) => s.worker?.isReady).map((s) => s.partition);
      const k = partitionToHandOver(P, instance, serving, holders, live);
      log.debug({ live, holders, serving, handOver: k ?? null }, "registry: balance look");
      if (k !== undefined && !stopping && !frozen) await handOver(slots[k] as Slot);
    } catch (err) {
      log.warn({ err }, "registry: balancing failed; trying again later");
    } finally {
      balancing = false;
    }
  };

  // Wait for each partition this instance can take now (free, released, or already its own); the others are
  // held elsewhere and this instance stands by for them.
  await Promise.all(
    slots.map(async (slot) => {
      const view = leaseView(await leasesKv.get(slot.key).catch(() => null));
      if (view && !view.record.released && view.record.holder !== instance) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        slot.lease.acquired,
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, config.leaseTtlMs);
          timer.unref();
        }),
      ]);
      clearTimeout(timer);
      reconcile();
      await slot.worker?.ready.catch(() => undefined);
    }),
  );
  reconcile();
  manageReadModel = true;
  if (slots.some((s) => !s.worker)) await readModel.start();

  const lifecycle: Subscription = nc.subscribe(subjects.allHostLifecycle(), {
    callback: (err, msg) => {
      if (err) return log.warn({ err }, "registry: host lifecycle subscription error");
      if (frozen) return;
      const parsed = HostLifecycle.safeParse(safeJson(msg.data));
      if (
        !parsed.success ||
        deliveredFromStream(msg) ||
        !subjectIs(msg.subject, () => subjects.hostLifecycle(parsed.data.hostId))
      ) {
        return log.warn({ subject: msg.subject }, "registry: dropped an invalid host lifecycle message");
      }
      slots[partitions.of(parsed.data.hostId)]?.worker?.applyHostLifecycle(parsed.data);
    },
  });
  const hostRecords = (): HostRecord[] =>
    sortedHosts([...slots.flatMap((s) => s.worker?.hostRecords() ?? []), ...readModel.hostRecords()]);
  const view: QueryView = { sessions: index, hosts: hostRecords };
  const queries = serveQueries(nc, view, log);
  const sweeper: Sweeper = startSweeper(
    config.sweepIntervalMs,
    (nowMs) => {
      if (frozen) return;
      for (const slot of slots) slot.worker?.sweep(nowMs);
    },
    (err) => log.error({ err }, "registry: sweep failed"),
  );
  const reconciler = setInterval(reconcile, Math.max(100, Math.floor(config.leaseTtlMs / 6)));
  reconciler.unref();
  const balancer = setInterval(() => void balance(), config.leaseTtlMs);
  balancer.unref();
  const sampler = metrics ? setInterval(() => void sample(), config.metricsSampleMs) : undefined;
  sampler?.unref();
  const sample = async (): Promise<void> => {
    if (!metrics || stopping) return;
    const counts = new Map<string, number>();
    for (const slot of slots) {
      const worker = slot.worker;
      if (!worker) continue;
      for (const [status, n] of worker.statusCounts()) counts.set(status, (counts.get(status) ?? 0) + n);
      const lag = await consumerBacklog(nc, STREAM_NAMES.events, worker.durable).catch(() => null);
      if (lag !== null && slot.worker === worker) metrics.consumerLag.labels(worker.durable).set(lag);
    }
    metrics.sessions.reset();
    for (const [status, n] of counts) metrics.sessions.labels(status).set(n);
  };
  if (metrics) await sample();

  log.info(
    {
      partitions: P,
      serving: slots.filter((s) => s.worker).map((s) => s.partition),
      durable: config.durableName,
      leaseTtlMs: config.leaseTtlMs,
    },
    "registry: running",
  );

  return {
    instance,
    partitions: P,
    serving: () => slots.filter((s) => s.worker?.isReady).map((s) => s.partition),
    leases: () => slots.map((s) => ({ key: s.key, held: () => s.lease.held(), standby: true as const })),
    stats: () => {
      const total = { ...retired };
      for (const slot of slots) if (slot.worker) addStats(total, slot.worker.stats());
      for (const worker of retiring) addStats(total, worker.stats());
      return { ...total, ...counters };
    },
    testing: {
      answer: (subject, body) => answerQuery(subject, new TextEncoder().encode(JSON.stringify(body ?? {})), view),
      freeze() {
        if (frozen) return;
        let thaw: () => void = () => undefined;
        const gatePromise = new Promise<void>((resolve) => {
          thaw = resolve;
        });
        frozen = { gate: gatePromise, thaw };
        log.warn({}, "registry: frozen (test hook)");
      },
      async thaw(opts = {}) {
        const f = frozen;
        if (!f) return;
        if (opts.lateWrite) await Promise.all(slots.map((s) => s.worker?.lateFlush()));
        frozen = undefined;
        f.thaw();
        log.warn({}, "registry: thawed (test hook)");
        reconcile();
        for (const slot of slots) slot.worker?.requestFlush();
      },
    },
    async stop() {
      if (stopping) return;
      stopping = true;
      if (frozen) {
        frozen.thaw();
        frozen = undefined;
      }
      sweeper.stop();
      clearInterval(reconciler);
      clearInterval(balancer);
      clearInterval(sampler);
      for (const sub of [lifecycle, ...queries]) sub.unsubscribe();
      // Stand by no more, persist what each served partition applied, then hand its lease over at once.
      for (const slot of slots) if (!slot.worker) slot.lease.stop();
      await Promise.all(
        slots.map(async (slot) => {
          if (slot.worker) await retire(slot, "flush");
          await slot.lease.release("registry instance stopped");
          metrics?.leaseHeld.labels(slot.key).set(0);
        }),
      );
      await presence.release("registry instance stopped");
      await readModel.stop();
      await prices.stop();
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
