/**
 * Compact, bounded summaries of sessions for the Claw: counts by status, then the sessions that need
 * attention first (waiting, asking, handoff, error, stale), then the running ones, each on one short line.
 * Never longer than the bound it is given. Pure.
 */
import { budgetStopsNow, utcDay } from "../../schemas/budget.js";
import { groupsOnDay } from "../clients/budget.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { costText, tokensText } from "../clients/spend-text.js";
import { clip } from "./fleet-notices.js";

/** True when a budget stops the session now (a stop no operator lifted). Pure. */
export function budgetStopped(s: SessionRecord): boolean {
  return budgetStopsNow(s.budget);
}

/** Sessions that need the Claw first, in this order. */
function attentionRank(s: SessionRecord): number {
  if (s.waitingOn) return 0;
  if (s.ask) return 1;
  if (s.handoff || budgetStopped(s)) return 2;
  if (s.status === "error") return 3;
  if (s.status === "stale") return 4;
  if (s.status === "active" || s.status === "steering") return 5;
  return 6;
}

/** One line for one session. Pure. */
export function sessionLine(s: SessionRecord): string {
  const flags = [
    s.status + (s.waitingOn ? `/waiting-${s.waitingOn}` : ""),
    s.humanAttached ? "human" : s.autonomous ? "autonomous" : null,
    s.disposition,
    s.group && `group ${s.group}`,
    s.ask && `asks #${s.ask.correlationId}`,
    s.handoff && "handoff",
    budgetStopped(s) && `stopped by budget ${s.budget?.limitId}`,
  ].filter(Boolean);
  const where = s.repo ? `${s.repo}${s.branch ? `@${s.branch}` : ""}` : (s.workspace ?? "");
  const about = s.summary ?? s.preview;
  return `- ${s.host}/${s.sessionId} ${flags.join(", ")}${where ? ` ${where}` : ""}${about ? `: ${clip(about, 80)}` : ""}`;
}

/** Counts by status, e.g. `3 sessions: 1 active, 2 idle`. Pure. */
export function countsLine(sessions: readonly SessionRecord[], total = sessions.length): string {
  const counts = new Map<string, number>();
  for (const s of sessions) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
  const waiting = sessions.filter((s) => s.waitingOn).length;
  const parts = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${n} ${k}`);
  if (waiting) parts.push(`${waiting} waiting`);
  return `${total} session${total === 1 ? "" : "s"}${parts.length ? `: ${parts.join(", ")}` : ""}`;
}

/** Most groups, and most stopped sessions, the spend lines name one by one. */
const MAX_SPEND_ITEMS = 5;

/**
 * The fleet's spend on the UTC day of `nowMs` from the sessions' records: tokens and cost overall and by group
 * (the biggest first; unpriced tokens flagged with the models lacking a price), the sessions a budget stopped
 * (with the reason) and how many carry a budget warning. No lines when nothing was spent and no budget acted. Pure.
 */
export function spendLines(sessions: readonly SessionRecord[], nowMs: number): string[] {
  const day = utcDay(nowMs);
  const groups = new Map(groupsOnDay(sessions, day).map((g) => [g.group, g]));
  const unpricedModels = new Set<string>();
  for (const s of sessions) {
    const used = s.usage?.days[day];
    if (used && used.tokens.total > 0 && used.costUsd === null) unpricedModels.add(s.usage?.model ?? "unknown model");
  }
  const stopped = sessions.filter(budgetStopped);
  const warned = sessions.filter((s) => s.budget?.state === "warned").length;
  const lines: string[] = [];
  if (groups.size > 0) {
    const all = [...groups.values()];
    const cost = (g: { costUsd: number; unpriced: boolean }) =>
      g.unpriced ? (g.costUsd === 0 ? "unpriced" : `${costText(g.costUsd)} + unpriced`) : costText(g.costUsd);
    const total = {
      tokens: all.reduce((n, g) => n + g.tokens, 0),
      costUsd: all.reduce((n, g) => n + g.costUsd, 0),
      unpriced: all.some((g) => g.unpriced),
    };
    const byGroup = [...groups.entries()].sort((a, b) => b[1].costUsd - a[1].costUsd || b[1].tokens - a[1].tokens);
    const named = byGroup
      .slice(0, MAX_SPEND_ITEMS)
      .map(([name, g]) => `${name === "" ? "(no group)" : name} ${tokensText(g.tokens)} ${cost(g)}`);
    if (byGroup.length > MAX_SPEND_ITEMS) named.push(`${byGroup.length - MAX_SPEND_ITEMS} more`);
    lines.push(
      `Spend today (${day} UTC): ${tokensText(total.tokens)} tokens, ${cost(total)}; by group: ${named.join(", ")}${
        unpricedModels.size > 0 ? ` (no price for ${[...unpricedModels].sort().join(", ")})` : ""
      }`,
    );
  }
  if (stopped.length > 0) {
    const named = stopped
      .slice(0, MAX_SPEND_ITEMS)
      .map((s) => `${s.host}/${s.sessionId} (${clip(s.budget?.reason ?? "", 80)})`);
    if (stopped.length > MAX_SPEND_ITEMS) named.push(`${stopped.length - MAX_SPEND_ITEMS} more`);
    lines.push(`Stopped by a budget: ${named.join("; ")}`);
  }
  if (warned > 0) lines.push(`Budget warnings: ${warned} session${warned === 1 ? "" : "s"}`);
  return lines;
}

/** Options of {@link summarizeSessions}. */
export interface SummaryBounds {
  maxChars: number;
  maxSessions: number;
  /** First line, e.g. which group this is. */
  title?: string;
  /** Sessions matching beyond those given (for the count line). */
  total?: number;
  /** Add the spend lines ({@link spendLines}) of the UTC day of this time (unix ms) after the counts. */
  spendAtMs?: number;
}

/** The summary text, at most `maxChars` characters. Pure. */
export function summarizeSessions(
  sessions: readonly SessionRecord[],
  b: SummaryBounds,
): { text: string; listed: number; omitted: number } {
  const ordered = [...sessions].sort((x, y) => attentionRank(x) - attentionRank(y) || y.lastSeenAt - x.lastSeenAt);
  const spend = b.spendAtMs === undefined ? [] : spendLines(sessions, b.spendAtMs);
  const head = [b.title, countsLine(sessions, b.total ?? sessions.length), ...spend].filter(Boolean).join("\n");
  const lines: string[] = [];
  let length = head.length;
  for (const s of ordered.slice(0, b.maxSessions)) {
    const line = sessionLine(s);
    // Room for this line and for the "more" marker after it.
    if (length + 1 + line.length + 24 > b.maxChars) break;
    lines.push(line);
    length += 1 + line.length;
  }
  const omitted = (b.total ?? sessions.length) - lines.length;
  const tail = omitted > 0 ? `… ${omitted} more (fleet_sessions)` : "";
  const text = [head, ...lines, tail].filter(Boolean).join("\n");
  return { text: text.length <= b.maxChars ? text : clip(text, b.maxChars), listed: lines.length, omitted };
}
