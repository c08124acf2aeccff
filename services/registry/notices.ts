/**
 * Fleet notices: which record transitions the Claw must hear about, with ids made from their cause so a
 * redelivered event yields the same id. Pure: records and times in, notices out; `fleet.ts` publishes them.
 */
import { agentEventTypes, ApprovalPayload } from "../../schemas/agent-events.js";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import { fleetPriorityOf, type FleetEvent, type FleetKind } from "../../schemas/fleet.js";
import type { HostRecord, SessionRecord } from "../../schemas/registry.js";

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
  if (next.approval !== null && prev?.approval?.requestId !== next.approval.requestId) kinds.push("approval-requested");
  if (next.escalation !== null && prev?.escalation?.id !== next.escalation.id) kinds.push("session-escalated");
  // A budget's warning or stop (issue 19): once per id and state (the fold keeps a repeated mark as it was).
  const budget = next.budget;
  if (
    budget !== null &&
    budget !== prev?.budget &&
    (budget.id !== prev?.budget?.id || budget.state !== prev.budget.state)
  ) {
    if (budget.state === "warned") kinds.push("budget-warning");
    else if (budget.state === "stopped") kinds.push("budget-stopped");
  }
  return kinds.map((kind) => sessionNotice(kind, prev, next, cause));
}

/**
 * The notices an envelope calls for by what it reports rather than by the record change it makes: an
 * `approval-answered` for each `agent/approval` answer (by the rules, a deadline or a caller) and for each held
 * approval let go unanswered (decision `released`), whether or not the session's record changed. `session` is
 * the record after the envelope. Pure.
 */
export function envelopeNotices(env: SessionEventEnvelope, session: SessionRecord): FleetEvent[] {
  if (env.type !== agentEventTypes.approval) return [];
  const parsed = ApprovalPayload.safeParse(env.payload);
  if (!parsed.success || parsed.data.state === "held") return [];
  const a = parsed.data;
  const notice = sessionNotice("approval-answered", session, session, {
    atMs: env.emittedAtMs,
    token: `${env.epoch}:${env.seq}`,
  });
  return [
    {
      ...notice,
      previousStatus: null,
      answer: {
        requestId: String(a.requestId),
        method: a.method,
        decision: a.state === "released" ? "released" : a.allow ? "accept" : "decline",
        by: a.by,
        reason: a.reason,
        kind: a.kind ?? null,
        summary: a.summary ?? null,
      },
    },
  ];
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

// JSON text of session records, shared by the KV entry and the FLEET notices that carry the same record object
// (records are never changed once made: each transition makes a new one).
const recordTexts = new WeakMap<SessionRecord, string>();

/** `JSON.stringify(record)`, made once per record object. */
export function recordJson(record: SessionRecord): string {
  let text = recordTexts.get(record);
  if (text === undefined) {
    text = JSON.stringify(record);
    recordTexts.set(record, text);
  }
  return text;
}

const SESSION_NOTICE_KEYS = [
  "id",
  "kind",
  "priority",
  "hostId",
  "sessionId",
  "atMs",
  "previousStatus",
  "session",
  "host",
];

/** True when `notice` has exactly the keys a session notice has, in that order (no key array made). */
function sessionNoticeLayout(notice: FleetEvent): boolean {
  let i = 0;
  for (const key in notice) if (key !== SESSION_NOTICE_KEYS[i++]) return false;
  return i === SESSION_NOTICE_KEYS.length;
}

/**
 * `JSON.stringify(notice)`, with a session notice's record text taken from `recordJson` (the KV entry usually
 * made it already). The same text: a notice with any other layout is stringified as it is.
 */
export function noticeJson(notice: FleetEvent): string {
  if (notice.session === null || notice.host !== null || !sessionNoticeLayout(notice)) return JSON.stringify(notice);
  return `{"id":${JSON.stringify(notice.id)},"kind":${JSON.stringify(notice.kind)},"priority":${JSON.stringify(notice.priority)},"hostId":${JSON.stringify(notice.hostId)},"sessionId":${JSON.stringify(notice.sessionId)},"atMs":${JSON.stringify(notice.atMs)},"previousStatus":${JSON.stringify(notice.previousStatus)},"session":${recordJson(notice.session)},"host":null}`;
}
