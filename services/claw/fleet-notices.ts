/**
 * From FLEET notices to what the Claw reads: one short line per notice, a `contextKey` per session (or host)
 * and kind, and coalescing: notices with the same key that arrive together become one line that keeps the
 * latest state and says how many there were. Pure.
 */
import type { FleetEvent, FleetKind } from "../../schemas/fleet.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { costText, tokensText } from "../clients/spend-text.js";

/** One system event to enqueue. */
export interface FleetNotice {
  contextKey: string;
  text: string;
  /** The FLEET notice ids it stands for. */
  ids: string[];
}

const what: Record<FleetKind, string> = {
  "session-new": "new session",
  "session-waiting-approval": "waiting on an approval",
  "session-waiting-input": "waiting on user input",
  "session-idle": "idle again",
  "session-stale": "stale (its host was lost)",
  "session-error": "in error",
  "session-closed": "closed",
  "session-marked": "marked",
  "session-handoff": "handoff requested",
  "session-assigned": "assigned",
  "session-progress": "progress",
  "session-ask": "asks the Claw",
  "host-stale": "host stale",
  "host-conflict": "claimed by two host agents (the newer connection holds it; the other agent stopped)",
  "approval-requested": "asks for an approval",
  "approval-answered": "approval answered",
  "session-adopted": "now yours (you hold its lease)",
  "session-escalated": "escalated to your group (fleet_accept takes it over)",
  "budget-warning": "near or over a budget",
  "budget-stopped": "stopped by a budget (turn interrupted, marked blocked)",
};

const next: Partial<Record<FleetKind, string>> = {
  "session-new": "fleet_read to look at it",
  "session-waiting-approval":
    "a person answers on a human-attached session; an approval held for the fleet comes as its own event; fleet_read for details",
  "session-waiting-input": "fleet_read, then fleet_send to answer",
  "session-ask": "answer with fleet_reply and the correlation id",
  "session-handoff": "fleet_read for the note",
  "session-stale": "fleet_hosts for the host",
  "session-error": "fleet_read for the error",
  "host-stale": "fleet_hosts",
  "budget-warning":
    "fleet_budget shows the use against each limit; an autonomous session over a limit is stopped, a person's keeps working",
  "budget-stopped":
    "send, reply and spawn to it are refused (budget_exceeded): do not retry; an operator lifts it with claw-supervisor budget lift; fleet_escalate to people if it must go on",
};

/** What a session spent, as a notice says it: `spent 1.2M tokens ($4.12)`, `(unpriced)` without a price. Pure. */
function spentText(s: SessionRecord): string | null {
  const u = s.usage;
  if (u === null) return null;
  return `spent ${tokensText(u.tokens.total)} tokens (${u.costUsd === null ? "unpriced" : costText(u.costUsd)})`;
}

/** Who answered an approval, in a few words. Pure. */
function answeredBy(by: NonNullable<FleetEvent["answer"]>["by"]): string {
  if (by.kind === "caller") return `${by.caller.role} ${by.caller.id}`;
  return by.kind === "deadline" ? "its deadline" : "the approval rules";
}

/** Longest piece of session text quoted in a notice. */
export const NOTICE_QUOTE_CHARS = 120;

/**
 * Longest approval summary quoted whole in an `approval-requested` notice: the host agent's summary limit (it
 * declines, rather than holds, a request whose summary would be cut). One longer, or one that ends in the
 * ellipsis of an older agent's cut, is quoted clipped with a warning not to approve it unread.
 */
export const APPROVAL_QUOTE_CHARS = 500;

/** True when an approval summary may not be the whole request: too long to quote, or cut by its sender. Pure. */
export function approvalSummaryClipped(summary: string): boolean {
  return summary.length > APPROVAL_QUOTE_CHARS || summary.endsWith("…");
}

/** `text` cut to `max` characters with an ellipsis, on one line. Pure. */
export function clip(text: string, max: number): string {
  const one = text.replace(/\s+/g, " ").trim();
  return one.length <= max ? one : `${one.slice(0, Math.max(0, max - 1))}…`;
}

/** The `contextKey` of a notice: per session (or host) and kind. Pure. */
export function contextKeyOf(e: Pick<FleetEvent, "kind" | "sessionId" | "hostId">): string {
  return `claw-supervisor:${e.sessionId ? `session:${e.hostId}/${e.sessionId}` : `host:${e.hostId}`}:${e.kind}`;
}

