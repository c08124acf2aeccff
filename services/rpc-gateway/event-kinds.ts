/**
 * Which session event kinds the gateway stores, with no I/O. `agent/...` kinds are our own closed set and
 * their payloads must match their schemas; app-server notifications the supervisor has a schema for must
 * match it; any other app-server method name is stored as it is, so a newer Codex's notifications still
 * reach the log for replay.
 */
import type { z } from "zod";
import {
  AnnotationPayload,
  AppServerPayload,
  ApprovalPayload,
  GapPayload,
  HOST_THREAD_ID,
  PresencePayload,
  ThreadSyncedPayload,
  agentEventTypes,
} from "../../schemas/agent-events.js";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import { isKnownNotification, notifications } from "../../schemas/codex/notifications.js";
import { isSubjectToken } from "../bus/index.js";

const agentPayloads: Record<string, z.ZodType> = {
  [agentEventTypes.threadSynced]: ThreadSyncedPayload,
  [agentEventTypes.presence]: PresencePayload,
  [agentEventTypes.gap]: GapPayload,
  [agentEventTypes.approval]: ApprovalPayload,
  [agentEventTypes.annotation]: AnnotationPayload,
  [agentEventTypes.appServer]: AppServerPayload,
};

// An app-server notification method: camelCase segments separated by '/', e.g. `item/agentMessage/delta`.
const METHOD_NAME = /^[A-Za-z][A-Za-z0-9]*(\/[A-Za-z][A-Za-z0-9_-]*)*$/;
const MAX_ISSUES = 3;

/** `path: message` for the first few zod issues, joined with "; ". Pure. */
export function describeIssues(error: z.ZodError, prefix = ""): string {
  const shown = error.issues.slice(0, MAX_ISSUES).map((i) => {
    const where = [prefix, ...i.path.map(String)].filter(Boolean).join(".");
    return where ? `${where}: ${i.message}` : i.message;
  });
  const more = error.issues.length > MAX_ISSUES ? ` (and ${error.issues.length - MAX_ISSUES} more)` : "";
  return shown.join("; ") + more;
}

/** Why the gateway will not store `event` (assumed to be a valid envelope), or null when it will. Pure. */
export function eventKindProblem(event: SessionEventEnvelope): string | null {
  if (!isSubjectToken(event.threadId)) {
    return `threadId ${JSON.stringify(event.threadId)} must not contain '.', '*', '>', whitespace or control characters`;
  }
  if (event.type.startsWith("agent/")) {
    const schema = agentPayloads[event.type];
    if (!schema) {
      return `unknown agent event type ${JSON.stringify(event.type)}; expected one of ${Object.keys(agentPayloads).join(", ")}`;
    }
    const parsed = schema.safeParse(event.payload);
    if (!parsed.success) return `invalid ${event.type} payload: ${describeIssues(parsed.error, "payload")}`;
    if (
      (event.type === agentEventTypes.gap || event.type === agentEventTypes.appServer) &&
      event.threadId !== HOST_THREAD_ID
    ) {
      return `${event.type} must be sent with threadId ${JSON.stringify(HOST_THREAD_ID)}`;
    }
    if (
      event.type === agentEventTypes.threadSynced &&
      (parsed.data as ThreadSyncedPayload).thread.id !== event.threadId
    ) {
      return `${event.type} payload.thread.id must equal threadId ${JSON.stringify(event.threadId)}`;
    }
    return null;
  }
  if (isKnownNotification(event.type)) {
    const parsed = notifications[event.type].params.safeParse(event.payload);
    return parsed.success ? null : `invalid ${event.type} payload: ${describeIssues(parsed.error, "payload")}`;
  }
  if (!METHOD_NAME.test(event.type)) {
    return `unknown event type ${JSON.stringify(event.type)}: neither an agent/ kind nor an app-server method name`;
  }
  return null;
}
