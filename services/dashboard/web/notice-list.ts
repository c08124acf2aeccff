/**
 * The notices feed's pure part: which FLEET notices the page shows (all, high priority only, or the budget ones of
 * issue 19), each one's priority and badge tone, and the session it links to. The server words each notice
 * (services/dashboard/server/notices.ts); the page only sorts and filters. Pure; no DOM.
 */
import type { NoticeRow } from "../../../schemas/dashboard.js";
import { FleetKind, type FleetPriority, fleetPriorityOf } from "../../../schemas/fleet.js";
import type { StatusTone } from "./session-status.js";

/** What the feed shows. */
export type NoticeFilter = "all" | "high" | "budget";

/** The filter choices, as the select lists them. */
export const NOTICE_FILTERS: readonly [NoticeFilter, string][] = [
  ["all", "every notice"],
  ["high", "high priority"],
  ["budget", "budget warnings and stops"],
];

/** Kinds that report something wrong (their badge is the error tone). */
const ALARMS = new Set<string>(["session-error", "budget-stopped", "host-conflict"]);

/** The priority FLEET gives the kind; a kind this page does not know is `normal`. Pure. */
export function noticePriority(kind: string): FleetPriority {
  const k = FleetKind.safeParse(kind);
  return k.success ? fleetPriorityOf[k.data] : "normal";
}

/** The badge tone of a notice: error for what went wrong (an error, a budget stop, a host conflict), needs for the other high ones, idle else. Pure. */
export function noticeTone(kind: string): StatusTone {
  if (ALARMS.has(kind)) return "error";
  return noticePriority(kind) === "high" ? "needs" : "idle";
}

/** True for `budget-warning` and `budget-stopped`. Pure. */
export function isBudgetNotice(kind: string): boolean {
  return kind === "budget-warning" || kind === "budget-stopped";
}

/** The kind in words: `budget-stopped` -> `budget stopped`. Pure. */
export function noticeKindLabel(kind: string): string {
  return kind.replaceAll("-", " ");
}

/** The fleet key of the notice's session (`<hostId>.<threadId>`), or null for a host notice. Pure. */
export function noticeSessionKey(n: NoticeRow): string | null {
  return n.hostId !== null && n.sessionId !== null ? `${n.hostId}.${n.sessionId}` : null;
}

/** The notices `filter` keeps, in the order given (the store keeps them newest first). Pure. */
export function filterNotices(notices: readonly NoticeRow[], filter: NoticeFilter): NoticeRow[] {
  if (filter === "all") return [...notices];
  if (filter === "budget") return notices.filter((n) => isBudgetNotice(n.kind));
  return notices.filter((n) => noticePriority(n.kind) === "high");
}
