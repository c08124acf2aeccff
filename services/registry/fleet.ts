/**
 * Fleet notices: which record transitions the Claw must hear about (pure), and publishing them to FLEET with
 * their deterministic id as `Nats-Msg-Id`.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import { fleetPriorityOf, type FleetEvent, type FleetKind } from "../../schemas/fleet.js";
import type { HostRecord, SessionRecord } from "../../schemas/registry.js";
import { JetStreamPublisher, subjects, toBusError } from "../bus/index.js";

/** What caused a session transition: its time (unix ms) and a token unique to the cause, for the notice id. */
export interface NoticeCause {
  atMs: number;
  /** `<epoch>:<seq>` of the envelope, or `stale:<host episode>` for a sweep. */
  token: string;
}

function sessionNotice(
  kind: FleetKind,
  prev: SessionRecord | undefined,
  next: SessionRecord,
  cause: NoticeCause,
): FleetEvent {
  return {
    id: `fleet:${kind}:${next.host}:${next.sessionId}:${cause.token}`,
    kind,
    priority: fleetPriorityOf[kind],
    hostId: next.host,
    sessionId: next.sessionId,
    atMs: cause.atMs,
    previousStatus: prev?.status ?? null,
    session: next,
    host: null,
  };
}

/** The notices one session transition calls for, in a fixed order; none when nothing notable changed. Pure. */
export function sessionNotices(prev: SessionRecord | undefined, next: SessionRecord, cause: NoticeCause): FleetEvent[] {
  const kinds: FleetKind[] = [];
  if (prev === undefined) kinds.push("session-new");
  if (next.waitingOn === "approval" && prev?.waitingOn !== "approval") kinds.push("session-waiting-approval");
  if (next.waitingOn === "userInput" && prev?.waitingOn !== "userInput") kinds.push("session-waiting-input");
  if (prev !== undefined && prev.status !== next.status) {
    if (next.status === "idle" && (prev.status === "active" || prev.status === "steering")) kinds.push("session-idle");
    if (next.status === "stale") kinds.push("session-stale");
    if (next.status === "error") kinds.push("session-error");
    if (next.status === "closed") kinds.push("session-closed");
  }
  if (next.disposition !== null && prev?.disposition !== next.disposition) kinds.push("session-marked");
  if (next.handoff !== null && prev?.handoff?.atMs !== next.handoff.atMs) kinds.push("session-handoff");
  if (prev !== undefined && (prev.group !== next.group || prev.owner !== next.owner)) kinds.push("session-assigned");
  if (next.progress !== null && prev?.progress?.atMs !== next.progress.atMs) kinds.push("session-progress");
  if (next.ask !== null && prev?.ask?.correlationId !== next.ask.correlationId) kinds.push("session-ask");
  return kinds.map((kind) => sessionNotice(kind, prev, next, cause));
}

/** A token naming one period of a host's life (its last connect and heartbeat), stable across restarts. Pure. */
export function hostEpisode(host: HostRecord): string {
  return `${host.connectedAt ?? 0}-${host.lastHeartbeatAt ?? 0}`;
}

/** The notices one host transition calls for (a host going stale). Pure. */
export function hostNotices(prev: HostRecord | undefined, next: HostRecord, atMs: number): FleetEvent[] {
  if (next.status !== "stale" || prev?.status === "stale") return [];
  return [
    {
      id: `fleet:host-stale:${next.hostId}:${hostEpisode(next)}`,
      kind: "host-stale",
      priority: fleetPriorityOf["host-stale"],
      hostId: next.hostId,
      sessionId: null,
      atMs,
      previousStatus: prev?.status ?? null,
      session: null,
      host: next,
    },
  ];
}

/** Counts from publishing a batch of notices: how many were stored, and how many FLEET had already. */
export interface FleetPublishResult {
  stored: number;
  duplicates: number;
}

/**
 * Publishes notices to `codex.fleet.<kind>` with `Nats-Msg-Id` = `id`; throws a BusError on failure.
 * The publishes are pipelined: they leave one connection in order, so FLEET stores them in order, and the
 * batch costs one round trip instead of one per notice. Notices are built here by typed pure functions, so
 * they are not parsed again on the way out; the tests read FLEET back through the `FleetEvent` schema.
 */
export async function publishFleetEvents(
  js: JetStreamClient | JetStreamPublisher,
  events: readonly FleetEvent[],
): Promise<FleetPublishResult> {
  const result: FleetPublishResult = { stored: 0, duplicates: 0 };
  const publish = (subject: string, data: string, msgId: string) =>
    js instanceof JetStreamPublisher
      ? js.publish(subject, data, { msgId })
      : js.publish(subject, data, { msgID: msgId });
  const acks = events.map((event) =>
    publish(subjects.fleet(event.kind), JSON.stringify(event), event.id).then(
      (ack) => ack,
      (err: unknown) => {
        throw toBusError(err, `publish fleet notice ${event.id}`);
      },
    ),
  );
  for (const ack of await Promise.all(acks)) {
    if (ack.duplicate) result.duplicates++;
    else result.stored++;
  }
  return result;
}
