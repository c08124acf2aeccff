/**
 * One registry partition served by the instance holding its lease: the fold of its hosts (`FleetState`), its
 * durable consumer, and the flush that persists them. Started when the lease is taken, stopped when it is
 * released (flushing and acking what it applied) or lost (abandoning: nothing more is written or acked, the
 * next owner re-derives it from the consumer and the view).
 *
 * Start-up order is what makes a takeover lose nothing: read the consumer's ack floor F and last delivered
 * sequence D first, then load the partition's entries from KV (everything up to F was persisted before it was
 * acked, so the view holds it), then read F+1..D from the stream (what the previous owner held unacked), then
 * consume from D on. Events already in the view are skipped by their session's `(epoch, seq)`.
 *
 * Every batch is persisted in one order: FLEET notices first (deterministic ids), then KV entries
 * (compare-and-set, fenced by the lease epoch: kv-view.ts), then the acks of the messages those entries cover;
 * so a crash anywhere redelivers events that are either skipped (already in KV) or re-derive the same state and
 * the same notice ids. The lease is checked before each of those writes; a write refused by a newer owner ends
 * the worker the same way as a lost lease.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { HostLifecycle } from "../../schemas/gateway.js";
import type { HostRecord } from "../../schemas/registry.js";
import {
  comparePositions,
  HostEntry,
  SessionEntry,
  sessionKey,
  type ViewWriter,
} from "../../schemas/registry-entry.js";
import {
  KV_BUCKET_NAMES,
  STREAM_NAMES,
  listConsumerPositions,
  loadKvBucket,
  openDurableConsumer,
  type JetStreamPublisher,
  type KvBucket,
  type StreamMsg,
} from "../bus/index.js";
import { consumeEvents, ensureEventConsumer, type ConsumedEvent, type EventConsumer } from "./consumer.js";
import { EnvelopeReader } from "./envelope.js";
import { FleetState, type FleetStateStats, type PriceBook } from "./fleet-state.js";
import { publishFleetEvents } from "./fleet.js";
import { DeposedError, KvTable, type Fence } from "./kv-view.js";
import type { RegistryLogger } from "./logger.js";
import {
  hostOfEventSubject,
  hostOfSessionKey,
  newPartitionStart,
  partitionDurable,
  partitionLeaseCovers,
  type PartitionMap,
} from "./partition.js";
import type { SessionIndex } from "./session-index.js";

/** The settings a worker takes from the registry's config. */
export interface WorkerConfig {
  degradedAfterMs: number;
  offlineAfterMs: number;
  staleAfterMs: number;
  staleSessionsWhen: "stale" | "offline";
  durableName: string;
  batchWindowMs: number;
  maxBatch: number;
  ackWaitMs: number;
  sessionSnapshots: "compact" | "whole";
}

/** What a worker is given by its instance. */
export interface WorkerContext {
  nc: NatsConnection;
  config: WorkerConfig;
  partitions: PartitionMap;
  partition: number;
  /** The lease it writes under: its key and epoch, and whether it is still held at that epoch (checked before each write). */
  lease: { key: string; epoch: number; held(): boolean };
  liveEpoch: Fence["liveEpoch"];
  sessionsKv: KvBucket;
  hostsKv: KvBucket;
  publisher: JetStreamPublisher;
  index: SessionIndex;
  /** The price table in force (the active policy's `budgets.prices`), read at each record made. */
  prices: PriceBook;
  logger: RegistryLogger;
  /** Called once when the worker ends by itself (lease not held at a write, or a write refused by a newer owner). */
  onDeposed(reason: string, err?: DeposedError): void;
  /** Counts each conflict on a KV write (metrics). */
  onConflict(bucket: string): void;
  /** Counts events taken in (metrics), in batches. */
  onEvents(n: number): void;
  /** While it returns a promise, the instance is frozen (a test hook): nothing is consumed or flushed. */
  gate(): Promise<void> | undefined;
}

