/**
 * From a bus envelope on `codex.evt.<hostId>.<threadId>` to the session machine's events. Pure and total:
 * every envelope maps to a list of events, none throws.
 */
import {
  agentEventTypes,
  AnnotationPayload,
  ApprovalPayload,
  HOST_THREAD_ID,
  PresencePayload,
  ThreadSyncedPayload,
} from "../schemas/agent-events.js";
import type { SessionEventEnvelope } from "../schemas/bus.js";
import { notifications } from "../schemas/codex/notifications.js";
import type { ThreadActiveFlag, ThreadStatus } from "../schemas/codex/thread.js";
import type { SessionMachineEvent } from "./session.js";
import { tokenCountsOf } from "./session-spend.js";

const ACTIVE_FLAGS: ReadonlySet<unknown> = new Set<ThreadActiveFlag>(["waitingOnApproval", "waitingOnUserInput"]);
const FLAGLESS_STATUSES: ReadonlySet<unknown> = new Set(["notLoaded", "idle", "systemError"]);

/**
 * True when `payload` is a `thread/status/changed` params object in its plain form, `{ threadId, status }` with a
 * status of `{ type }` (`notLoaded`, `idle`, `systemError`) or `{ type: "active", activeFlags: [...known flags] }`
 * and no other key: the schema accepts it and its output equals it (its loose objects keep what they get).
 * Anything else, extra keys included, is left to the schema, which either accepts it after all or not. The most
 * frequent event a registry folds (`from-bus.test.ts` holds the two to agreement). Pure.
 */
export function isPlainStatusChanged(payload: unknown): payload is { threadId: string; status: ThreadStatus } {
  if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return false;
  let keys = 0;
  for (const key in payload) {
    if (key !== "threadId" && key !== "status") return false;
    keys++;
  }
  const { threadId, status } = payload as { threadId?: unknown; status?: unknown };
  if (keys !== 2 || typeof threadId !== "string") return false;
  if (typeof status !== "object" || status === null || Array.isArray(status)) return false;
  const s = status as { type?: unknown; activeFlags?: unknown };
  let statusKeys = 0;
  for (const key in s) {
    if (key !== "type" && key !== "activeFlags") return false;
    statusKeys++;
  }
  if (FLAGLESS_STATUSES.has(s.type)) return statusKeys === 1;
  if (s.type !== "active" || statusKeys !== 2 || !Array.isArray(s.activeFlags)) return false;
  for (const flag of s.activeFlags as unknown[]) if (!ACTIVE_FLAGS.has(flag)) return false;
  return true;
}

/**
 * The session events one envelope means, with `atMs` = the envelope's `emittedAtMs`.
 * `agent/thread.synced` → SYNCED, `agent/presence` → PRESENCE, `agent/annotation` → MARK, ASSIGN, HANDOFF, PROGRESS, ASK, ASK_ANSWERED, ESCALATE, ESCALATION_ACCEPTED or BUDGET, `thread/started` (with the thread's model) and `thread/status/changed` →
 * STATUS, `thread/tokenUsage/updated` → TOKEN_USAGE (its cumulative `total`), `thread/closed` → CLOSED, `turn/started` → TURN_STARTED, `turn/completed` → TURN_COMPLETED,
 * `item/started`/`item/completed` → ITEM, `agent/approval` → APPROVAL_HELD (held) or APPROVAL_DONE (answered, released),
 * `serverRequest/resolved` → APPROVAL_DONE. Every other type (deltas, errors, warnings, kinds
 * added later) → ACTIVITY; so does a known type whose payload fails its zod schema:
 * a malformed payload still proves the session is alive, but says nothing trustworthy about its state.
 * Envelopes about the host itself (`threadId` = HOST_THREAD_ID, e.g. `agent/gap`) map to no session event.
 */
