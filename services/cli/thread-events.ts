/**
 * The session events `--wait` and `--follow` read from CODEX_EVENTS, parsed: a completed item, a turn that
 * started or ended, and the host agent's thread snapshot (which says which turn it believes is running). Each
 * envelope and payload is checked with the project's schemas; anything else is `null` (skipped). Pure.
 */
import { ThreadSyncedPayload, agentEventTypes } from "../../schemas/agent-events.js";
import { SessionEventEnvelopeSchema } from "../../schemas/bus.js";
import { notifications, type ThreadItem, type Turn } from "../../schemas/codex/index.js";

interface Where {
  hostId: string;
  threadId: string;
}

/** One event of a thread that `--wait` or `--follow` acts on. */
export type ThreadEvent =
  | (Where & { kind: "item"; turnId: string; item: ThreadItem; completedAtMs: number })
  | (Where & { kind: "turnStarted"; turn: Turn })
  | (Where & { kind: "turnCompleted"; turn: Turn })
  | (Where & { kind: "synced"; activeTurnId: string | null; active: boolean });

const decoder = new TextDecoder();

/** The event a stored CODEX_EVENTS message holds, or null when it is none of the kinds above or malformed. Pure. */
export function parseThreadEvent(data: Uint8Array): ThreadEvent | null {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch {
    return null;
  }
  const env = SessionEventEnvelopeSchema.safeParse(raw);
  if (!env.success) return null;
  const { hostId, threadId, type, payload } = env.data;
  switch (type) {
    case "item/completed": {
      const p = notifications["item/completed"].params.safeParse(payload);
      return p.success
        ? {
            kind: "item",
            hostId,
            threadId,
            turnId: p.data.turnId,
            item: p.data.item,
            completedAtMs: p.data.completedAtMs,
          }
        : null;
    }
    case "turn/started":
    case "turn/completed": {
      const p = notifications[type].params.safeParse(payload);
      if (!p.success) return null;
      return { kind: type === "turn/started" ? "turnStarted" : "turnCompleted", hostId, threadId, turn: p.data.turn };
    }
    case agentEventTypes.threadSynced: {
      const p = ThreadSyncedPayload.safeParse(payload);
      return p.success
        ? {
            kind: "synced",
            hostId,
            threadId,
            activeTurnId: p.data.activeTurnId,
            active: p.data.thread.status.type === "active",
          }
        : null;
    }
    default:
      return null;
  }
}
