/**
 * Why a session needs a person: the one rule the registry's `attention` and `waiting` filters, the CLI's
 * `attention` view, the `NEEDS` column and the dashboard's queue share. Pure.
 */
import { budgetStopsNow } from "../../schemas/budget.js";
import type { SessionRecord } from "../../schemas/registry.js";

/**
 * What a session waits for: an approval, the user's input, an answer to its ask, an operator to lift a budget's
 * stop, a taker, or a look.
 */
export type AttentionNeed = "approval" | "input" | "ask" | "budget" | "escalated" | "handoff" | "error" | "stale";

/** One reason a session needs a person; `sinceMs` is since when (unix ms), the best the record tells. */
export interface AttentionReason {
  needs: AttentionNeed;
  sinceMs: number;
  /** One line: the question, the approval's summary, the handoff note, what is wrong. */
  detail: string;
  /** For `approval`: the request `approve`/`decline` name, when the supervisor holds it. */
  requestId?: string;
  /** For `approval`: when the held request is declined unless answered (unix ms). */
  deadlineAtMs?: number;
  /** For `ask`: the correlation id `reply --correlation` answers. */
  correlationId?: string;
}

/** The needs that mean the session is blocked on someone (the `waiting` filter and the NEEDS column). */
export const WAITING_NEEDS: readonly AttentionNeed[] = ["approval", "input", "ask"];

const finished = (r: SessionRecord): boolean => r.disposition === "done" || r.disposition === "abandoned";

/**
 * Every reason `record` needs a person, in a fixed order (approval, input, ask, budget, escalated, handoff, error,
 * stale): an approval the supervisor holds or the session waits on, a request for input, an unanswered ask, a
 * budget's stop no operator lifted yet (issue 19: the session is blocked until `budget lift`), an escalation that
 * went up the Claw groups to people and no Claw accepted, a handoff request, an error, a stale or unknown status.
 * A session marked done or abandoned keeps only what still blocks it (approval, input, ask): its budget stop,
 * handoff, error or staleness needs nobody. Pure.
 */
export function attentionReasons(record: SessionRecord): AttentionReason[] {
  const out: AttentionReason[] = [];
  if (record.approval !== null) {
    const a = record.approval;
    out.push({
      needs: "approval",
      sinceMs: a.atMs,
      detail: `${a.kind}: ${a.summary}`,
      requestId: a.requestId,
      deadlineAtMs: a.deadlineAtMs,
    });
  } else if (record.waitingOn === "approval") {
    out.push({
      needs: "approval",
      sinceMs: record.lastSeenAt,
      detail: record.humanAttached ? "an approval at the person's TUI" : "an approval",
    });
  }
  if (record.waitingOn === "userInput") {
    out.push({
      needs: "input",
      sinceMs: record.lastSeenAt,
      detail: record.humanAttached ? "input at the person's TUI" : "input",
    });
  }
  if (record.ask !== null) {
    const q = record.ask;
    out.push({ needs: "ask", sinceMs: q.atMs, detail: `${q.kind}: ${q.question}`, correlationId: q.correlationId });
  }
  if (finished(record)) return out;
  const b = record.budget;
  if (b !== null && budgetStopsNow(b)) {
    out.push({
      needs: "budget",
      sinceMs: b.atMs,
      detail: `limit ${b.limitId} (${b.periodKey})${b.reason ? `: ${b.reason}` : ""}`,
    });
  }
  const e = record.escalation;
  if (e !== null && e.toGroup === null && e.acceptedBy === null) {
    const from = e.fromGroup === null ? "" : ` from group ${e.fromGroup}`;
    out.push({
      needs: "escalated",
      sinceMs: e.atMs,
      detail: `${e.reason}${e.question ? `: ${e.question}` : ""} (escalated${from} by ${e.by})`,
    });
  }
  if (record.handoff !== null) {
    const h = record.handoff;
    const to = h.to.kind === "session" ? `session ${h.to.sessionId}` : `a person${h.to.who ? ` (${h.to.who})` : ""}`;
    out.push({ needs: "handoff", sinceMs: h.atMs, detail: `to ${to} by ${h.by}${h.note ? `: ${h.note}` : ""}` });
  }
  if (record.status === "error") {
    out.push({ needs: "error", sinceMs: record.lastSeenAt, detail: record.summary ?? "the session failed" });
  }
  if (record.status === "stale" || record.status === "unknown") {
    out.push({ needs: "stale", sinceMs: record.lastSeenAt, detail: `status ${record.status}` });
  }
  return out;
}

/** True when the session waits on an approval or input, or holds an unanswered ask. Pure. */
export function isWaiting(record: SessionRecord): boolean {
  return record.approval !== null || record.waitingOn !== null || record.ask !== null;
}

/** True when `attentionReasons(record)` has any reason. Pure. */
export function needsAttention(record: SessionRecord): boolean {
  return attentionReasons(record).length > 0;
}
