/**
 * Durable pull consumers with explicit acks, as the registry (CODEX_EVENTS) and the Claw (FLEET) use them:
 * created once if missing (nats-server 2.9 consumer fields only), then consumed continuously or fetched from.
 * Messages are nats.js's own, seen through `StreamMsg`: no wrapper object per message.
 */
import {
  AckPolicy,
  type ConsumerInfo,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  ReplayPolicy,
} from "@nats-io/jetstream";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { JsErrCode, jsApiErrCode, toBusError } from "./errors.js";

/** A message delivered by a consumer; settle it once with `ack`, `nak` (redeliver, after `delayMs`) or `term`. */
export interface StreamMsg {
  readonly subject: string;
  readonly data: Uint8Array;
  /** Its stream sequence. */
  readonly seq: number;
  /** The payload parsed as JSON; throws when it is not JSON. */
  json<T = unknown>(): T;
  ack(): void;
  /** Acks and resolves once the server has confirmed the ack (true), so it cannot be lost on the way. */
  ackAck(): Promise<boolean>;
  nak(delayMs?: number): void;
  /** Never redeliver this message. */
  term(reason?: string): void;
}

/**
 * The stream sequence of a message a consumer delivered, read straight from its reply subject
 * (`$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>...`, or the longer form with a domain and account hash)
 * without building nats.js's whole delivery info; anything else falls back to `msg.seq`. Pure.
 */
export function streamSeqOf(msg: StreamMsg): number {
  const reply = (msg as { reply?: unknown }).reply;
  if (typeof reply !== "string" || !reply.startsWith("$JS.ACK.")) return msg.seq;
  const dots: number[] = [];
  for (let i = reply.indexOf("."); i >= 0 && dots.length < 12; i = reply.indexOf(".", i + 1)) dots.push(i);
  // 9 tokens: the sequence is token 5; 11 or more (domain and account hash after ACK): token 7.
  const token = dots.length === 8 ? 5 : dots.length >= 10 ? 7 : -1;
  if (token < 0) return msg.seq;
  const from = (dots[token - 1] as number) + 1;
  const to = dots[token] as number;
  let seq = 0;
  for (let i = from; i < to; i++) {
    const c = reply.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return msg.seq;
    seq = seq * 10 + c;
  }
  return to > from && to - from <= 15 ? seq : msg.seq;
}

/** A consumer's status notice (heartbeats missed, consumer deleted or not found, stream not found, ...). */
export interface ConsumerStatus {
  readonly type: string;
}

/** A running consume: iterate its messages; `stop()` ends the iteration; `status()` yields its notices. */
export interface MessageFeed extends AsyncIterable<StreamMsg> {
  stop(): void;
  status(): AsyncIterable<ConsumerStatus>;
  /** Resolves once the consume has ended (stopped, or ended by an error: resolved with it). */
  closed(): Promise<unknown>;
}

/**
 * A durable consumer: explicit acks (or, with `ackAll`, acks that settle every message up to the one acked),
 * deliver all, instant replay, one filter subject.
 */
export interface DurableConsumerSpec {
  stream: string;
  name: string;
  description?: string;
  filterSubject: string;
  /** How long the server waits for an ack before redelivering, ms. */
  ackWaitMs: number;
  /** Most messages delivered and not yet acked. */
  maxAckPending: number;
  /** The error's context when the stream does not exist (say how to create it). */
  missingStream: string;
  /** Start at this stream sequence instead of the first message (deliver policy by start sequence). */
  startSeq?: number;
  /**
   * Ack policy `all` instead of `explicit`: acking a message acks every earlier one delivered to this consumer
   * (one ack per run of messages). Applies when the consumer is created; an existing one keeps its policy.
   */
  ackAll?: boolean;
}

/** Creates the durable consumer unless one of that name exists (an existing one is used as it is). Throws BusErrors. */
export async function ensureDurableConsumer(nc: NatsConnection, spec: DurableConsumerSpec): Promise<void> {
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.consumers.info(spec.stream, spec.name);
    return;
  } catch (err) {
    const code = jsApiErrCode(err);
    if (code === JsErrCode.StreamNotFound) throw toBusError(err, spec.missingStream);
    if (code !== JsErrCode.ConsumerNotFound) throw toBusError(err, `look up consumer ${spec.name}`);
  }
  try {
    await jsm.consumers.add(spec.stream, {
      durable_name: spec.name,
      ...(spec.description === undefined ? {} : { description: spec.description }),
      ack_policy: spec.ackAll ? AckPolicy.All : AckPolicy.Explicit,
      ...(spec.startSeq === undefined
        ? { deliver_policy: DeliverPolicy.All }
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: spec.startSeq }),
      replay_policy: ReplayPolicy.Instant,
      filter_subject: spec.filterSubject,
      ack_wait: nanos(spec.ackWaitMs),
      max_ack_pending: spec.maxAckPending,
    });
  } catch (err) {
    if (jsApiErrCode(err) === JsErrCode.StreamNotFound) throw toBusError(err, spec.missingStream);
    throw toBusError(err, `create consumer ${spec.name}`);
  }
}