/** Counters of one worker since it started. */
export interface WorkerStats extends FleetStateStats {
  flushes: number;
  sessionWrites: number;
  hostWrites: number;
  kvConflicts: number;
  /** Conflicting entries of an older epoch (a deposed writer's, or from before partitions) overwritten or adopted. */
  viewWritesOverOlder: number;
  /** Writes refused because a newer owner (a live higher epoch) wrote the entry. */
  viewWritesRefused: number;
  fleetStored: number;
  fleetDuplicates: number;
  restoredSessions: number;
  restoredHosts: number;
  /** Events read straight from the stream because a delivery skipped over them (lost in flight). */
  gapEventsRead: number;
}

/** Gives up a flush that keeps failing after this long once stopping. */
const STOP_FLUSH_DEADLINE_MS = 5_000;

/** A partition being served. */
export class PartitionWorker {
  readonly durable: string;
  /** Resolves once restored and consuming; rejects when the start failed (the caller retries). */
  readonly ready: Promise<void>;
  private readonly state: FleetState;
  private readonly sessions: KvTable;
  private readonly hosts: KvTable;
  private readonly log: RegistryLogger;
  private readonly envelopes = new EnvelopeReader();
  private readonly counters = {
    flushes: 0,
    fleetStored: 0,
    fleetDuplicates: 0,
    restoredSessions: 0,
    restoredHosts: 0,
  };
  private consumer: EventConsumer | undefined;
  /**
   * Messages taken and not yet acked, in stream order, each with the session keys its effect is persisted under
   * (`msg` null for an event read from the stream to fill a gap: nothing to ack, but with an ack-all consumer a
   * later ack must not pass it before it is persisted).
   */
  private pending: { msg: StreamMsg | null; keys: readonly string[] }[] = [];
  private lock: Promise<void> = Promise.resolve();
  private soonTimer: NodeJS.Timeout | undefined;
  private flushRequested = false;
  private stopping = false;
  private stopped = false;
  /** Set once the worker learned it may no longer write: nothing more is written or acked. */
  private deposed = false;
  private stopDeadline = Infinity;
  /** Set when a flush was given up under an ack-all consumer: nothing more is acked (see flushOnce). */
  private acksHalted = false;
  private eventsTaken = 0;
  /** True once restored and consuming. */
  isReady = false;

  constructor(private readonly ctx: WorkerContext) {
    this.durable = partitionDurable(ctx.config.durableName, ctx.partitions.partitions, ctx.partition);
    this.log = ctx.logger;
    const writer: ViewWriter = { lease: ctx.lease.key, epoch: ctx.lease.epoch };
    this.state = new FleetState({ ...ctx.config, logger: ctx.logger, index: ctx.index, writer, prices: ctx.prices });
    // Only a lease of the key's host's partition (under any P) can depose us: an entry naming another is a copy.
    const fence = (bucket: string, hostOf: (key: string) => string, onOlder?: Fence["onOlder"]): Fence => ({
      writer,
      liveEpoch: ctx.liveEpoch,
      mayOwn: (lease, key) => partitionLeaseCovers(lease, hostOf(key)),
      onConflict: () => ctx.onConflict(bucket),
      ...(onOlder ? { onOlder } : {}),
    });
    this.sessions = new KvTable(
      ctx.sessionsKv,
      KV_BUCKET_NAMES.sessions,
      ctx.publisher,
      fence(KV_BUCKET_NAMES.sessions, hostOfSessionKey, (key, current) => this.adoptIfAhead(key, current)),
    );
    this.hosts = new KvTable(
      ctx.hostsKv,
      KV_BUCKET_NAMES.hosts,
      ctx.publisher,
      fence(KV_BUCKET_NAMES.hosts, (key) => key),
    );
    this.ready = this.start();
    this.ready.then(
      () => {
        this.isReady = true;
      },
      () => undefined,
    );
  }

  /** The lease epoch it writes under. */
  get epoch(): number {
    return this.ctx.lease.epoch;
  }

  /** True for a host of this partition. */
  owns(hostId: string): boolean {
    return this.ctx.partitions.of(hostId) === this.ctx.partition;
  }

  /** Applies a gateway lifecycle message of one of this partition's hosts (dropped until restored). */
  applyHostLifecycle(msg: HostLifecycle): void {
    if (!this.isReady || this.stopping || this.deposed) return;
    this.state.applyHostLifecycle(msg, Date.now());
    this.requestFlush();
  }

  /** Sends `SWEEP` to this partition's hosts. */
  sweep(nowMs: number): void {
    if (!this.isReady || this.stopping || this.deposed) return;
    this.state.sweep(nowMs);
    this.requestFlush();
  }

