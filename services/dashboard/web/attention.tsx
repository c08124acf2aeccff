/**
 * `#/` the attention queue, the first screen: "Needs you" (every session `attentionReasons` names: a held
 * approval, input, an unanswered ask, a budget's stop not lifted yet, a handoff, an error, a stale or unknown
 * status), what blocks on a person first, oldest first, each answerable in place; then "Running" and "Done".
 * Rows new to this operator (localStorage, per name) are marked "new". All rows sit in one keyed list so a row
 * moving between sections keeps its controls and their results.
 */
import { Component } from "preact";
import { useEffect, useId, useReducer, useRef, useState } from "preact/hooks";
import type { SessionRow } from "../../../schemas/dashboard.js";
import { type AttentionNeed, type AttentionReason, WAITING_NEEDS, attentionReasons } from "../../clients/attention.js";
import { ApproveDecline, InterruptButton, MarkSelect, ReplyBox, SendBox } from "./controls.js";
import { sortedSessionKeys, useLive, useMe } from "./live.js";
import { agoTime, relativeTime, useNow } from "./relative-time.js";
import { type Seen, useSeen } from "./seen.js";
import { placeLabel, presenceLabel, progressLabel, statusLabel, statusTone } from "./session-status.js";

type Section = "needs" | "running" | "done";

interface Entry {
  row: SessionRow;
  reasons: AttentionReason[];
  section: Section;
  sinceMs: number;
}

const NEED_LABEL: Record<AttentionNeed, string> = {
  approval: "needs approval",
  input: "needs input",
  ask: "asks a question",
  budget: "stopped by a budget",
  escalated: "escalated to people",
  handoff: "handoff requested",
  error: "error",
  stale: "stale or unknown",
};

const SECTION_TITLE: Record<Section, string> = { needs: "Needs you", running: "Running", done: "Done" };
const FIRST_LIMIT: Record<Section, number> = { needs: 50, running: 25, done: 10 };

const entries = new WeakMap<SessionRow, Entry>();

/** The row's section and reasons (cached per row object: only changed rows are classified again). */
function classify(row: SessionRow): Entry {
  const cached = entries.get(row);
  if (cached !== undefined) return cached;
  const reasons = attentionReasons(row.record);
  let entry: Entry;
  if (reasons.length > 0) {
    let sinceMs = Number.POSITIVE_INFINITY;
    for (const r of reasons) sinceMs = Math.min(sinceMs, r.sinceMs);
    entry = { row, reasons, section: "needs", sinceMs };
  } else {
    const s = row.record.status;
    const running = (s === "active" || s === "steering") && row.record.disposition === null;
    entry = { row, reasons, section: running ? "running" : "done", sinceMs: row.record.lastSeenAt };
  }
  entries.set(row, entry);
  return entry;
}

/** True when the session is blocked on a person (an approval, input, an ask), not only worth a look. */
const blocks = (e: Entry): boolean => e.reasons.some((r) => WAITING_NEEDS.includes(r.needs));

/**
 * Splits the fleet into the three sections, walking the keys in order (so ties stay in key order): needs with
 * what blocks on a person first (approval, input, ask), then handoffs, errors and stale ones, each oldest first;
 * running in key order (rows keep their place); done most recent first.
 */
function sections(keys: readonly string[], rows: Map<string, SessionRow>): Record<Section, Entry[]> {
  const out: Record<Section, Entry[]> = { needs: [], running: [], done: [] };
  for (const key of keys) {
    const row = rows.get(key);
    if (row === undefined) continue;
    const e = classify(row);
    out[e.section].push(e);
  }
  out.needs.sort((a, b) => Number(blocks(b)) - Number(blocks(a)) || a.sinceMs - b.sinceMs);
  out.done.sort((a, b) => b.sinceMs - a.sinceMs);
  return out;
}

interface RowProps {
  entry: Entry;
  /** The clock's tick: a change re-renders the row's relative times (which read the time at render). */
  now: number;
  seen: Seen;
  isNew: boolean;
  canControl: boolean;
}

/** Re-renders a row only when its session, section, new-ness or the clock changed. */
class AttentionRow extends Component<RowProps> {
  override shouldComponentUpdate(next: RowProps): boolean {
    const p = this.props;
    return (
      next.entry.row !== p.entry.row ||
      next.entry.section !== p.entry.section ||
      next.isNew !== p.isNew ||
      next.now !== p.now ||
      next.canControl !== p.canControl
    );
  }

  override render() {
    return <AttentionRowBody {...this.props} />;
  }
}

