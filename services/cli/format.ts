/**
 * Plain-text tables of registry sessions, hosts and the attention view, for the CLI's output. Pure (the caller
 * passes "now").
 */
import type { SessionUsage } from "../../schemas/budget.js";
import type { ClawsResult } from "../../schemas/claw-groups.js";
import type { HostRecord, SessionRecord } from "../../schemas/registry.js";
import { type AttentionNeed, type AttentionReason, attentionReasons } from "../clients/attention.js";
import { shortIds } from "../clients/session-ref.js";
import { costText, tokensText } from "../clients/spend-text.js";

export { costText, tokensText };

/** A duration in one short token: `0s`, `42s`, `5m`, `3h`, `2d` (rounded down). Pure. */
export function durationText(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** How long ago `atMs` was, relative to `nowMs`, in one short token: `just now`, `42s ago`, `5m ago`, `3h ago`, `2d ago`. */
export function relativeTime(atMs: number | null, nowMs: number): string {
  if (atMs === null) return "never";
  return nowMs - atMs < 1000 ? "just now" : `${durationText(nowMs - atMs)} ago`;
}

/** `text` on one line, cut to `max` characters with an ellipsis. Pure. */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

function tail(text: string, max: number): string {
  return text.length <= max ? text : `…${text.slice(text.length - max + 1)}`;
}

/** `active`, `idle [done]`, ...: status with its mark (what it waits on is the NEEDS column). Pure. */
export function statusText(r: SessionRecord): string {
  return r.disposition === null ? r.status : `${r.status} [${r.disposition}]`;
}

/** `human`, `autonomous`, `autonomous+human` or `-`. Pure. */
export function modeText(r: SessionRecord): string {
  if (r.autonomous && r.humanAttached) return "autonomous+human";
  if (r.autonomous) return "autonomous";
  return r.humanAttached ? "human" : "-";
}

const NEEDS_COLUMN: readonly AttentionNeed[] = ["approval", "input", "ask", "budget", "escalated", "handoff"];

/**
 * What the session waits for a person on: `approval`, `input`, `ask`, `budget` (a stop to lift), `escalated`,
 * `handoff`, joined by commas, or `-`. Pure.
 */
export function needsText(r: SessionRecord): string {
  const needs = attentionReasons(r)
    .map((x) => x.needs)
    .filter((n) => NEEDS_COLUMN.includes(n));
  return needs.length === 0 ? "-" : needs.join(",");
}

/** A session's TOKENS and COST cells: `-` `-` before any usage; COST `?` when its model has no price. Pure. */
export function spendCells(usage: SessionUsage | null): [string, string] {
  if (usage === null) return ["-", "-"];
  return [tokensText(usage.tokens.total), usage.priced ? costText(usage.costUsd) : "?"];
}

/** A session's budget state in a few words: `-`, `warned by daily`, `stopped by daily`, `lifted (daily)`. Pure. */
export function budgetText(r: SessionRecord): string {
  const b = r.budget;
  if (b === null) return "-";
  if (b.state === "lifted") return `lifted (${b.limitId})`;
  // A stop an operator lifted does not stop the session any more (the lift's own record may come later).
  if (b.state === "stopped" && b.lifted.includes(b.id)) return `lifted (${b.limitId})`;
  return `${b.state} by ${b.limitId}`;
}

/** The models of sessions with unpriced spend (`unknown model` when Codex named none), sorted. Pure. */
export function unpricedModels(sessions: readonly SessionRecord[]): string[] {
  const models = new Set<string>();
  for (const r of sessions)
    if (r.usage !== null && !r.usage.priced && r.usage.tokens.total > 0) models.add(r.usage.model ?? "unknown model");
  return [...models].sort();
}

/** The line under a table with `?` costs: which models have no price, and where prices go; "" when none. Pure. */
export function unpricedFootnote(models: readonly string[]): string {
  if (models.length === 0) return "";
  const what = models.length === 1 ? `model ${models[0]}` : `models ${models.join(", ")}`;
  return `? no price for ${what}: tokens only (prices go in the policy document's budgets.prices)\n`;
}

/** How `sessions --sort` orders: by cost or by tokens, the biggest spender first. */
export type SessionSort = "cost" | "tokens";

/**
 * The sessions ordered by spend, biggest first (stable: equal ones keep their order). `cost`: priced sessions by
 * dollars, then unpriced ones by tokens, then those with no usage; `tokens`: by total tokens. Pure.
 */
export function sortSessions(sessions: readonly SessionRecord[], by: SessionSort): SessionRecord[] {
  const tokens = (r: SessionRecord): number => r.usage?.tokens.total ?? -1;
  const rank = (r: SessionRecord): number => (r.usage === null ? 2 : r.usage.costUsd === null ? 1 : 0);
  return [...sessions].sort((a, b) =>
    by === "tokens"
      ? tokens(b) - tokens(a)
      : rank(a) - rank(b) || (b.usage?.costUsd ?? 0) - (a.usage?.costUsd ?? 0) || tokens(b) - tokens(a),
  );
}

/** Each column's width: its widest cell among `rows`. Pure. */
export function columnWidths(rows: readonly string[][]): number[] {
  const n = Math.max(0, ...rows.map((r) => r.length));
  return Array.from({ length: n }, (_, i) => Math.max(0, ...rows.map((r) => (r[i] ?? "").length)));
}

/** One table line: cells padded to `widths` (the last one not), two spaces apart. Pure. */
export function alignedLine(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
    .join("  ")
    .trimEnd();
}

function table(header: string[] | null, rows: string[][]): string {
  const all = header === null ? rows : [header, ...rows];
  if (all.length === 0) return "";
  const widths = columnWidths(all);
  return `${all.map((cells) => alignedLine(cells, widths)).join("\n")}\n`;
}

/** How the session table is printed: `wide` adds the less-used columns; `headers: false` drops the header line. */
export interface SessionTableOptions {
  wide?: boolean;
  headers?: boolean;
  /** Each session id's short form (services/clients/session-ref.ts); default: unique among `sessions`. */
  short?: ReadonlyMap<string, string>;
  /**
   * With Claw groups configured (issue 18): the Claw owning each session (a session not in the map has none),
   * shown as an OWNER CLAW column after OWNER. Absent: no such column.
   */
  clawOwner?: ReadonlyMap<string, string>;
  /**
   * The terminal's width in columns, when printing to one: the last column (SUMMARY) is cut so each row fits,
   * keeping at least MIN_SUMMARY_CHARS of it (a narrower terminal wraps). Absent: rows are as long as they are.
   */
  maxWidth?: number;
}

/** The least of a summary a row cut to the terminal's width keeps. */
export const MIN_SUMMARY_CHARS = 16;

/**
 * The session table's header: HOST SESSION WORKSPACE STATUS NEEDS GROUP OWNER TOKENS COST LAST SEEN SUMMARY
 * (wide: more). Pure.
 */
export function sessionHeader(wide = false): string[] {
  return wide
    ? [
        "HOST",
        "SESSION",
        "ID",
        "WORKSPACE",
        "REPO",
        "BRANCH",
        "STATUS",
        "NEEDS",
        "MODE",
        "GROUP",
        "OWNER",
        "MODEL",
        "TOKENS",
        "COST",
        "LAST SEEN",
        "SUMMARY",
      ]
    : ["HOST", "SESSION", "WORKSPACE", "STATUS", "NEEDS", "GROUP", "OWNER", "TOKENS", "COST", "LAST SEEN", "SUMMARY"];
}

/** One session's cells, in sessionHeader's order. Pure. */
export function sessionCells(r: SessionRecord, shortId: string, nowMs: number, wide = false): string[] {
  const summary = r.summary ?? r.preview ?? "";
  return wide
    ? [
        r.host,
        shortId,
        r.sessionId,
        r.workspace ?? "-",
        r.repo ?? "-",
        r.branch ?? "-",
        statusText(r),
        needsText(r),
        modeText(r),
        r.group ?? "-",
        r.owner ?? "-",
        r.model ?? r.usage?.model ?? "-",
        ...spendCells(r.usage),
        relativeTime(r.lastSeenAt, nowMs),
        oneLine(summary, 100),
      ]
    : [
        r.host,
        shortId,
        tail(r.workspace ?? "-", 40),
        statusText(r),
        needsText(r),
        r.group ?? "-",
        r.owner ?? "-",
        ...spendCells(r.usage),
        relativeTime(r.lastSeenAt, nowMs),
        oneLine(summary, 50),
      ];
}

/** One row per session (see sessionHeader), with short ids unique among the rows unless given. Pure. */
export function formatSessionsTable(
  sessions: readonly SessionRecord[],
  nowMs: number,
  o: SessionTableOptions = {},
): string {
  const short = o.short ?? shortIds(sessions.map((r) => r.sessionId));
  const header = sessionHeader(o.wide);
  const owners = o.clawOwner;
  // OWNER CLAW goes right after OWNER.
  const at = header.indexOf("OWNER") + 1;
  if (owners !== undefined) header.splice(at, 0, "OWNER CLAW");
  const rows = sessions.map((r) => {
    const cells = sessionCells(r, short.get(r.sessionId) ?? r.sessionId, nowMs, o.wide);
    if (owners !== undefined) cells.splice(at, 0, owners.get(r.sessionId) ?? "-");
    return cells;
  });
  if (o.maxWidth !== undefined) fitLastColumn(o.headers === false ? rows : [header, ...rows], o.maxWidth);
  return table(o.headers === false ? null : header, rows);
}

/** Cuts each row's last cell (in place) so the aligned row is at most `maxWidth` long, keeping MIN_SUMMARY_CHARS. */
function fitLastColumn(rows: string[][], maxWidth: number): void {
  const widths = columnWidths(rows);
  // Every column but the last, padded, and the two spaces after each.
  const before = widths.slice(0, -1).reduce((sum, w) => sum + w + 2, 0);
  const room = Math.max(MIN_SUMMARY_CHARS, maxWidth - before);
  for (const cells of rows) {
    const last = cells.length - 1;
    if (last >= 0 && (cells[last] as string).length > room) cells[last] = oneLine(cells[last] as string, room);
  }
}

/** `claw-a (live, 2s ago)`, `claw-b (down, 1m ago)`, `claw-c (never seen)`: a Claw as the groups table shows it. Pure. */
export function clawText(c: ClawsResult["claws"][number]): string {
  if (c.seenAgoMs === null) return `${c.clawId} (never seen)`;
  const ago = c.seenAgoMs < 1000 ? "just now" : `${durationText(c.seenAgoMs)} ago`;
  return `${c.clawId} (${c.live ? "live" : "down"}, ${ago})`;
}

/**
 * The Claw groups as a table: GROUP, PARENT (`people` for a root), CLAWS (each live or down, and when it last
 * renewed), SESSIONS (owned by the group's Claws); Claws renewing a liveness lease but in no group get a row of
 * their own, group `-`. Pure.
 */
export function formatClawGroupsTable(r: ClawsResult, headers = true): string {
  const rows = r.groups.map((g) => {
    const claws = r.claws.filter((c) => c.group === g.name);
    return [
      g.name,
      g.parent ?? "people",
      claws.length === 0 ? "-" : claws.map(clawText).join(", "),
      String(claws.reduce((n, c) => n + c.sessions, 0)),
    ];
  });
  const stray = r.claws.filter((c) => c.group === null);
  if (stray.length > 0)
    rows.push(["-", "-", stray.map(clawText).join(", "), String(stray.reduce((n, c) => n + c.sessions, 0))]);
  return table(headers ? ["GROUP", "PARENT", "CLAWS", "SESSIONS"] : null, rows);
}

/**
 * Who owns which session: SESSION (short id), OWNER CLAW, GROUP (the session's, by the selectors), EPOCH, HELD FOR,
 * RENEWED (how long ago the lease was last renewed), as given. Pure.
 */
export function formatClawSessionsTable(
  sessions: ClawsResult["sessions"],
  headers = true,
  short: ReadonlyMap<string, string> = shortIds(sessions.map((s) => s.sessionId)),
): string {
  const rows = sessions.map((s) => [
    short.get(s.sessionId) ?? s.sessionId,
    s.clawId,
    s.group ?? "-",
    String(s.epoch),
    durationText(s.heldForMs),
    s.renewedAgoMs < 1000 ? "just now" : `${durationText(s.renewedAgoMs)} ago`,
  ]);
  return table(headers ? ["SESSION", "OWNER CLAW", "GROUP", "EPOCH", "HELD FOR", "RENEWED"] : null, rows);
}

/** One row of the attention view: a session and one reason it needs a person. */
export interface AttentionRow {
  host: string;
  sessionId: string;
  shortId: string;
  workspace: string | null;
  reason: AttentionReason;
}

/** What to run to answer a row, when there is one command for it (approve/decline, reply). Pure. */
export function attentionHint(row: AttentionRow): string | null {
  const ref = `${row.host}/${row.shortId}`;
  if (row.reason.needs === "approval" && row.reason.requestId !== undefined)
    return `approve/decline ${ref} ${row.reason.requestId}`;
  if (row.reason.needs === "ask" && row.reason.correlationId !== undefined)
    return `reply ${ref} --correlation ${row.reason.correlationId} <answer>`;
  if (row.reason.needs === "escalated") return `read ${ref}, answer it (send/reply), then mark ${ref} done`;
  if (row.reason.needs === "budget") return `budget lift ${ref}`;
  return null;
}

function attentionDetail(row: AttentionRow, nowMs: number): string {
  const { reason } = row;
  const deadline =
    reason.deadlineAtMs === undefined
      ? ""
      : reason.deadlineAtMs > nowMs
        ? ` (declined in ${durationText(reason.deadlineAtMs - nowMs)})`
        : " (past its deadline)";
  const hint = attentionHint(row);
  return `${oneLine(reason.detail, 80)}${deadline}${hint === null ? "" : ` -> ${hint}`}`;
}

/** The attention view: SINCE, NEEDS, SESSION (host/short id), WORKSPACE, DETAIL, one row per reason, as given. Pure. */
export function formatAttentionTable(rows: readonly AttentionRow[], nowMs: number, headers = true): string {
  const cells = rows.map((r) => [
    relativeTime(r.reason.sinceMs, nowMs),
    r.reason.needs,
    `${r.host}/${r.shortId}`,
    tail(r.workspace ?? "-", 40),
    attentionDetail(r, nowMs),
  ]);
  return table(headers ? ["SINCE", "NEEDS", "SESSION", "WORKSPACE", "DETAIL"] : null, cells);
}

/** One row per host: status, hostname, agent version, app-server, sessions, last heartbeat, connected. Pure. */
export function formatHostsTable(hosts: readonly HostRecord[], nowMs: number): string {
  const rows = hosts.map((h) => [
    h.hostId,
    h.status,
    h.hostname ?? "-",
    h.agentVersion ?? "-",
    h.appServer ?? "-",
    String(h.sessions),
    relativeTime(h.lastHeartbeatAt, nowMs),
    relativeTime(h.connectedAt, nowMs),
  ]);
  return table(["HOST", "STATUS", "HOSTNAME", "AGENT", "APP-SERVER", "SESSIONS", "LAST HEARTBEAT", "CONNECTED"], rows);
}