function describeSession(s: SessionRecord): string {
  const where = [s.repo && `${s.repo}${s.branch ? `@${s.branch}` : ""}`, s.workspace].filter(Boolean).join(" ");
  const who = s.humanAttached ? "human-attached" : s.autonomous ? "autonomous" : "unattended";
  return `${where ? `${where}, ` : ""}${who}, ${s.status}${s.waitingOn ? ` (waiting on ${s.waitingOn})` : ""}`;
}

/** One line for one notice. Pure. */
export function noticeLine(e: FleetEvent): string {
  const s = e.session;
  const head = s
    ? `Codex fleet: session ${e.hostId}/${e.sessionId} ${what[e.kind]}`
    : `Codex fleet: host ${e.hostId} ${what[e.kind]}`;
  const parts = [head];
  if (s) parts.push(`[${describeSession(s)}]`);
  if (e.kind === "session-ask" && s?.ask)
    parts.push(`${s.ask.kind} #${s.ask.correlationId}: "${clip(s.ask.question, NOTICE_QUOTE_CHARS)}"`);
  else if (e.kind === "session-handoff" && s?.handoff)
    parts.push(`note: "${clip(s.handoff.note, NOTICE_QUOTE_CHARS)}"`);
  else if (e.kind === "session-new" && s?.preview) parts.push(`"${clip(s.preview, NOTICE_QUOTE_CHARS)}"`);
  else if (e.kind === "approval-requested" && s?.approval) {
    const a = s.approval;
    // The approver must see all of what it approves: the whole summary, or a warning that this is not all of it.
    const clipped = approvalSummaryClipped(a.summary);
    parts.push(
      // JSON-quoted: a quote in the command cannot end the quotation and pass text off as the notice's own.
      `${a.kind} request ${a.requestId}: ${JSON.stringify(clipped ? clip(a.summary, APPROVAL_QUOTE_CHARS) : a.summary)}, declined at ${new Date(a.deadlineAtMs).toISOString()} unless answered`,
      clipped
        ? "(CLIPPED: this is not the whole request; do not approve it without reading all of it (fleet_list shows the session's approval, fleet_read the context); decline it if you cannot)"
        : `(answer with fleet_approve sessionId=${e.hostId}/${e.sessionId} requestId=${a.requestId} decision=accept or decline)`,
    );
    return parts.join(" ");
  } else if (e.kind === "approval-answered" && e.answer) {
    const a = e.answer;
    parts.push(
      a.decision === "released"
        ? `request ${a.requestId}${a.summary ? ` "${clip(a.summary, NOTICE_QUOTE_CHARS)}"` : ""}: let go unanswered by the host agent (${clip(a.reason, NOTICE_QUOTE_CHARS)}); it can no longer be approved`
        : `request ${a.requestId}${a.summary ? ` "${clip(a.summary, NOTICE_QUOTE_CHARS)}"` : ""}: ${a.decision === "accept" ? "accepted" : "declined"} by ${answeredBy(a.by)} (${clip(a.reason, NOTICE_QUOTE_CHARS)})`,
    );
  } else if ((e.kind === "budget-warning" || e.kind === "budget-stopped") && s?.budget) {
    const b = s.budget;
    const spent = spentText(s);
    parts.push(
      `budget ${b.limitId} (${b.periodKey === "total" ? "whole session" : b.periodKey}): ${JSON.stringify(clip(b.reason, NOTICE_QUOTE_CHARS))}${spent ? `; ${spent}` : ""}`,
    );
  } else if (e.kind === "host-conflict" && e.conflict?.summary) {
    // The gateway's own words: who holds the host, who stopped, and whether the token was copied.
    parts.push(`: ${clip(e.conflict.summary, 2 * NOTICE_QUOTE_CHARS)}`);
  }
  const hint = next[e.kind];
  return `${parts.join(" ")}${hint ? ` (${hint})` : ""}`;
}

/** Coalesces notices: one per contextKey, in order of first arrival, with the latest state and a count. Pure. */
export function coalesce(events: readonly FleetEvent[]): FleetNotice[] {
  const byKey = new Map<string, FleetEvent[]>();
  for (const e of events) {
    const key = contextKeyOf(e);
    const list = byKey.get(key);
    if (list) list.push(e);
    else byKey.set(key, [e]);
  }
  return [...byKey.entries()].map(([contextKey, list]) => {
    const latest = list.at(-1)!;
    const text = noticeLine(latest) + (list.length > 1 ? ` ×${list.length}` : "");
    return { contextKey, text, ids: [...new Set(list.map((e) => e.id))] };
  });
}
