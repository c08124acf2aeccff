/**
 * Reading a stream from a point to its current end with an ordered consumer (no durable state left behind):
 * what `audit` and `audit replay` use. Messages appended while reading are not waited for. Also: a range of
 * sequences (filling gaps in a delivery), and which streams exist.
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
