/**
 * Publishing fleet notices (computed by the pure `notices.ts`) to FLEET with their deterministic id as
 * `Nats-Msg-Id`.
 */
import type { FleetEvent } from "../../schemas/fleet.js";
import {
  publishDeduplicated,
  subjects,
  toBusError,
  type JetStreamPublishTarget,
  type PublishAck,
} from "../bus/index.js";
import { noticeJson } from "./notices.js";

/** Counts from publishing a batch of notices: how many were stored, and how many FLEET had already. */
export interface FleetPublishResult {
  stored: number;
  duplicates: number;
}

/**
 * Publishes notices to `codex.fleet.<kind>` with `Nats-Msg-Id` = `id`; throws a BusError on failure.
 * The publishes are pipelined: they leave one connection in order, so FLEET stores them in order, and the
 * batch costs one round trip instead of one per notice. Notices are built by the typed pure functions of
 * `notices.ts`, so they are not parsed again on the way out; the tests read FLEET back through the `FleetEvent`
 * schema.
 */
export async function publishFleetEvents(
  js: JetStreamPublishTarget,
  events: readonly FleetEvent[],
): Promise<FleetPublishResult> {
  const result: FleetPublishResult = { stored: 0, duplicates: 0 };
  // One promise per notice, no wrapper each: a failure is named after its notice once it happened.
  const acks: Promise<PublishAck>[] = [];
  for (const event of events)
    acks.push(publishDeduplicated(js, subjects.fleet(event.kind), noticeJson(event), event.id));
  let settled: PublishAck[];
  try {
    settled = await Promise.all(acks);
  } catch (err) {
    const results = await Promise.allSettled(acks);
    const failed = results.findIndex((r) => r.status === "rejected" && r.reason === err);
    throw toBusError(err, `publish fleet notice ${events[failed]?.id ?? "?"}`);
  }
  for (const ack of settled) {
    if (ack.duplicate) result.duplicates++;
    else result.stored++;
  }
  return result;
}
