/**
 * One line of the fleet: a session row (status that never makes a wait look idle, short id, presence, place,
 * group/owner/mark, spend and budget state, last activity, progress) or a host's heading (its status and last heartbeat). Rows re-render
 * only when their session changed, their selection changed, or the clock moved on.
 */
import { Component } from "preact";
import type { HostRow, SessionRow } from "../../../schemas/dashboard.js";
import { isWaiting } from "../../clients/attention.js";
import { type ClawsView, heldForMs } from "./live.js";
import { agoTime, durationText } from "./relative-time.js";
import { placeLabel, presenceLabel, progressLabel, statusLabel, statusTone } from "./session-status.js";
import { spendCell } from "./spend.js";

/** The DOM id of a session's fleet row (for aria-activedescendant). */
export const fleetRowId = (key: string): string => `fleet-row-${key}`;

interface SessionLineProps {
  row: SessionRow;
  selected: boolean;
  /** Who owns which session when Claw groups are configured (an "Owner Claw" cell); null: no such cell. */
  claws: ClawsView | null;
  now: number;
  top: number;
  height: number;
  onSelect(key: string): void;
  onOpen(key: string): void;
}

/** A session's fleet row, positioned absolutely at `top` inside the virtual list. */
export class SessionLine extends Component<SessionLineProps> {
  override shouldComponentUpdate(next: SessionLineProps): boolean {
    const p = this.props;
    return (
      next.row !== p.row ||
      next.selected !== p.selected ||
      next.claws !== p.claws ||
      next.top !== p.top ||
      next.height !== p.height ||
      Math.floor(next.now / 5_000) !== Math.floor(p.now / 5_000)
    );
  }

  override render() {
    const { row, selected, claws, top, height, onSelect, onOpen } = this.props;
    const now = Math.max(this.props.now, Date.now());
    const r = row.record;
    const tone = statusTone(r);
    const progress = progressLabel(r);
    const assigned = [r.group ? `group ${r.group}` : "", r.owner ? `owner ${r.owner}` : ""].filter(Boolean).join(" · ");
    return (
      <div
        id={fleetRowId(row.key)}
        class={`fleet-row${claws === null ? "" : " with-claws"}${selected ? " selected" : ""}`}
        role="option"
        aria-selected={selected}
        data-testid="fleet-row"
        data-key={row.key}
        data-revision={row.revision}
        data-status={r.status}
        data-waiting={String(isWaiting(r))}
        style={{ transform: `translateY(${top}px)`, height: `${height}px` }}
        tabIndex={-1}
        onClick={() => onSelect(row.key)}
        onDblClick={() => onOpen(row.key)}
        onKeyDown={(e) => {
          if (e.key !== "Enter") return;
          e.preventDefault();
          onOpen(row.key);
        }}
      >
        <span class={`badge tone-${tone}`}>{statusLabel(r)}</span>
        <span class="cell id">
          <a href={`#/session/${row.key}`} tabIndex={-1}>
            {row.shortId}
          </a>
          <span class="sub">{presenceLabel(r)}</span>
        </span>
        <span class="cell place" title={r.workspace ?? undefined}>
          <span class="main">{placeLabel(r)}</span>
          <span class="sub">{progress || r.preview || ""}</span>
        </span>
        <span class="cell assigned">
          <span class="main">{assigned || "—"}</span>
          <span class="sub">{r.disposition ? `marked ${r.disposition}` : ""}</span>
        </span>
        {claws !== null && <OwnerClawCell claws={claws} sessionId={r.sessionId} now={now} />}
        <CostCell row={row} now={now} />
        <span class="cell when">
          <time dateTime={new Date(r.lastSeenAt).toISOString()}>{agoTime(r.lastSeenAt, now)}</time>
        </span>
      </div>
    );
  }
}

/**
 * The cost cell: dollars (tokens under them and in the hover text), tokens with a `?` when the model has no price,
 * or `-` before any usage; a budget warning or stop replaces the line under it.
 */
function CostCell(props: { row: SessionRow; now: number }) {
  const c = spendCell(props.row.record, props.now);
  return (
    <span
      class={`cell cost cost-${c.kind}${c.budget === null ? "" : ` budget-${c.budget}`}`}
      data-testid="fleet-cost"
      data-cost={c.kind}
      data-budget={c.budget ?? ""}
      title={c.title}
    >
      <span class="main">
        {c.main}
        {c.flag && (
          <>
            {" "}
            <abbr class="flag" title={c.flag}>
              ?
            </abbr>
          </>
        )}
      </span>
      <span class="sub">{c.sub}</span>
    </span>
  );
}

/** The "Owner Claw" cell: the Claw holding the session's lease, the lease's age and epoch on hover. */
function OwnerClawCell(props: { claws: ClawsView; sessionId: string; now: number }) {
  const o = props.claws.bySession.get(props.sessionId);
  if (o === undefined)
    return (
      <span class="cell claw" data-testid="owner-claw" data-claw="" title="No Claw holds this session's lease">
        <span class="main none">no Claw</span>
        <span class="sub" />
      </span>
    );
  const held = durationText(heldForMs(props.claws, o, props.now));
  return (
    <span
      class="cell claw"
      data-testid="owner-claw"
      data-claw={o.clawId}
      title={`Owner Claw ${o.clawId}: lease held for ${held} (epoch ${o.epoch})`}
    >
      <span class="main mono">{o.clawId}</span>
      <span class="sub">{o.group === null ? `held ${held}` : `group ${o.group} · held ${held}`}</span>
    </span>
  );
}

/** A host's heading in the fleet: name, status, last heartbeat, how many of its sessions are shown. */
export function HostLine(props: {
  host: string;
  hostRow: HostRow | undefined;
  count: number;
  now: number;
  top: number;
  height: number;
}) {
  const h = props.hostRow?.record;
  const beat = h?.lastHeartbeatAt ?? null;
  const now = Math.max(props.now, Date.now());
  return (
    <div
      class="fleet-host"
      role="presentation"
      data-testid="fleet-host"
      data-host={props.host}
      style={{ transform: `translateY(${props.top}px)`, height: `${props.height}px` }}
    >
      <span class="host-name">{props.host}</span>
      <span class={`badge host-${h?.status ?? "unknown"}`}>{h?.status ?? "not in the registry"}</span>
      <span class="sub">
        {beat === null ? "no heartbeat yet" : `heartbeat ${agoTime(beat, now)}`} · {props.count} session
        {props.count === 1 ? "" : "s"}
      </span>
    </div>
  );
}
