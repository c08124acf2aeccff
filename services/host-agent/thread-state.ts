/**
 * What the agent knows about one tracked thread, and how each app-server notification changes it. Pure.
 * The watcher holds one TrackedThread per non-ephemeral loaded thread.
 */
import { ThreadStatus, type Thread } from "../../schemas/codex/index.js";
import type { ThreadSnapshot } from "../../schemas/agent-events.js";

/**
 * Where the agent's subscription to a thread stands. `pending`: `thread/resume` said "no rollout found" yet.
 * `released`: the agent unsubscribed from the idle thread so codex may unload it (idle-unload.ts); only status
 * changes arrive for it until it is unloaded (`thread/closed`) or subscribed again.
 */
export type SubscriptionState = "none" | "subscribing" | "subscribed" | "pending" | "released";

/** The agent's view of one thread. */
export interface TrackedThread {
  readonly id: string;
  thread: ThreadSnapshot;
  /** The in-progress turn, from turn events or `thread/turns/list`; null when none is known. */
  activeTurnId: string | null;
  subscription: SubscriptionState;
  /** When the thread started as the agent saw it (unix ms): receipt of `thread/started`, else its createdAt. */
  startedAtMs: number;
  /** Counts turn/started and turn/completed seen, so a slower turn look-up never overwrites a newer event. */
  turnEvents: number;
  /** The last turn a turn event named; null before any. */
  lastTurnId: string | null;
  /** When anything last happened to the thread as the agent saw it (unix ms): tracked, a notification, subscribed. */
  lastActivityMs: number;
}

/** The snapshot fields of a Codex Thread. Pure. */
export function snapshotOf(thread: Thread): ThreadSnapshot {
  return {
    id: thread.id,
    status: thread.status,
    cwd: thread.cwd,
    preview: thread.preview,
    name: thread.name ?? null,
    ephemeral: thread.ephemeral,
    createdAt: thread.createdAt,
    updatedAt: thread.updatedAt,
    source:
      typeof thread.source === "string" ? thread.source : thread.source == null ? null : JSON.stringify(thread.source),
    // The model the registry prices the session's tokens by (issue 19).
    model: thread.model ?? null,
  };
}

/** A new TrackedThread for a thread that started at `startedAtMs`, tracked from `nowMs`. Pure. */
export function newTrackedThread(thread: Thread, startedAtMs: number, nowMs: number): TrackedThread {
  return {
    id: thread.id,
    thread: snapshotOf(thread),
    activeTurnId: null,
    subscription: "none",
    startedAtMs,
    turnEvents: 0,
    lastTurnId: null,
    lastActivityMs: nowMs,
  };
}

/** The thread a notification is about (`params.threadId`, or `params.thread.id` for thread/started); null for host-wide ones. Pure. */
export function threadIdOf(params: unknown): string | null {
  if (!isRecord(params)) return null;
  if (typeof params.threadId === "string") return params.threadId;
  if (isRecord(params.thread) && typeof params.thread.id === "string") return params.thread.id;
  return null;
}

/** Applies one notification about the thread to its state; unknown methods change nothing. Mutates and returns `t`. */
export function applyNotification(t: TrackedThread, method: string, params: unknown): TrackedThread {
  if (!isRecord(params)) return t;
  switch (method) {
    case "thread/status/changed": {
      const status = ThreadStatus.safeParse(params.status);
      if (status.success) t.thread = { ...t.thread, status: status.data };
      break;
    }
    case "turn/started": {
      const turnId = turnIdOf(params);
      if (turnId) t.activeTurnId = t.lastTurnId = turnId;
      t.turnEvents++;
      break;
    }
    case "turn/completed": {
      const turnId = turnIdOf(params);
      if (t.activeTurnId === null || t.activeTurnId === turnId) t.activeTurnId = null;
      if (turnId) t.lastTurnId = turnId;
      t.turnEvents++;
      break;
    }
    case "thread/name/updated":
      if (typeof params.threadName === "string" || params.threadName === null)
        t.thread = { ...t.thread, name: params.threadName };
      break;
    case "thread/closed":
      t.thread = { ...t.thread, status: { type: "notLoaded" } };
      t.activeTurnId = null;
      break;
  }
  return t;
}

function turnIdOf(params: Record<string, unknown>): string | null {
  return isRecord(params.turn) && typeof params.turn.id === "string" ? params.turn.id : null;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
