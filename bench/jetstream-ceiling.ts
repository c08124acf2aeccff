/**
 * The raw JetStream ceiling for session events on this machine: publish envelopes to CODEX_EVENTS (with
 * message ids, a bounded window of in-flight publishes) while a durable pull consumer reads and acks them.
 * This is the baseline the ingest benchmark divides by: nothing the supervisor does can beat it.
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { sessionEventMsgId, STREAM_NAMES, subjects } from "../services/bus/index.js";

/** What one ceiling run measured. */
export interface CeilingResult {
  events: number;
  seconds: number;
  eventsPerSecond: number;
}

/** Publishes `events` envelopes spread over `sessions` threads of `hosts` hosts and consumes them all. */
export async function measureJetStreamCeiling(
  nc: NatsConnection,
  opts: { events: number; hosts: number; sessions: number; window?: number; consumer: string },
): Promise<CeilingResult> {
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await jsm.consumers.add(STREAM_NAMES.events, {
    durable_name: opts.consumer,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.New,
  });
  const consumer = await js.consumers.get(STREAM_NAMES.events, opts.consumer);
  const window = opts.window ?? 256;
  const payload = { threadId: "t", status: { type: "active", activeFlags: [] } };
  const started = performance.now();
  let consumed = 0;
  const reading = (async () => {
    const messages = await consumer.consume({ max_messages: 1024 });
    for await (const m of messages) {
      m.ack();
      if (++consumed >= opts.events) break;
    }
  })();
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < opts.events; i++) {
    const hostId = `ceil-h${i % opts.hosts}`;
    const threadId = `ceil-t${i % opts.sessions}`;
    const envelope = {
      hostId,
      threadId,
      epoch: "ceiling",
      seq: i,
      emittedAtMs: Date.now(),
      type: "thread/status/changed",
      payload,
    };
    const p = js.publish(subjects.sessionEvents(hostId, threadId), JSON.stringify(envelope), {
      msgID: sessionEventMsgId(envelope),
    });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (inFlight.size >= window) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  await reading;
  const seconds = (performance.now() - started) / 1000;
  await jsm.consumers.delete(STREAM_NAMES.events, opts.consumer);
  return { events: opts.events, seconds, eventsPerSecond: opts.events / seconds };
}
