/**
 * Recovering the turn events of a brand-new thread that the agent could only subscribe to after its first
 * turn began (`thread/resume` fails with "no rollout found" until then). Pure: from the thread's turns (as
 * `thread/turns/list` returns them, oldest first, items included) and the notifications that did arrive, it
 * builds the `turn/started`, `item/completed` and `turn/completed` notifications the agent missed. Each
 * recovered one carries `recoveredByAgent: true` in its params.
 */
import type { RawNotification } from "../codex-rpc/index.js";
import type { Turn } from "../../schemas/codex/index.js";

/** Marker field set in the params of every recovered notification. */
export const RECOVERED_FIELD = "recoveredByAgent";

/** The notifications missed for `threadId`: everything in `turns` that `arrived` does not already cover, in order. */
export function missedTurnNotifications(
  threadId: string,
  turns: readonly Turn[],
  arrived: readonly RawNotification[],
  nowMs: number,
): RawNotification[] {
  const started = new Set<string>();
  const completed = new Set<string>();
  const items = new Set<string>();
  for (const n of arrived) {
    const p = n.params as { turn?: { id?: unknown }; item?: { id?: unknown } } | undefined;
    if (n.method === "turn/started" && typeof p?.turn?.id === "string") started.add(p.turn.id);
    if (n.method === "turn/completed" && typeof p?.turn?.id === "string") completed.add(p.turn.id);
    if ((n.method === "item/started" || n.method === "item/completed") && typeof p?.item?.id === "string")
      items.add(p.item.id);
  }
  const out: RawNotification[] = [];
  for (const turn of turns) {
    const startedAtMs = seconds(turn.startedAt) ?? nowMs;
    if (!started.has(turn.id)) {
      out.push({
        method: "turn/started",
        params: {
          threadId,
          turn: { ...turn, items: [], status: "inProgress", completedAt: null, durationMs: null },
          [RECOVERED_FIELD]: true,
        },
        emittedAtMs: startedAtMs,
      });
    }
    for (const item of turn.items) {
      if (items.has(item.id)) continue;
      const completedAtMs = typeof item.completedAtMs === "number" ? item.completedAtMs : startedAtMs;
      out.push({
        method: "item/completed",
        params: { threadId, turnId: turn.id, item, completedAtMs, [RECOVERED_FIELD]: true },
        emittedAtMs: completedAtMs,
      });
    }
    if (turn.status !== "inProgress" && !completed.has(turn.id)) {
      out.push({
        method: "turn/completed",
        params: { threadId, turn, [RECOVERED_FIELD]: true },
        emittedAtMs: seconds(turn.completedAt) ?? nowMs,
      });
    }
  }
  return out;
}

function seconds(value: number | null | undefined): number | undefined {
  return typeof value === "number" ? value * 1000 : undefined;
}
