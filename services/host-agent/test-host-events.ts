/**
 * Test support for the gateway client's tests: one agent run's events for a host (an EventBuffer whose gaps
 * are envelopes of that run, and plain events in seq order), and the seqs CODEX_EVENTS holds for a host.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { HOST_THREAD_ID } from "../../schemas/agent-events.js";
import { SessionEventEnvelopeSchema, type SessionEventEnvelope } from "../../schemas/bus.js";
import { readStream, STREAM_NAMES } from "../bus/index.js";
import { DEFAULT_BUFFER_LIMITS, EventBuffer } from "./event-buffer.js";

/** A buffer and an event maker sharing one seq counter, for `hostId`'s run "run-1". */
export function hostRunEvents(hostId: string): { buffer: EventBuffer; event: () => SessionEventEnvelope } {
  let seq = 0;
  const envelope = (threadId: string, type: string, payload: unknown): SessionEventEnvelope => ({
    hostId,
    threadId,
    epoch: "run-1",
    seq: seq++,
    emittedAtMs: Date.now(),
    type,
    payload,
  });
  return {
    buffer: new EventBuffer(DEFAULT_BUFFER_LIMITS, (gap) => envelope(HOST_THREAD_ID, "agent/gap", gap)),
    event: () => envelope("thread-1", "item/plan/delta", { n: seq + 1 }),
  };
}

/** The seqs of `hostId`'s events CODEX_EVENTS holds, in stream order. */
export async function storedSeqs(nc: NatsConnection, hostId: string): Promise<number[]> {
  const seqs: number[] = [];
  for await (const m of readStream(nc, STREAM_NAMES.events)) {
    const env = SessionEventEnvelopeSchema.parse(JSON.parse(new TextDecoder().decode(m.data)));
    if (env.hostId === hostId) seqs.push(env.seq);
  }
  return seqs;
}
