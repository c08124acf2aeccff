/**
 * Reading a stream from a point to its current end with an ordered consumer (no durable state left behind):
 * what `audit` and `audit replay` use. Messages appended while reading are not waited for. Also: a range of
 * sequences (filling gaps in a delivery), the last message on a subject, the message ids stored on a subject
 * since a time (headers only), and which streams exist.
 */
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { JsErrCode, jsApiErrCode, toBusError } from "./errors.js";

/** One stored message. `timeMs` is when the stream stored it (unix ms). */
export interface StoredMessage {
  seq: number;
  subject: string;
  timeMs: number;
  data: Uint8Array;
}

/** Where to start: the first message, or the first stored at or after `sinceMs`. */
export interface ReadStreamOptions {
  sinceMs?: number;
  /** Messages per fetch (default 1 000). */
  batch?: number;
}

/** Yields `stream`'s messages from the start (or `sinceMs`) to its last message at the time of the call. */
export async function* readStream(
  nc: NatsConnection,
  stream: string,
  opts: ReadStreamOptions = {},
): AsyncGenerator<StoredMessage> {
  let last: number;
  try {
    last = (await (await jetstreamManager(nc)).streams.info(stream)).state.last_seq;
  } catch (err) {
    throw toBusError(err, `read stream ${stream}`);
  }
  if (last === 0) return;
  const start =
    opts.sinceMs === undefined
      ? { deliver_policy: DeliverPolicy.All }
      : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(opts.sinceMs).toISOString() };
  const reader = await jetstream(nc).consumers.get(stream, start);
  try {
    for (;;) {
      let got = 0;
      for await (const m of await reader.fetch({ max_messages: opts.batch ?? 1_000, expires: 2_000 })) {
        got++;
        if (m.seq > last) return;
        yield { seq: m.seq, subject: m.subject, timeMs: Math.floor(m.info.timestampNanos / 1e6), data: m.data };
        if (m.seq === last || m.info.pending === 0) return;
      }
      if (got === 0) return;
    }
  } finally {
    await reader.delete().catch(() => undefined);
  }
}

/**
 * Yields the messages of `stream` with sequences `fromSeq..toSeq` that are still stored, in order, through an
 * ordered consumer (nothing left behind); stops early at the stream's end. For filling gaps in a delivery.
 */
export async function* readStreamRange(
  nc: NatsConnection,
  stream: string,
  fromSeq: number,
  toSeq: number,
  opts: Pick<ReadStreamOptions, "batch"> = {},
): AsyncGenerator<Omit<StoredMessage, "timeMs">> {
  const reader = await jetstream(nc).consumers.get(stream, {
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: fromSeq,
  });
  try {
    let next = fromSeq;
    while (next <= toSeq) {
      let got = 0;
      const max = Math.min(toSeq - next + 1, opts.batch ?? 1_000);
      for await (const m of await reader.fetch({ max_messages: max, expires: 2_000 })) {
        got++;
        next = m.seq + 1;
        if (m.seq > toSeq) break;
        yield { seq: m.seq, subject: m.subject, data: m.data };
        if (m.info.pending === 0) next = toSeq + 1;
      }
      if (got === 0) break;
    }
  } finally {
    await reader.delete().catch(() => undefined);
  }
}

/**
 * The last message of `stream` on `subject`, or null when none is stored. `subject` may hold wildcards
 * (`codex.evt.<hostId>.*`): STREAM.MSG.GET's `last_by_subj` takes them on nats-server 2.9 as well. One request.
 * `msgId` is its `Nats-Msg-Id`, if any. Throws BusErrors.
 */
export async function lastStoredMessage(
  nc: NatsConnection,
  stream: string,
  subject: string,
): Promise<(StoredMessage & { msgId: string | undefined }) | null> {
  try {
    const m = await (await jetstreamManager(nc, { checkAPI: false })).streams.getMessage(stream, {
      last_by_subj: subject,
    });
    if (m === null) return null;
    const msgId = m.header.get("Nats-Msg-Id");
    return { seq: m.seq, subject: m.subject, timeMs: m.time.getTime(), data: m.data, msgId: msgId || undefined };
  } catch (err) {
    throw toBusError(err, `read the last message on ${subject} in ${stream}`);
  }
}

/** A stored message's sequence, storage time (unix ms) and `Nats-Msg-Id` (undefined when it has none). */
export interface StoredMsgId {
  seq: number;
  timeMs: number;
  msgId: string | undefined;
}

/**
 * The `Nats-Msg-Id` of each message of `stream` on `subject` (wildcards allowed) stored at or after `sinceMs`
 * (the server's clock), up to sequence `toSeq`, in order. Headers only: no payload crosses the wire. An
 * ordered consumer (nothing left behind); stops early once the server has no more matching messages, and
 * waits up to 2 s when none matches at all. Throws BusErrors when it cannot start.
 */
export async function* readStoredMsgIds(
  nc: NatsConnection,
  stream: string,
  subject: string,
  opts: { sinceMs: number; toSeq: number; batch?: number },
): AsyncGenerator<StoredMsgId> {
  let reader: Awaited<ReturnType<ReturnType<typeof jetstream>["consumers"]["get"]>>;
  try {
    reader = await jetstream(nc).consumers.get(stream, {
      filter_subjects: subject,
      headers_only: true,
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(Math.max(0, opts.sinceMs)).toISOString(),
    });
  } catch (err) {
    throw toBusError(err, `read ${subject} in ${stream}`);
  }
  try {
    for (;;) {
      let got = 0;
      for await (const m of await reader.fetch({ max_messages: opts.batch ?? 1_000, expires: 2_000 })) {
        got++;
        if (m.seq > opts.toSeq) return;
        const msgId = m.headers?.get("Nats-Msg-Id");
        yield { seq: m.seq, timeMs: Math.floor(m.info.timestampNanos / 1e6), msgId: msgId || undefined };
        if (m.seq === opts.toSeq || m.info.pending === 0) return;
      }
      if (got === 0) return;
    }
  } finally {
    await reader.delete().catch(() => undefined);
  }
}

/** The names among `streams` that do not exist, in the order given. Throws a BusError (its message starting with `context`) when a lookup fails otherwise. */
export async function missingStreams(nc: NatsConnection, streams: readonly string[], context = ""): Promise<string[]> {
  const missing: string[] = [];
  try {
    const jsm = await jetstreamManager(nc);
    for (const stream of streams) {
      try {
        await jsm.streams.info(stream);
      } catch (err) {
        if (jsApiErrCode(err) !== JsErrCode.StreamNotFound) throw toBusError(err, `${context}look up stream ${stream}`);
        missing.push(stream);
      }
    }
  } catch (err) {
    throw toBusError(err, `${context}look up streams`);
  }
  return missing;
}
