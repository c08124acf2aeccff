/** Plain-text tables of registry sessions and hosts, for the CLI's output. Pure (the caller passes "now"). */
import type { HostRecord, SessionRecord } from "../../schemas/registry.js";

/** How long ago `atMs` was, relative to `nowMs`, in one short token: `just now`, `42s ago`, `5m ago`, `3h ago`, `2d ago`. */
export function relativeTime(atMs: number | null, nowMs: number): string {
  if (atMs === null) return "never";
  const s = Math.floor((nowMs - atMs) / 1000);
  if (s < 1) return "just now";
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86_400)}d ago`;
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

function tail(text: string, max: number): string {
  return text.length <= max ? text : `…${text.slice(text.length - max + 1)}`;
}

/** `active (approval)`, `idle [done]`, ...: status with what it waits on and its mark. Pure. */
export function statusText(r: SessionRecord): string {
  const waiting = r.waitingOn === null ? "" : ` (${r.waitingOn === "approval" ? "approval" : "input"})`;
  const mark = r.disposition === null ? "" : ` [${r.disposition}]`;
  return `${r.status}${waiting}${mark}`;
}

/** `human`, `autonomous`, `autonomous+human` or `-`. Pure. */
export function modeText(r: SessionRecord): string {
  if (r.autonomous && r.humanAttached) return "autonomous+human";
  if (r.autonomous) return "autonomous";
  return r.humanAttached ? "human" : "-";
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join("\n")}\n`;
}

/** One row per session: host, session, workspace, branch, status, mode, last seen, summary or preview. Pure. */
export function formatSessionsTable(sessions: readonly SessionRecord[], nowMs: number): string {
  const rows = sessions.map((r) => [
    r.host,
    r.sessionId.slice(0, 8),
    tail(r.workspace ?? "-", 40),
    r.branch ?? "-",
    statusText(r),
    modeText(r),
    relativeTime(r.lastSeenAt, nowMs),
    oneLine(r.summary ?? r.preview ?? "", 60),
  ]);
  return table(["HOST", "SESSION", "WORKSPACE", "BRANCH", "STATUS", "MODE", "LAST SEEN", "SUMMARY"], rows);
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
