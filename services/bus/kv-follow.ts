/**
 * Following a KV bucket: each key's current entry (delete markers included), then every change, in revision
 * order, through an ordered pull consumer (no acks, nothing durable left behind; nats.js re-creates it from the
 * last revision seen after a gap or a reconnect). Unlike `KvBucket.watch` (a push consumer with flow control,
 * whose replies go to `$JS.FC.>`, a subject the `client` and `operator` users may not publish to) it needs only
 * the JetStream API and inboxes, so a long follow of a large bucket never stalls on a refused flow-control reply.
 * What the dashboard's live view uses. nats-server 2.9.
 */
import { type Consumer, type ConsumerMessages, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { kvStreamName } from "./ensure.js";
import { toBusError } from "./errors.js";
import type { KvEntry } from "./kv.js";

/** One entry of a followed bucket. */
export interface KvFollowEntry {
  key: string;
  /** The entry's revision (its stream sequence). */
  revision: number;
  operation: "PUT" | "DEL" | "PURGE";
  value: Uint8Array;
  /** When the bucket stored it, unix ms. */
  createdMs: number;
  /** Entries the follow still had to deliver after this one when it was sent (0: caught up). */
  pending: number;
  /** True when the server stored it here as a copy read off another subject (kv.ts `copiedFromElsewhere`). */
  copied: boolean;
}

/** A running follow: iterate its entries (the iteration ends after `stop()`). */
export interface KvFollow extends AsyncIterable<KvFollowEntry> {
  /** True when the bucket had nothing to deliver when the follow opened (no entry will say `pending: 0` first). */
  startedEmpty: boolean;
  stop(): Promise<void>;
}

/**
 * Follows `bucket`: from `fromRevision` on when given (every entry stored since, in order), else each key's
 * current entry first. The iteration throws when the consumer cannot go on. Throws BusErrors when it cannot start.
 */
export async function followKvBucket(nc: NatsConnection, bucket: string, fromRevision?: number): Promise<KvFollow> {
  const stream = kvStreamName(bucket);
  const prefix = `$KV.${bucket}.`;
  let consumer: Consumer;
  let messages: ConsumerMessages;
  let startedEmpty: boolean;
  try {
    const state = (await (await jetstreamManager(nc)).streams.info(stream)).state;
    startedEmpty = fromRevision === undefined ? state.messages === 0 : state.last_seq < fromRevision;
    consumer = await jetstream(nc).consumers.get(
      stream,
      fromRevision === undefined
        ? { filter_subjects: `${prefix}>`, deliver_policy: DeliverPolicy.LastPerSubject }
        : { filter_subjects: `${prefix}>`, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: fromRevision },
    );
    messages = await consumer.consume({ max_messages: 512 });
  } catch (err) {
    throw toBusError(err, `follow KV bucket ${bucket}`);
  }
  let stopped = false;
  return {
    startedEmpty,
    async stop() {
      if (stopped) return;
      stopped = true;
      messages.stop();
      await consumer.delete().catch(() => undefined);
    },
    async *[Symbol.asyncIterator]() {
      for await (const m of messages) {
        const op = m.headers?.get("KV-Operation") ?? "";
        yield {
          key: m.subject.slice(prefix.length),
          revision: m.seq,
          operation: op === "DEL" || op === "PURGE" ? op : "PUT",
          value: m.data,
          createdMs: Math.floor(m.info.timestampNanos / 1e6),
          pending: m.info.pending,
          copied: (m.headers?.values("Nats-Subject") ?? []).some((v) => v !== m.subject),
        };
      }
    },
  };
}

/**
 * A followed entry as a KvEntry of `bucket` (what `leaseView` and `Lease.observe` read), its `copied` flag kept
 * so that kv.ts `copiedFromElsewhere` sees it. Pure.
 */
export function followEntryAsKvEntry(e: KvFollowEntry, bucket: string): KvEntry {
  const text = (): string => new TextDecoder().decode(e.value);
  return {
    bucket,
    key: e.key,
    rawKey: e.key,
    value: e.value,
    created: new Date(e.createdMs),
    revision: e.revision,
    delta: e.pending,
    operation: e.operation,
    length: e.value.length,
    ...({ copied: e.copied } as object),
    json: <T>() => JSON.parse(text()) as T,
    string: text,
  };
}