  /**
   * The price table changed: the partition's records with usage are priced again and those whose costs changed
   * written (before the worker is ready, its start-up flush writes them).
   */
  reprice(): void {
    if (this.stopping || this.deposed) return;
    const changed = this.state.reprice(Date.now());
    if (changed > 0 && this.isReady) this.requestFlush();
  }

  /** This partition's host records. */
  hostRecords(): HostRecord[] {
    return this.state.hostRecords();
  }

  /** Number of this partition's sessions by status. */
  statusCounts(): Map<string, number> {
    return this.state.statusCounts();
  }

  stats(): WorkerStats {
    return {
      ...this.state.stats,
      ...this.counters,
      sessionWrites: this.sessions.stats.writes,
      hostWrites: this.hosts.stats.writes,
      kvConflicts: this.sessions.stats.conflicts + this.hosts.stats.conflicts,
      viewWritesOverOlder: this.sessions.fenceStats.overOlder + this.hosts.fenceStats.overOlder,
      viewWritesRefused: this.sessions.fenceStats.refused + this.hosts.fenceStats.refused,
      gapEventsRead: this.consumer?.gapEventsRead ?? 0,
    };
  }

  /**
   * Stops serving. `flush`: stop consuming, persist and ack everything applied (a release). `abandon`: the
   * lease is gone; stop at once, write and ack nothing more.
   */
  async stop(mode: "flush" | "abandon"): Promise<void> {
    if (mode === "abandon") this.deposed = true;
    if (this.stopping) return this.stoppedPromise;
    this.stopping = true;
    this.stopDeadline = Date.now() + STOP_FLUSH_DEADLINE_MS;
    this.stoppedPromise = (async () => {
      await this.ready.catch(() => undefined);
      clearTimeout(this.soonTimer);
      await this.consumer?.stop({ flush: !this.deposed });
      if (!this.deposed) await this.flush(true);
      else await this.lock;
      this.stopped = true;
    })();
    return this.stoppedPromise;
  }
  private stoppedPromise: Promise<void> = Promise.resolve();

  /**
   * Test hook: one flush that skips the lease checks, as a write already on its way when the process froze
   * would land after the lease was lost. Fencing by epoch is all that stands in its way.
   */
  async lateFlush(): Promise<void> {
    await this.ready.catch(() => undefined);
    await (this.lock = this.lock.then(() => this.flushOnce(true, true)).catch((err: unknown) => this.flushFailed(err)));
  }

  private async start(): Promise<void> {
    const { nc, config, partitions, partition } = this.ctx;
    const consumerOptions = {
      durableName: this.durable,
      ackWaitMs: config.ackWaitMs,
      maxAckPending: config.maxBatch * 4,
      maxBatch: config.maxBatch,
      startSeq: async () =>
        newPartitionStart(
          config.durableName,
          partitions.partitions,
          await listConsumerPositions(nc, STREAM_NAMES.events),
        ),
    };
    // 1. Where the consumer stands, before the view is read (see the module comment).
    await ensureEventConsumer(nc, consumerOptions);
    const position = await (await openDurableConsumer(nc, STREAM_NAMES.events, this.durable)).position();
    // 2. The partition's entries.
    await this.restore();
    if (this.stopping) return;
    // 3. Consume: first what was in flight to the previous owner, then on.
    const owns =
      partitions.partitions === 1
        ? undefined
        : (subject: string): boolean => {
            const host = hostOfEventSubject(subject);
            return host !== undefined && partitions.of(host) === partition;
          };
    const worker = this;
    this.consumer = consumeEvents(
      nc,
      {
        ...consumerOptions,
        ...(owns ? { owns } : {}),
        startAfter: position.ackFloor,
        fillTo: position.delivered,
        gate: this.ctx.gate,
      },
      {
        take: (event) => this.take(event),
        get unacked() {
          return worker.pending.length;
        },
        flush: () => this.flush(this.pending.length >= config.maxBatch),
        requestFlush: () => this.requestFlush(),
      },
      this.log,
    );
    await this.flush(false);
    this.log.info(
      {
        durable: this.durable,
        epoch: this.ctx.lease.epoch,
        ackFloor: position.ackFloor,
        delivered: position.delivered,
        sessions: this.counters.restoredSessions,
        hosts: this.counters.restoredHosts,
      },
      "registry: serving partition",
    );
  }

