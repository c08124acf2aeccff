/**
 * Pure readings of what session events carry, for the session machine's guards and actions: where a thread
 * status leads, which active flags it holds, when a session was last seen. Total: malformed input gives
 * "no target" or "unchanged", never an exception, so a bad event cannot fail an actor.
 */
import { ThreadSyncedPayload } from "../schemas/agent-events.js";
import type { ThreadActiveFlag, ThreadStatus } from "../schemas/codex/thread.js";
import { Disposition } from "../schemas/registry.js";

/** A leaf of the session machine a thread status leads to. */
export type StatusTarget = "idle" | "closed" | "error" | "working" | "waitingOnApproval" | "waitingOnUserInput";

/** Where a thread status leads: idle→idle, notLoaded→closed, systemError→error, active→its flag's substate; null when unreadable. */
export function statusTarget(status: ThreadStatus | undefined): StatusTarget | null {
  switch (status?.type) {
    case "idle":
      return "idle";
    case "notLoaded":
      return "closed";
    case "systemError":
      return "error";
    case "active": {
      const flags = activeFlagsOf(status);
      if (flags.includes("waitingOnApproval")) return "waitingOnApproval";
      if (flags.includes("waitingOnUserInput")) return "waitingOnUserInput";
      return "working";
    }
    default:
      return null;
  }
}

/** The known active flags of a status; empty for any status that is not `active` or has no readable flags. */
export function activeFlagsOf(status: ThreadStatus | undefined): ThreadActiveFlag[] {
  if (status?.type !== "active" || !Array.isArray(status.activeFlags)) return [];
  return status.activeFlags.filter(
    (f): f is ThreadActiveFlag => f === "waitingOnApproval" || f === "waitingOnUserInput",
  );
}

/** The later of `lastSeenAt` and the event's `atMs` (unix ms, floored); unchanged when the event has no usable time. */
export function seenAt(lastSeenAt: number, event: object): number {
  const at = (event as { atMs?: unknown }).atMs;
  if (typeof at !== "number" || !Number.isFinite(at) || at < 0) return lastSeenAt;
  return Math.max(lastSeenAt, Math.floor(at));
}

/** True when `value` is a well-formed `agent/thread.synced` payload. */
export function isSyncedPayload(value: unknown): value is ThreadSyncedPayload {
  return ThreadSyncedPayload.safeParse(value).success;
}

/** True when `value` is one of the supervisor's disposition marks. */
export function isDisposition(value: unknown): value is Disposition {
  return Disposition.safeParse(value).success;
}
