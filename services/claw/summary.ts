/**
 * Compact, bounded summaries of sessions for the Claw: counts by status, then the sessions that need
 * attention first (waiting, asking, handoff, error, stale), then the running ones, each on one short line.
 * Never longer than the bound it is given. Pure.
 */
import type { SessionRecord } from "../../schemas/registry.js";
import { clip } from "./fleet-notices.js";

/** Sessions that need the Claw first, in this order. */
function attentionRank(s: SessionRecord): number {
  if (s.waitingOn) return 0;
  if (s.ask) return 1;
  if (s.handoff) return 2;
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

/** Options of {@link summarizeSessions}. */
export interface SummaryBounds {
  maxChars: number;
  maxSessions: number;
  /** First line, e.g. which group this is. */
  title?: string;
  /** Sessions matching beyond those given (for the count line). */
  total?: number;
}

/** The summary text, at most `maxChars` characters. Pure. */
export function summarizeSessions(
  sessions: readonly SessionRecord[],
  b: SummaryBounds,
): { text: string; listed: number; omitted: number } {
  const ordered = [...sessions].sort((x, y) => attentionRank(x) - attentionRank(y) || y.lastSeenAt - x.lastSeenAt);
  const head = [b.title, countsLine(sessions, b.total ?? sessions.length)].filter(Boolean).join("\n");
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
