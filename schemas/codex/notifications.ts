/**
 * Server→client notifications the supervisor reads, keyed by method, with the generated definition each
 * is checked against. Every notification also carries an `emittedAtMs` envelope field (unix ms).
 */
import { z } from "zod";
import { Thread, ThreadItem, ThreadStatus, ThreadTokenUsage, Turn, TurnError } from "./thread.js";

/** The notification params the supervisor understands, by method. */
export const notifications = {
  "thread/started": { params: z.looseObject({ thread: Thread }), generated: "ThreadStartedNotification" },
  "thread/status/changed": {
    params: z.looseObject({ threadId: z.string(), status: ThreadStatus }),
    generated: "ThreadStatusChangedNotification",
  },
  "thread/closed": { params: z.looseObject({ threadId: z.string() }), generated: "ThreadClosedNotification" },
  "turn/started": {
    params: z.looseObject({ threadId: z.string(), turn: Turn }),
    generated: "TurnStartedNotification",
  },
  "turn/completed": {
    params: z.looseObject({ threadId: z.string(), turn: Turn }),
    generated: "TurnCompletedNotification",
  },
  "item/started": {
    params: z.looseObject({ threadId: z.string(), turnId: z.string(), item: ThreadItem, startedAtMs: z.number() }),
    generated: "ItemStartedNotification",
  },
  "item/completed": {
    params: z.looseObject({ threadId: z.string(), turnId: z.string(), item: ThreadItem, completedAtMs: z.number() }),
    generated: "ItemCompletedNotification",
  },
  "item/agentMessage/delta": {
    params: z.looseObject({ threadId: z.string(), turnId: z.string(), itemId: z.string(), delta: z.string() }),
    generated: "AgentMessageDeltaNotification",
  },
  "serverRequest/resolved": {
    params: z.looseObject({ threadId: z.string(), requestId: z.union([z.string(), z.number().int()]) }),
    generated: "ServerRequestResolvedNotification",
  },
  error: {
    params: z.looseObject({ error: TurnError, willRetry: z.boolean(), threadId: z.string(), turnId: z.string() }),
    generated: "ErrorNotification",
  },
  warning: {
    params: z.looseObject({ message: z.string(), threadId: z.string().nullish() }),
    generated: "WarningNotification",
  },
  configWarning: { params: z.looseObject({ summary: z.string() }), generated: "ConfigWarningNotification" },
  deprecationNotice: { params: z.looseObject({ summary: z.string() }), generated: "DeprecationNoticeNotification" },
  "thread/tokenUsage/updated": {
    params: z.looseObject({ threadId: z.string(), turnId: z.string(), tokenUsage: ThreadTokenUsage }),
    generated: "ThreadTokenUsageUpdatedNotification",
  },
} as const;

/** A notification method the supervisor understands. */
export type NotificationMethod = keyof typeof notifications;
/** Parsed params of a known notification. */
export type NotificationParams<M extends NotificationMethod> = z.infer<(typeof notifications)[M]["params"]>;

/** Notifications a supervisor connection usually opts out of: high volume, no state change. */
export const noisyNotificationMethods = [
  "item/agentMessage/delta",
  "item/reasoning/summaryTextDelta",
  "item/reasoning/textDelta",
  "item/reasoning/summaryPartAdded",
  "item/commandExecution/outputDelta",
  "item/fileChange/outputDelta",
  "item/plan/delta",
  "command/exec/outputDelta",
] as const;

/** True when `method` is a notification the supervisor has a schema for. */
export function isKnownNotification(method: string): method is NotificationMethod {
  return Object.hasOwn(notifications, method);
}