function AttentionRowBody(props: RowProps) {
  const { row, reasons, section } = props.entry;
  const r = row.record;
  const id = useId();
  const markSeen = () => props.seen.mark([row]);
  const primary = reasons[0]?.needs ?? "none";
  const now = Math.max(props.now, Date.now());
  return (
    <article
      class={`attention-row section-${section}${props.isNew ? " is-new" : ""}`}
      data-testid="attention-row"
      data-key={row.key}
      data-revision={row.revision}
      data-needs={primary}
      data-section={section}
      aria-labelledby={`${id}-t`}
    >
      <header class="row-head">
        <span class={`badge tone-${statusTone(r)}`}>{statusLabel(r)}</span>
        <h3 id={`${id}-t`} class="row-title">
          <a href={`#/session/${row.key}`} onClick={markSeen}>
            {row.shortId}
          </a>{" "}
          <span class="sub">
            on {r.host} · {placeLabel(r)}
          </span>
        </h3>
        {props.isNew && <span class="badge new">new</span>}
        <span class="sub presence">{presenceLabel(r)}</span>
        <span class="sub when">
          {section === "needs" ? "waiting since " : "last activity "}
          <time dateTime={new Date(props.entry.sinceMs).toISOString()}>{agoTime(props.entry.sinceMs, now)}</time>
        </span>
        {props.isNew && (
          <button type="button" class="secondary small" onClick={markSeen}>
            Mark seen
          </button>
        )}
      </header>
      {reasons.length > 0 && (
        <ul class="reasons">
          {reasons.map((reason) => (
            <li key={reason.needs} data-need={reason.needs}>
              <span class="need">{NEED_LABEL[reason.needs]}</span> {reason.detail}
              {reason.deadlineAtMs !== undefined && (
                <span class="sub"> (declined {relativeTime(reason.deadlineAtMs, now)} unless answered)</span>
              )}
            </li>
          ))}
        </ul>
      )}
      {section !== "needs" && progressLabel(r) && <p class="sub progress">{progressLabel(r)}</p>}
      {/* Same slots in every section, so a row that moves keeps its controls' last results. */}
      <div class="controls">
        <ApproveDecline row={row} />
        <ReplyBox row={row} />
        <InterruptButton row={row} />
        {section === "needs" && <MarkSelect row={row} />}
        {section === "needs" && props.canControl && (
          <details class="send-details">
            <summary>Send or steer</summary>
            <SendBox row={row} />
          </details>
        )}
      </div>
    </article>
  );
}

/** Above this many sessions the queue is re-sorted at most every THROTTLE_MS, not on every frame. */
const THROTTLE_ABOVE = 2_000;
const THROTTLE_MS = 250;

/**
 * The sections for the live view at `version`. A big fleet under a storm of changes is re-sorted at most four
 * times a second (a queue churning at 60 Hz is unreadable and costs a layout per frame); a small one every frame.
 */
function useThrottledSections(version: number, rows: Map<string, SessionRow>): Record<Section, Entry[]> {
  const last = useRef<{ version: number; at: number; groups: Record<Section, Entry[]> } | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  useEffect(() => () => clearTimeout(timer.current), []);
  const now = performance.now();
  const prev = last.current;
  if (prev !== null && prev.version === version) return prev.groups;
  const wait = prev === null || rows.size <= THROTTLE_ABOVE ? 0 : prev.at + THROTTLE_MS - now;
  if (prev !== null && wait > 0) {
    if (timer.current === undefined) {
      timer.current = setTimeout(() => {
        timer.current = undefined;
        rerender(0);
      }, wait);
    }
    return prev.groups;
  }
  const groups = sections(sortedSessionKeys(), rows);
  last.current = { version, at: now, groups };
  return groups;
}

/** The attention queue. */
export function AttentionView() {
  const live = useLive();
  const me = useMe();
  const now = useNow(10_000);
  const seen = useSeen(me?.name ?? "");
  const [limits, setLimits] = useState(FIRST_LIMIT);
  const id = useId();
  const groups = useThrottledSections(live.version, live.sessions);
  const unseenNeeds = groups.needs.filter((e) => seen.isNew(e.row.key, e.row.revision));
  const children = [];
  for (const section of ["needs", "running", "done"] as const) {
    const entries = groups[section];
    const shown = entries.slice(0, limits[section]);
    children.push(
      <div
        key={`head-${section}`}
        class={`section-head section-${section}`}
        data-testid={`attention-section-${section}`}
      >
        <h2 id={`${id}-${section}`}>
          {SECTION_TITLE[section]} <span class="count">({entries.length})</span>
        </h2>
        {section === "needs" && unseenNeeds.length > 0 && (
          <button
            type="button"
            class="secondary small"
            onClick={() =>
              seen.mark(
                unseenNeeds.map((e) => e.row),
                new Set(live.sessions.keys()),
              )
            }
          >
            Mark all {unseenNeeds.length} seen
          </button>
        )}
        {entries.length === 0 && (
          <p class="empty">
            {section === "needs"
              ? "Nothing needs you right now."
              : `No session is ${section === "running" ? "running" : "done"}.`}
          </p>
        )}
      </div>,
    );
    for (const e of shown) {
      children.push(
        <AttentionRow
          key={e.row.key}
          entry={e}
          now={now}
          seen={seen}
          isNew={section === "needs" && seen.isNew(e.row.key, e.row.revision)}
          canControl={me?.role === "operator"}
        />,
      );
    }
    if (entries.length > shown.length) {
      children.push(
        <div key={`more-${section}`} class="more">
          <button
            type="button"
            class="secondary"
            onClick={() => setLimits({ ...limits, [section]: limits[section] * 2 })}
          >
            Show more ({entries.length - shown.length} not shown)
          </button>
          {section !== "needs" && (
            <a href="#/fleet" class="sub">
              or see every session in the fleet
            </a>
          )}
        </div>,
      );
    }
  }
  return (
    <section class="view attention-view" aria-labelledby={`${id}-h`}>
      <div class="view-head">
        <h1 id={`${id}-h`}>Attention</h1>
        <p class="count">
          {live.rev === null
            ? "Waiting for the live view…"
            : `${groups.needs.length} need you · ${groups.running.length} running · ${groups.done.length} done`}
        </p>
      </div>
      <div class="attention-list">{children}</div>
    </section>
  );
}
