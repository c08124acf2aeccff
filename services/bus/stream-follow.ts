/**
 * Following a stream live from a point recorded earlier: note the stream's last sequence before doing
 * something (`streamLastSeq`), then follow the subjects it may cause from the next sequence on (`followStream`),
 * so nothing stored in between is missed. An ordered consumer (no acks, nothing durable left behind) that
 * nats.js re-creates from the last message seen when heartbeats stop or the connection comes back, so it
 * survives a reconnect without gaps or repeats. What `send --wait` and `read --follow` use. nats-server 2.9.
 */
import { type Consumer, type ConsumerMessages, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { toBusError } from "./errors.js";
import type { StoredMessage } from "./stream-reader.js";
import { SUBJECT_ROOT, subjectToken } from "./subjects.js";

/** The last sequence `stream` has stored (0 when it never stored anything). Throws BusErrors. */
export async function streamLastSeq(nc: NatsConnection, stream: string): Promise<number> {
  try {
    return (await (await jetstreamManager(nc)).streams.info(stream)).state.last_seq;
  } catch (err) {
    throw toBusError(err, `look up stream ${stream}`);
  }
}

/**
 * `codex.evt.<hostId>.<threadId>`, or `codex.evt.*.<threadId>` when the host is not known (thread ids are
 * unique across hosts). Throws a BusError on a token that is not one subject token. Pure.
 */
export function threadEventsFilter(threadId: string, hostId?: string): string {
  const host = hostId === undefined ? "*" : subjectToken("hostId", hostId);
  return [SUBJECT_ROOT, "evt", host, subjectToken("threadId", threadId)].join(".");
}

/** A live follow: iterate its messages (the iteration ends after `stop()`); `stop()` also removes the consumer. */
export interface StreamFollow extends AsyncIterable<StoredMessage> {
  stop(): Promise<void>;
}

/**
 * Follows the messages of `stream` on `filterSubject` from sequence `fromSeq` on (those already stored first),
 * until `stop()`. The iteration throws when the consumer cannot go on (the stream was deleted, permission was
 * withdrawn). Throws BusErrors when it cannot start.
 */
export async function followStream(
  nc: NatsConnection,
  stream: string,
  filterSubject: string,
  fromSeq: number,
): Promise<StreamFollow> {
  let consumer: Consumer;
  let messages: ConsumerMessages;
  try {
    consumer = await jetstream(nc).consumers.get(stream, {
      filter_subjects: filterSubject,
      deliver_policy: DeliverPolicy.StartSequence,
      opt_start_seq: Math.max(1, fromSeq),
    });
    messages = await consumer.consume({ max_messages: 256 });
  } catch (err) {
    throw toBusError(err, `follow ${filterSubject} in ${stream}`);
  }
  let stopped = false;
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      messages.stop();
      await consumer.delete().catch(() => undefined);
    },
    async *[Symbol.asyncIterator]() {
      for await (const m of messages) {
        yield { seq: m.seq, subject: m.subject, timeMs: Math.floor(m.info.timestampNanos / 1e6), data: m.data };
      }
    },
  };
}