export function sessionEventsOf(envelope: SessionEventEnvelope): SessionMachineEvent[] {
  if (envelope.threadId === HOST_THREAD_ID) return [];
  const atMs = envelope.emittedAtMs;
  const activity: SessionMachineEvent[] = [{ type: "ACTIVITY", atMs }];
  const { type, payload } = envelope;
  switch (type) {
    case agentEventTypes.threadSynced: {
      const parsed = ThreadSyncedPayload.safeParse(payload);
      return parsed.success ? [{ type: "SYNCED", snapshot: parsed.data, atMs }] : activity;
    }
    case agentEventTypes.presence: {
      const parsed = PresencePayload.safeParse(payload);
      return parsed.success ? [{ type: "PRESENCE", humanAttached: parsed.data.humanAttached, atMs }] : activity;
    }
    case agentEventTypes.annotation: {
      const parsed = AnnotationPayload.safeParse(payload);
      if (!parsed.success) return activity;
      const a = parsed.data;
      if (a.kind === "mark") return [{ type: "MARK", disposition: a.disposition }];
      if (a.kind === "handoff") return [{ type: "HANDOFF", handoff: a.handoff }];
      if (a.kind === "progress") return [{ type: "PROGRESS", summary: a.summary, progress: a.progress }];
      if (a.kind === "ask") return [{ type: "ASK", ask: a.ask }];
      if (a.kind === "answered") return [{ type: "ASK_ANSWERED", correlationId: a.correlationId }];
      if (a.kind === "escalate") return [{ type: "ESCALATE", escalation: a.escalation }];
      if (a.kind === "escalation-accepted") return [{ type: "ESCALATION_ACCEPTED", id: a.id, by: a.by, atMs: a.atMs }];
      if (a.kind === "budget") return [{ type: "BUDGET", budget: a.budget }];
      return [
        {
          type: "ASSIGN",
          ...(a.group === undefined ? {} : { group: a.group }),
          ...(a.owner === undefined ? {} : { owner: a.owner }),
        },
      ];
    }
    case agentEventTypes.approval: {
      const parsed = ApprovalPayload.safeParse(payload);
      if (!parsed.success) return activity;
      const a = parsed.data;
      const requestId = String(a.requestId);
      if (a.state !== "held") return [{ type: "APPROVAL_DONE", requestId, atMs }];
      const approval = {
        requestId,
        kind: a.kind ?? a.method,
        summary: a.summary ?? "",
        atMs: a.atMs ?? atMs,
        deadlineAtMs: a.deadlineAtMs ?? atMs,
      };
      return [{ type: "APPROVAL_HELD", approval, atMs }];
    }
    case "serverRequest/resolved": {
      const parsed = notifications["serverRequest/resolved"].params.safeParse(payload);
      return parsed.success ? [{ type: "APPROVAL_DONE", requestId: String(parsed.data.requestId), atMs }] : activity;
    }
    case "thread/started": {
      const parsed = notifications["thread/started"].params.safeParse(payload);
      if (!parsed.success) return activity;
      const { status, model } = parsed.data.thread;
      return [typeof model === "string" ? { type: "STATUS", status, atMs, model } : { type: "STATUS", status, atMs }];
    }
    case "thread/status/changed": {
      if (isPlainStatusChanged(payload)) return [{ type: "STATUS", status: payload.status, atMs }];
      const parsed = notifications["thread/status/changed"].params.safeParse(payload);
      return parsed.success ? [{ type: "STATUS", status: parsed.data.status, atMs }] : activity;
    }
    case "thread/tokenUsage/updated": {
      const parsed = notifications["thread/tokenUsage/updated"].params.safeParse(payload);
      const total = parsed.success ? tokenCountsOf(parsed.data.tokenUsage.total) : null;
      return total === null ? activity : [{ type: "TOKEN_USAGE", total, atMs }];
    }
    case "thread/closed": {
      const parsed = notifications["thread/closed"].params.safeParse(payload);
      return parsed.success ? [{ type: "CLOSED", atMs }] : activity;
    }
    case "turn/started": {
      const parsed = notifications["turn/started"].params.safeParse(payload);
      return parsed.success ? [{ type: "TURN_STARTED", turnId: parsed.data.turn.id, atMs }] : activity;
    }
    case "turn/completed": {
      const parsed = notifications["turn/completed"].params.safeParse(payload);
      if (!parsed.success) return activity;
      return [{ type: "TURN_COMPLETED", turnId: parsed.data.turn.id, status: parsed.data.turn.status, atMs }];
    }
    case "item/started":
    case "item/completed": {
      const parsed = notifications[type].params.safeParse(payload);
      if (!parsed.success) return activity;
      return [{ type: "ITEM", turnId: parsed.data.turnId, itemType: parsed.data.item.type, atMs }];
    }
    default:
      return activity;
  }
}