  private async restore(): Promise<void> {
    const [sessions, hosts] = await Promise.all([
      loadKvBucket(this.ctx.nc, KV_BUCKET_NAMES.sessions),
      loadKvBucket(this.ctx.nc, KV_BUCKET_NAMES.hosts),
    ]);
    for (const [key, loaded] of sessions) {
      if (!this.owns(hostOfSessionKey(key))) continue;
      const entry = SessionEntry.safeParse(loaded.value);
      if (!entry.success || sessionKey(entry.data.hostId, entry.data.threadId) !== key) {
        this.log.error(
          { key, issues: entry.error?.issues },
          "registry: unreadable session entry in KV; it will be rebuilt only by its next events",
        );
        continue;
      }
      this.sessions.remember(key, loaded.revision);
      this.state.restoreSession(entry.data);
      this.counters.restoredSessions++;
    }
    for (const [key, loaded] of hosts) {
      if (!this.owns(key)) continue;
      const entry = HostEntry.safeParse(loaded.value);
      if (!entry.success || entry.data.hostId !== key) {
        this.log.error(
          { key },
          "registry: unreadable host entry in KV; it is rebuilt from the host's next lifecycle message",
        );
        continue;
      }
      this.hosts.remember(key, loaded.revision);
      this.state.restoreHost(entry.data);
      this.counters.restoredHosts++;
    }
    this.state.finishRestore(Date.now());
  }

  /**
   * A session entry an older writer stored further along the same session's events than we are (it applied
   * events we have yet to read, which we will then skip): take it, rather than write ours back over it.
   */
  private adoptIfAhead(key: string, current: unknown): "keep" | "overwrite" {
    const applied = this.state.appliedOf(key);
    const entry = SessionEntry.safeParse(current);
    if (!applied || !entry.success || sessionKey(entry.data.hostId, entry.data.threadId) !== key) return "overwrite";
    if (comparePositions(entry.data.applied, applied) <= 0) return "overwrite";
    this.state.restoreSession(entry.data);
    this.log.info({ key, applied: entry.data.applied }, "registry: adopted a session entry further along than ours");
    return "keep";
  }

  private take(event: ConsumedEvent): void {
    if (event.foreign) {
      this.pending.push({ msg: event.msg, keys: [] });
      return;
    }
    this.eventsTaken++;
    this.pending.push({ msg: event.msg, keys: this.applyMessage(event) });
  }

  /**
   * Applies one consumed message; returns the session keys its effect is persisted under (its ack waits until
   * each is persisted, even for a duplicate: it may be a redelivery of a message whose effect is not in KV yet),
   * none for a message that can be acked as is.
   */
  private applyMessage(event: ConsumedEvent): readonly string[] {
    const read = this.envelopes.read(event.subject, event.data);
    if (!read.ok) {
      this.log.warn(
        { subject: event.subject, seq: event.streamSeq, reason: read.reason },
        "registry: skipped an invalid session event",
      );
      return [];
    }
    return this.state.applyEnvelope(read.envelope, Date.now()) === "ignored" ? [] : this.state.keysOf(read.envelope);
  }

