/**
 * How the live store folds WebSocket frames: `mergeFrame` merges an arriving `snapshot` or `changes` into what
 * waits for the next animation frame (each key's latest row only), `applyPending` applies that to the view.
 * Pure apart from the objects it is given; no DOM.
 */
import type { HostRow, ServerMessage, SessionRow, ViewRevision } from "../../../schemas/dashboard.js";

/** A `snapshot` or `changes` frame. */
export type DataFrame = Extract<ServerMessage, { type: "snapshot" | "changes" }>;

/**
 * What waits for the next frame. After a snapshot (`snapshot: true`) the maps are the whole new view (a removal
 * deletes); otherwise they hold changes, `null` meaning removed.
 */
export interface Pending {
  snapshot: boolean;
  sessions: Map<string, SessionRow | null>;
  hosts: Map<string, HostRow | null>;
  /** The revision the pending frames bring the view to; null when nothing waits. */
  rev: ViewRevision | null;
}

/** The view `applyPending` changes. */
export interface AppliedView {
  sessions: Map<string, SessionRow>;
  hosts: Map<string, HostRow>;
  rev: ViewRevision | null;
}

/** Nothing pending. */
export function emptyPending(): Pending {
  return { snapshot: false, sessions: new Map(), hosts: new Map(), rev: null };
}

function mergeRows<R extends { key: string }>(
  into: Map<string, R | null>,
  rows: readonly R[],
  removed: readonly string[],
  whole: boolean,
): void {
  for (const row of rows) into.set(row.key, row);
  for (const key of removed) {
    if (whole) into.delete(key);
    else into.set(key, null);
  }
}

/**
 * Merges `msg` into `p`. `have` is the last revision received before it. False when a `changes` batch starts after
 * a revision the page has not got (a gap: the caller should start over from a snapshot).
 */
export function mergeFrame(p: Pending, msg: DataFrame, have: ViewRevision | null): boolean {
  if (msg.type === "snapshot") {
    p.snapshot = true;
    p.sessions = new Map(msg.sessions.map((r) => [r.key, r]));
    p.hosts = new Map(msg.hosts.map((r) => [r.key, r]));
    p.rev = msg.rev;
    return true;
  }
  if (have === null || msg.from.sessions > have.sessions || msg.from.hosts > have.hosts) return false;
  mergeRows(p.sessions, msg.sessions, msg.removedSessions, p.snapshot);
  mergeRows(p.hosts, msg.hosts, msg.removedHosts, p.snapshot);
  p.rev = msg.rev;
  return true;
}

function applyRows<R extends { key: string; revision: number }>(
  view: Map<string, R>,
  rows: Map<string, R | null>,
  changed: R[] | null,
): boolean {
  let keysChanged = false;
  for (const [key, row] of rows) {
    if (row === null) {
      keysChanged = view.delete(key) || keysChanged;
      continue;
    }
    const old = view.get(key);
    if (old !== undefined && old.revision > row.revision) continue;
    if (old === undefined) keysChanged = true;
    view.set(key, row);
    changed?.push(row);
  }
  return keysChanged;
}

/**
 * Applies `p` to `view`. Answers null when nothing was pending, else the session rows that changed (empty after a
 * snapshot: a snapshot is a first paint, not a change) and whether the set of keys changed.
 */
export function applyPending(
  view: AppliedView,
  p: Pending,
): { changedSessions: SessionRow[]; keysChanged: boolean } | null {
  if (p.rev === null) return null;
  const changedSessions: SessionRow[] = [];
  let keysChanged = true;
  if (p.snapshot) {
    view.sessions = p.sessions as Map<string, SessionRow>;
    view.hosts = p.hosts as Map<string, HostRow>;
  } else {
    const sessionKeys = applyRows(view.sessions, p.sessions, changedSessions);
    const hostKeys = applyRows(view.hosts, p.hosts, null);
    keysChanged = sessionKeys || hostKeys;
  }
  view.rev = p.rev;
  return { changedSessions, keysChanged };
}
