import { SessionEventEnvelopeSchema, type SessionEventEnvelope } from "../../schemas/bus.js";
import { BusError, toBusError } from "./errors.js";
import { publishDeduplicated, type JetStreamPublishTarget } from "./js-publisher.js";
import { subjects } from "./subjects.js";

/** Deterministic `Nats-Msg-Id` of a session event, so a retried or replayed publish is stored once. Pure. */
export function sessionEventMsgId(event: Pick<SessionEventEnvelope, "hostId" | "epoch" | "seq">): string {
  return `evt:${event.hostId}:${event.epoch}:${event.seq}`;
}

/** Result of publishing a session event: where it was stored and whether it was a duplicate. */
export interface SessionEventAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

/** Validates and publishes one session event to CODEX_EVENTS with its deterministic message id. */
export async function publishSessionEvent(
  js: JetStreamPublishTarget,
  event: SessionEventEnvelope,
): Promise<SessionEventAck> {
  const parsed = SessionEventEnvelopeSchema.safeParse(event);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new BusError("invalid_event", `invalid session event: ${detail}`, { cause: parsed.error });
  }
  return publishCheckedSessionEvent(js, parsed.data);
}

/**
 * Publishes a session event the caller has already validated with SessionEventEnvelopeSchema (the gateway
 * parses every frame on arrival), so the hot path does not parse it twice. Hot paths pass a JetStreamPublisher.
 */
export async function publishCheckedSessionEvent(
  js: JetStreamPublishTarget,
  event: SessionEventEnvelope,
): Promise<SessionEventAck> {
  const subject = subjects.sessionEvents(event.hostId, event.threadId);
  const msgId = sessionEventMsgId(event);
  let ack: { stream: string; seq: number; duplicate: boolean };
  try {
    ack = await publishDeduplicated(js, subject, JSON.stringify(event), msgId);
  } catch (err) {
    throw toBusError(err, `publish session event to ${subject}`);
  }
  return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
}