  /** Runs `op` until it succeeds; gives up when deposed, when stopping past the deadline, or once the connection is closed. */
  private async persist(what: string, op: () => Promise<void>): Promise<boolean> {
    for (let delayMs = 100; ; delayMs = Math.min(delayMs * 2, 5_000)) {
      try {
        await op();
        return true;
      } catch (err) {
        if (err instanceof DeposedError) throw err;
        if (this.deposed) return false;
        if (this.ctx.nc.isClosed() || Date.now() > this.stopDeadline) {
          this.log.error({ err }, `registry: giving up on ${what}; the events stay unacked and will be redelivered`);
          return false;
        }
        this.log.warn({ err }, `registry: ${what} failed; retrying`);
        await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
    }
  }

  /** True when this worker may write: not deposed and its lease held (else it deposes itself). */
  private mayWrite(ignoreLease: boolean): boolean {
    if (this.deposed) return false;
    if (ignoreLease || this.ctx.lease.held()) return true;
    this.depose("the lease is no longer held");
    return false;
  }

  private depose(reason: string, err?: DeposedError): void {
    if (this.deposed) return;
    this.deposed = true;
    this.log.warn({ reason, by: err?.by, key: err?.key }, "registry: stopped writing this partition");
    this.ctx.onDeposed(reason, err);
  }

  private async flushOnce(force: boolean, ignoreLease = false): Promise<void> {
    if (!ignoreLease && this.ctx.gate() !== undefined) return;
    if (this.eventsTaken > 0) {
      this.ctx.onEvents(this.eventsTaken);
      this.eventsTaken = 0;
    }
    if (!this.mayWrite(ignoreLease)) return;
    const { state, config } = { state: this.state, config: this.ctx.config };
    const notices = state.takeNotices();
    const soonBefore = Date.now() - config.batchWindowMs;
    const sessionWrites = state.takeSessionWrites(soonBefore, force);
    const hostWrites = state.takeHostWrites(soonBefore, force);
    const waits = (p: { keys: readonly string[] }): boolean => p.keys.some((key) => state.isSessionDirty(key));
    let ackable: StreamMsg[];
    if (this.consumer?.ackAll) {
      // One ack settles every earlier message: ack the last message of the run whose effects are all persisted
      // once this flush is written; the rest waits for a later flush, in order.
      let run = 0;
      let last: StreamMsg | null = null;
      for (; run < this.pending.length && !waits(this.pending[run]!); run++) last = this.pending[run]!.msg ?? last;
      ackable = last ? [last] : [];
      this.pending = this.pending.slice(run);
    } else {
      ackable = [];
      const waiting: typeof this.pending = [];
      for (const p of this.pending) {
        if (waits(p)) waiting.push(p);
        else if (p.msg) ackable.push(p.msg);
      }
      this.pending = waiting;
    }
    if (notices.length + sessionWrites.length + hostWrites.length + ackable.length === 0) return;
    this.counters.flushes++;
    try {
      let ok = await this.persist("publishing fleet notices", async () => {
        const r = await publishFleetEvents(this.ctx.publisher, notices);
        this.counters.fleetStored += r.stored;
        this.counters.fleetDuplicates += r.duplicates;
      });
      ok &&= this.mayWrite(ignoreLease);
      ok &&= await this.persist("writing the KV view", async () => {
        await Promise.all([
          ...sessionWrites.map((w) => this.sessions.write(w.key, w.value)),
          ...hostWrites.map((w) => this.hosts.write(w.key, w.value)),
        ]);
      });
      if (ok && !this.deposed && !this.acksHalted) for (const msg of ackable) msg.ack();
      // With an ack-all consumer, a later ack would settle these unwritten messages too: ack nothing more (what
      // was not acked is redelivered to the next owner). Only a flush given up while stopping gets here.
      else if (!ok && this.consumer?.ackAll) this.acksHalted = true;
    } catch (err) {
      if (!(err instanceof DeposedError)) throw err;
      this.depose("a newer owner wrote this partition's view", err);
    }
  }

  private flushFailed(err: unknown): void {
    this.log.error({ err }, "registry: flush failed");
  }

  private armSoonTimer(): void {
    // While frozen (a test hook) nothing is flushed; the thaw asks for a flush again.
    if (this.soonTimer || this.stopping || this.deposed || this.ctx.gate() !== undefined) return;
    const oldest = this.state.oldestSoonChange();
    if (oldest === undefined) return;
    this.soonTimer = setTimeout(
      () => {
        this.soonTimer = undefined;
        void this.flush(false);
      },
      Math.max(0, oldest + this.ctx.config.batchWindowMs - Date.now()),
    );
    this.soonTimer.unref();
  }

  private flush(force: boolean): Promise<void> {
    if (this.stopped) return this.lock;
    this.lock = this.lock
      .then(() => this.flushOnce(force))
      .catch((err: unknown) => this.flushFailed(err))
      .then(() => this.armSoonTimer());
    return this.lock;
  }

  /** Flushes once the event loop is idle (the client's buffer has run dry); also after a thaw. */
  requestFlush(): void {
    if (this.flushRequested) return;
    this.flushRequested = true;
    setImmediate(() => {
      this.flushRequested = false;
      void this.flush(false);
    });
  }
}
