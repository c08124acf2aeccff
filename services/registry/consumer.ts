/**
 * The registry's durable pull consumer on CODEX_EVENTS (deliver all, filter `codex.evt.>`, ack policy `all`),
 * and the loop that feeds it to a batch sink: every message is taken synchronously as nats.js reads it off the
 * socket (a callback, no async iteration per message), and the sink is flushed (KV written, then acked) once
 * the client's buffer runs dry (the event loop is idle) or, waiting for it, when a batch is full. Only
 * nats-server 2.9 consumer fields are sent.
 *
 * Acks: with ack policy `all`, acking a message settles every earlier one, so a flush sends one ack, for the
 * last message of the run (in stream order) whose effects are all written; a message whose write waits (a
 * batched activity update) holds back the acks of those after it until a later flush. That is safe because
 * acks only ever cover a persisted prefix of what this owner handed over in order, gap fills included: a
 * deposed owner can only ack messages it took before its last lease check, all of which were delivered before
 * the new owner read the consumer's position. A consumer created by an older registry keeps explicit acks
 * (JetStream cannot change a consumer's ack policy) and is acked message by message, as before.
 *
 * Messages reach the sink in stream order. JetStream redelivers a message lost in flight (to a stopped or
 * crashed instance, or during a reconnect) only after `ack_wait`, behind newer ones; applied late, it would be
 * skipped as older than its thread's position and its effect lost. So the loop keeps the highest stream
 * sequence it has handed over (starting from the consumer's ack floor) and, when a delivery skips ahead,
 * first reads the missing sequences from the stream itself. Their late redeliveries are then duplicates.
 *
 * Partitions: every partition's consumer reads all of `codex.evt.>` (nats-server 2.9 gives a consumer one
 * filter subject, and a host's partition is a hash no subject filter can select). `owns` tells, from the
 * subject's host token alone (no JSON parsed), which events are this partition's; the others are acked at once
 * (explicit acks) or handed over as `foreign`, to be covered by the next ack in order (ack policy `all`).
 * A partition taken over resumes where the previous owner left off: `startAfter` is the ack floor read before
 * the view was loaded, and `fillTo` the last sequence delivered to anyone then (read from the stream first, so
 * what the previous owner held unacked is not waited for until `ack_wait`). And while no message comes for a
 * while, the loop asks where the consumer's deliveries stand and reads what went elsewhere and was never
 * acked (to a frozen previous owner, say) from the stream, instead of waiting for a later event to show the gap.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import {
  STREAM_NAMES,
  consumerBacklog,
  ensureDurableConsumer,
  openDurableConsumer,
  readStreamRange,
  streamSeqOf,
  subjects,
  toBusError,
  type MessageFeed,
  type StreamMsg,
} from "../bus/index.js";
import type { RegistryLogger } from "./logger.js";

/** One session event from the stream; `msg` is null when it was read to fill a gap (nothing to ack). */
export interface ConsumedEvent {
  subject: string;
  data: Uint8Array;
  streamSeq: number;
  msg: StreamMsg | null;
  /**
   * Another partition's event, handed over only to be acked in order with ours (when one ack settles every
   * earlier message, it must not be acked before ours are persisted): nothing to apply.
   */
  foreign?: true;
}

/**
 * Where consumed messages go: `take` applies one in memory; `flush` persists what was taken and acks it;
 * `requestFlush` asks for a flush once the event loop is idle, i.e. once the client's buffer has run dry.
 */
export interface MessageSink {
  take(event: ConsumedEvent): void;
  /** Number of taken messages not yet acked. */
  readonly unacked: number;
  flush(): Promise<void>;
  requestFlush(): void;
}

/** Settings of the durable consumer. */
export interface EventConsumerOptions {
  durableName: string;
  /** How long the server waits for an ack before redelivering, ms. */
  ackWaitMs: number;
  /** Most messages in flight (delivered, not acked). */
  maxAckPending: number;
  /** Messages pulled per request from the server (flushes run as soon as the loop is idle). */
  maxBatch: number;
  /** True for an event this consumer applies (its partition's); the others are acked unread. Default: every one. */
  owns?: (subject: string) => boolean;
  /** The stream sequence a consumer created now starts at (undefined: the first); asked only when creating it. */
  startSeq?: () => Promise<number | undefined>;
  /**
   * The highest stream sequence whose effect is known to be in the view (the ack floor read before loading it);
   * default: the consumer's ack floor when the loop first starts.
   */
  startAfter?: number;
  /** Before consuming, read `startAfter+1..fillTo` from the stream (what was in flight to a previous owner). */
  fillTo?: number;
  /** Awaited before each message when it returns a promise (a test freezing the instance). */
  gate?: () => Promise<void> | undefined;
}

const RETRY_DELAY_MS = 500;
/** After this long without a message, check whether deliveries went elsewhere unacked (see the module comment). */
const IDLE_CATCH_UP_MS = 2_000;
const GAP_BATCH = 1_000;