/** Where a durable consumer stands, in stream sequences and message counts. */
export interface ConsumerPosition {
  name: string;
  /** Every message up to here is acked, or lies before the consumer's start sequence. */
  ackFloor: number;
  /** The last message delivered (to any client). */
  delivered: number;
  /** Messages not yet delivered. */
  pending: number;
  /** Messages delivered and not yet acked. */
  ackPending: number;
}

/** An existing durable consumer, bound by name. */
export interface DurableConsumer {
  /** True when its ack policy is `all` (an ack settles every earlier message too), as it was when bound. */
  readonly ackAll: boolean;
  /** The stream sequence up to which every message is acked (or lies before the consumer's start sequence). */
  ackFloor(): Promise<number>;
  /** Its ack floor, last delivered sequence and backlog, in one consumer info request. */
  position(): Promise<ConsumerPosition>;
  /**
   * Starts pulling continuously, at most `maxMessages` per pull request. With `onMessage`, each message is
   * handed to it as it is read off the socket (no async iteration per message; iterating the feed is then an
   * error); a throw from it ends the consume with that error (see `closed()`).
   */
  consume(maxMessages: number, onMessage?: (msg: StreamMsg) => void): Promise<MessageFeed>;
  /** Pulls up to `maxMessages`, waiting at most `expiresMs` for them; the batch ends early when none are left. */
  fetch(maxMessages: number, expiresMs: number): Promise<AsyncIterable<StreamMsg>>;
}

/** Binds the durable consumer `name` of `stream` (which must exist: see `ensureDurableConsumer`). */
export async function openDurableConsumer(nc: NatsConnection, stream: string, name: string): Promise<DurableConsumer> {
  const consumer = await jetstream(nc).consumers.get(stream, name);
  const ackAll = (await consumer.info(true)).config.ack_policy === AckPolicy.All;
  return {
    ackAll,
    ackFloor: async () => positionOf(await consumer.info()).ackFloor,
    position: async () => positionOf(await consumer.info()),
    consume: (maxMessages, onMessage) =>
      consumer.consume(onMessage ? { max_messages: maxMessages, callback: onMessage } : { max_messages: maxMessages }),
    fetch: (maxMessages, expiresMs) => consumer.fetch({ max_messages: maxMessages, expires: expiresMs }),
  };
}

function positionOf(info: ConsumerInfo): ConsumerPosition {
  // A consumer created at a start sequence reports an ack floor of 0 until its first ack.
  const beforeStart =
    info.config.deliver_policy === DeliverPolicy.StartSequence ? (info.config.opt_start_seq ?? 1) - 1 : 0;
  return {
    name: info.name,
    ackFloor: Math.max(info.ack_floor.stream_seq, beforeStart),
    delivered: info.delivered.stream_seq,
    pending: info.num_pending,
    ackPending: info.num_ack_pending,
  };
}

/** The position of every consumer of `stream` (durable or not). Throws BusErrors. */
export async function listConsumerPositions(nc: NatsConnection, stream: string): Promise<ConsumerPosition[]> {
  try {
    const out: ConsumerPosition[] = [];
    for await (const info of (await jetstreamManager(nc)).consumers.list(stream)) out.push(positionOf(info));
    return out;
  } catch (err) {
    throw toBusError(err, `list the consumers of ${stream}`);
  }
}

/**
 * Messages waiting for the durable consumer `name` (not yet delivered plus delivered and not acked); null when
 * the consumer cannot be looked up (e.g. it was never created). Throws when JetStream itself is unreachable.
 */
export async function consumerBacklog(nc: NatsConnection, stream: string, name: string): Promise<number | null> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.consumers.info(stream, name).catch(() => null);
  return info ? info.num_pending + info.num_ack_pending : null;
}
