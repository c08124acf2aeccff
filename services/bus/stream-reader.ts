/**
 * Reading a stream from a point to its current end with an ordered consumer (no durable state left behind):
 * what `audit` and `audit replay` use. Messages appended while reading are not waited for.
 */
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { toBusError } from "./errors.js";

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