/** Creates the durable consumer if it does not exist; an existing one is used as it is. */
export async function ensureEventConsumer(nc: NatsConnection, opts: EventConsumerOptions): Promise<void> {
  let startSeq: number | undefined;
  if (opts.startSeq) {
    // Asked only for a consumer that does not exist yet (an existing one keeps its own position).
    const exists = await consumerExists(nc, opts.durableName);
    if (!exists) startSeq = await opts.startSeq();
  }
  await ensureDurableConsumer(nc, {
    stream: STREAM_NAMES.events,
    // One ack per flush settles the run of messages it covers (see the module comment); a consumer created
    // before keeps explicit acks, one per message.
    ackAll: true,
    name: opts.durableName,
    description: "claw-supervisor registry: session events into session actors and the KV view",
    filterSubject: subjects.allSessionEvents(),
    ackWaitMs: opts.ackWaitMs,
    maxAckPending: opts.maxAckPending,
    missingStream: `stream ${STREAM_NAMES.events} does not exist (run ensureBus, e.g. 'claw-supervisor up')`,
    ...(startSeq === undefined ? {} : { startSeq }),
  });
}

async function consumerExists(nc: NatsConnection, name: string): Promise<boolean> {
  return (await consumerBacklog(nc, STREAM_NAMES.events, name)) !== null;
}

/**
 * A running consume loop; `stop()` stops pulling, flushes what was taken (unless `flush: false`: a deposed
 * owner leaves what it took unacked), and resolves when the loop ended.
 */
export interface EventConsumer {
  stop(opts?: { flush?: boolean }): Promise<void>;
  /** Events read from the stream to fill gaps in delivery (see the module comment). */
  readonly gapEventsRead: number;
  /** True when the consumer's ack policy is `all`: ack only the last of a run of persisted messages. */
  readonly ackAll: boolean;
  /** Resolves when the loop ends (after `stop()`). */
  readonly done: Promise<void>;
}

/** Starts consuming the durable consumer into `sink`; recreates the consumer if it disappears. */
export function consumeEvents(
  nc: NatsConnection,
  opts: EventConsumerOptions,
  sink: MessageSink,
  logger: RegistryLogger,
): EventConsumer {
  let stopping = false;
  let flushAtEnd = true;
  let current: MessageFeed | undefined;
  let wake: (() => void) | undefined;
  /** Highest stream sequence handed to the sink (or known applied: the ack floor); -1 until first known. */
  let handed = opts.startAfter ?? -1;
  let fillTo = opts.fillTo ?? 0;
  let gapEventsRead = 0;
  const owns = opts.owns;
  let lastMessageAt = Date.now();
  let catchingUp: Promise<void> | undefined;
  /** Whether the bound consumer's ack policy is `all` (one ack settles every earlier message). */
  let ackAll = false;

  const fill = async (from: number, to: number): Promise<void> => {
    // Counted as each is handed over, so the count is right as soon as the sink has them (the read itself ends
    // a little later, when the ordered consumer is closed).
    const filled = await fillGap(nc, from, to, sink, owns, () => void gapEventsRead++);
    logger.info({ from, to, filled }, "registry: read events a delivery skipped over, to keep stream order");
  };

  const runOnce = async (): Promise<void> => {
    await ensureEventConsumer(nc, opts);
    const consumer = await openDurableConsumer(nc, STREAM_NAMES.events, opts.durableName);
    // Only the first start reads the floor: later, another (deposed) writer's acks must not move us past
    // events whose effect is not in our state.
    if (handed < 0) handed = await consumer.ackFloor();
    if (fillTo > handed) {
      await fill(handed + 1, fillTo);
      handed = fillTo;
      sink.requestFlush();
    }
    fillTo = 0;
    ackAll = consumer.ackAll;
    const reader = orderedReader();
    const messages = await consumer.consume(opts.maxBatch, reader.onMessage);
    reader.bind(messages);
    current = messages;
    void watchStatus(messages, logger);
    if (stopping) messages.stop();
    const catchUp = async (): Promise<void> => {
      const position = await consumer.position();
      if (position.delivered <= handed) return;
      await fill(handed + 1, position.delivered);
      handed = Math.max(handed, position.delivered);
      sink.requestFlush();
    };
    const idle = setInterval(() => {
      if (stopping || catchingUp || opts.gate?.() || Date.now() - lastMessageAt < IDLE_CATCH_UP_MS) return;
      catchingUp = catchUp()
        .catch((err: unknown) => logger.warn({ err }, "registry: could not check for deliveries gone elsewhere"))
        .finally(() => {
          catchingUp = undefined;
          lastMessageAt = Date.now();
        });
    }, IDLE_CATCH_UP_MS / 2);
    idle.unref();
    try {
      await reader.ended();
    } finally {
      clearInterval(idle);
    }
    current = undefined;
  };

  /** Hands one delivered message over in stream order (the caller made sure nothing needs waiting for). */
  const hand = (msg: StreamMsg, seq: number): void => {
    if (owns === undefined || owns(msg.subject))
      sink.take({ subject: msg.subject, data: msg.data, streamSeq: seq, msg });
    // Another partition's event: acked at once, or, when one ack settles every earlier message, in order with ours.
    else if (ackAll) sink.take({ subject: msg.subject, data: msg.data, streamSeq: seq, msg, foreign: true });
    else msg.ack();
    handed = Math.max(handed, seq);
  };

  /**
   * Takes messages as nats.js reads them off the socket (a callback, not an async iteration per message): each
   * is handled at once unless something must be waited for first (the freeze gate, a catch-up, a gap to read
   * from the stream, a flush because `maxAckPending` messages wait); then it and those after it queue, in order,
   * for an async drain. A throw ends the consume (`ended()` rejects with it, and the consume is started again).
   */
  const orderedReader = () => {
    let feed: MessageFeed | undefined;
    let queue: StreamMsg[] = [];
    let draining: Promise<void> | undefined;
    let failure: unknown;
    const fail = (err: unknown): void => {
      failure ??= err;
      queue = [];
      feed?.stop();
    };
    /** After a message is handed: flush once idle, or now when the server would stop delivering anyway. */
    const settle = (): Promise<void> | undefined => {
      // Keep taking messages while a flush is in flight (the next flush covers them all, one KV write per
      // session however many of its events arrived); wait only when the server would stop delivering anyway.
      if (sink.unacked >= opts.maxAckPending) return sink.flush();
      sink.requestFlush();
      return undefined;
    };
    /** Drains the queue in order (after `first`, a flush to wait for); messages queued meanwhile join it. */
    const startDrain = (first?: Promise<void>): void => {
      draining = (async () => {
        try {
          if (first) await first;
          for (let i = 0; i < queue.length; i++) {
            const gate = opts.gate?.();
            if (gate) await gate;
            if (catchingUp) await catchingUp;
            if (stopping && !flushAtEnd) break;
            const msg = queue[i] as StreamMsg;
            const seq = streamSeqOf(msg);
            if (seq > handed + 1) await fill(handed + 1, seq - 1);
            hand(msg, seq);
            const flushing = settle();
            if (flushing) await flushing;
          }
          queue = [];
        } catch (err) {
          fail(err);
        } finally {
          draining = undefined;
        }
      })();
    };
    const onMessage = (msg: StreamMsg): void => {
      if (failure !== undefined) return;
      lastMessageAt = Date.now();
      const seq = streamSeqOf(msg);
      if (
        draining === undefined &&
        !(stopping && !flushAtEnd) &&
        opts.gate?.() === undefined &&
        catchingUp === undefined &&
        seq <= handed + 1
      ) {
        try {
          hand(msg, seq);
          const flushing = settle();
          if (flushing) startDrain(flushing);
        } catch (err) {
          fail(err);
        }
        return;
      }
      queue.push(msg);
      if (draining === undefined) startDrain();
    };
    return {
      onMessage,
      bind(messages: MessageFeed): void {
        feed = messages;
      },
      /** Resolves when the consume ended and every message taken off the socket was handled. */
      async ended(): Promise<void> {
        const end = await (feed as MessageFeed).closed();
        while (draining !== undefined) await draining;
        if (failure !== undefined) throw failure;
        if (end instanceof Error) throw end;
      },
    };
  };

  const done = (async () => {
    while (!stopping) {
      try {
        await runOnce();
      } catch (err) {
        if (nc.isClosed()) {
          logger.error(
            { err: toBusError(err, "registry consumer") },
            "registry consumer stopped: the connection is closed",
          );
          break;
        }
        logger.error({ err: toBusError(err, "registry consumer") }, "registry consumer failed; retrying");
      }
      if (stopping || nc.isClosed()) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, RETRY_DELAY_MS).unref();
      });
    }
    if (flushAtEnd) await sink.flush();
  })();

  return {
    done,
    get gapEventsRead() {
      return gapEventsRead;
    },
    get ackAll() {
      return ackAll;
    },
    async stop(stopOpts = {}) {
      stopping = true;
      flushAtEnd = stopOpts.flush ?? true;
      current?.stop();
      wake?.();
      await done;
    },
  };
}

/**
 * Hands the stream's messages `from..to` (those still stored, and `owns`) to the sink, in order, through an
 * ordered consumer; returns how many it handed over.
 */
async function fillGap(
  nc: NatsConnection,
  from: number,
  to: number,
  sink: MessageSink,
  owns: ((subject: string) => boolean) | undefined,
  onHanded: () => void,
): Promise<number> {
  let filled = 0;
  for await (const m of readStreamRange(nc, STREAM_NAMES.events, from, to, { batch: GAP_BATCH })) {
    if (owns !== undefined && !owns(m.subject)) continue;
    sink.take({ subject: m.subject, data: m.data, streamSeq: m.seq, msg: null });
    filled++;
    onHanded();
  }
  return filled;
}

async function watchStatus(messages: MessageFeed, logger: RegistryLogger): Promise<void> {
  for await (const s of messages.status()) {
    if (s.type === "consumer_deleted" || s.type === "consumer_not_found" || s.type === "stream_not_found") {
      logger.warn({ status: s }, "registry consumer lost; recreating it");
      messages.stop();
      return;
    }
    if (s.type === "heartbeats_missed" || s.type === "exceeded_limits" || s.type === "no_responders") {
      logger.warn({ status: s }, "registry consumer notice");
    }
  }
}
