/**
 * `#/session/<key>`: one session: what it is doing (status told truthfully, presence, last activity), what it
 * spent (model, tokens, cost, today's) and its budget state, its transcript through `read`, the controls, how a person attaches to it, and its audit trail.
 */
import { useEffect, useId, useState } from "preact/hooks";
import type { AuditRecord } from "../../../schemas/audit.js";
import type { SessionRow } from "../../../schemas/dashboard.js";
import type { Escalation, SessionRecord } from "../../../schemas/registry.js";
import { apiGet } from "./api.js";
import { AuditTable } from "./audit-table.js";
import { codexResumeCommand, launchResumeCommand } from "./command-text.js";
import {
  ApproveDecline,
  AssignBox,
  HandoffBox,
  InterruptButton,
  MarkSelect,
  ReplyBox,
  SendBox,
  useCanControl,
} from "./controls.js";
import { type ClawsView, heldForMs, useLive } from "./live.js";
import { durationText, relativeTime, useNow } from "./relative-time.js";
import { presenceLabel, progressLabel, statusLabel, statusTone } from "./session-status.js";
import {
  budgetLiftCommand,
  budgetLine,
  noPriceText,
  tokensAndCost,
  tokensBreakdown,
  usageModel,
  usageOnDay,
  usdText,
} from "./spend.js";
import { Transcript } from "./transcript.js";
import "./views.css";

/** The session view for the KV key `<hostId>.<threadId>`. */
export function SessionView(props: { sessionKey: string }) {
  const live = useLive();
  const row = live.sessions.get(props.sessionKey);
  if (!row) {
    return (
      <section class="view session-view" data-testid="session-view" data-key={props.sessionKey}>
        <h1>Session</h1>
        <p class="empty">
          {live.conn === "live"
            ? `No session ${props.sessionKey} in the fleet: it may have been removed.`
            : "Waiting for the live view…"}
        </p>
      </section>
    );
  }
  return <SessionDetail row={row} claws={live.claws} />;
}

function SessionDetail(props: { row: SessionRow; claws: ClawsView | null }) {
  const { row, claws } = props;
  const r = row.record;
  const can = useCanControl();
  const id = useId();
  // Re-render as the relative time ages (a local clock, not a poll).
  const now = useNow();
  return (
    <section
      class="view session-view"
      data-testid="session-view"
      data-key={row.key}
      data-status={r.status}
      aria-labelledby={`${id}-h`}
    >
      <h1 id={`${id}-h`}>
        Session <span class="mono">{row.shortId}</span>{" "}
        <span class={`badge tone-${statusTone(r)}`} data-testid="session-status">
          {statusLabel(r)}
        </span>
      </h1>
      <dl class="facts">
        <dt>Thread</dt>
        <dd class="mono">{r.sessionId}</dd>
        <dt>Host</dt>
        <dd>{r.host}</dd>
        <dt>Presence</dt>
        <dd>{presenceLabel(r)}</dd>
        <dt>Last activity</dt>
        <dd>
          <time dateTime={new Date(r.lastSeenAt).toISOString()} title={new Date(r.lastSeenAt).toLocaleString()}>
            {relativeTime(r.lastSeenAt)}
          </time>
        </dd>
        <dt>Workspace</dt>
        <dd class="mono">{r.workspace ?? "—"}</dd>
        <dt>Repo</dt>
        <dd>{r.repo ? `${r.repo}${r.branch ? ` @ ${r.branch}` : ""}` : "—"}</dd>
        <dt>Group / owner</dt>
        <dd>
          {r.group ?? "—"} / {r.owner ?? "—"}
        </dd>
        <dt>Mark</dt>
        <dd>{r.disposition ?? "none"}</dd>
        <SpendFacts record={r} now={now} />
        {r.budget && <BudgetFacts row={row} />}
        {claws !== null && <OwnerClawFacts claws={claws} sessionId={r.sessionId} now={now} />}
        {r.escalation && <EscalationFacts escalation={r.escalation} />}
        {progressLabel(r) && (
          <>
            <dt>Progress</dt>
            <dd>{progressLabel(r)}</dd>
          </>
        )}
        {r.preview && (
          <>
            <dt>First message</dt>
            <dd class="clip">{r.preview}</dd>
          </>
        )}
        {r.approval && (
          <>
            <dt>Held approval</dt>
            <dd>
              {r.approval.kind}: <code>{r.approval.summary}</code> (declined {relativeTime(r.approval.deadlineAtMs)}{" "}
              unless answered)
            </dd>
          </>
        )}
        {r.ask && (
          <>
            <dt>Asks ({r.ask.kind})</dt>
            <dd>{r.ask.question}</dd>
          </>
        )}
        {r.handoff && (
          <>
            <dt>Handoff</dt>
            <dd>
              to{" "}
              {r.handoff.to.kind === "session" ? `session ${r.handoff.to.sessionId}` : (r.handoff.to.who ?? "a person")}{" "}
              by {r.handoff.by}
              {r.handoff.note && `: ${r.handoff.note}`}
            </dd>
          </>
        )}
      </dl>
      {can && (
        <section class="controls" aria-label="Controls">
          <ApproveDecline row={row} />
          <ReplyBox row={row} />
          <SendBox row={row} />
          <InterruptButton row={row} />
          <div class="control-grid">
            <MarkSelect row={row} />
            <AssignBox row={row} />
            <HandoffBox row={row} />
          </div>
        </section>
      )}
      <Transcript row={row} canRaw={can} />
      <AttachCommands host={r.host} threadId={r.sessionId} />
      <SessionAudit sessionId={r.sessionId} revision={row.revision} />
    </section>
  );
}

/** With Claw groups configured: the Claw owning the session, its lease's epoch and how long it has held it. */
function OwnerClawFacts(props: { claws: ClawsView; sessionId: string; now: number }) {
  const o = props.claws.bySession.get(props.sessionId);
  return (
    <>
      <dt>Owner Claw</dt>
      <dd data-testid="session-owner-claw" data-claw={o?.clawId ?? ""}>
        {o === undefined ? (
          "no Claw holds its lease"
        ) : (
          <>
            <span class="mono">{o.clawId}</span>
            {o.group !== null && ` (group ${o.group})`} · epoch <span data-testid="session-lease-epoch">{o.epoch}</span>{" "}
            · held for {durationText(heldForMs(props.claws, o, Math.max(props.now, Date.now())))}
            {o.escalatedFrom !== null && ` · taken over on escalation from group ${o.escalatedFrom}`}
          </>
        )}
      </dd>
    </>
  );
}

/** What the session spent: its model, tokens (in, cached, out), cost (or why it has none) and today's (UTC). */
function SpendFacts(props: { record: SessionRecord; now: number }) {
  const u = props.record.usage;
  const model = usageModel(props.record);
  const today = u === null ? null : usageOnDay(u, Math.max(props.now, Date.now()));
  return (
    <>
      <dt>Model</dt>
      <dd data-testid="session-model">{model ?? "unknown"}</dd>
      <dt>Tokens</dt>
      <dd data-testid="session-tokens">{u === null ? "none reported yet" : tokensBreakdown(u.tokens)}</dd>
      <dt>Cost</dt>
      <dd data-testid="session-cost" data-cost={u === null ? "none" : u.costUsd === null ? "unpriced" : "priced"}>
        {u === null ? "-" : u.costUsd === null ? `? ${noPriceText(model)}` : usdText(u.costUsd)}
      </dd>
      {u !== null && (
        <>
          <dt>Today (UTC)</dt>
          <dd data-testid="session-today">
            {today === null ? "nothing yet" : tokensAndCost(today.tokens.total, today.costUsd, model)}
          </dd>
        </>
      )}
    </>
  );
}

const BUDGET_TONE = { stopped: "error", warned: "needs", lifted: "idle" } as const;

/** The session's latest budget warning, stop or lift: why, by whom, when, and how an operator lifts a stop. */
function BudgetFacts(props: { row: SessionRow }) {
  const r = props.row.record;
  const b = r.budget;
  if (b === null) return null;
  const earlier = b.lifted.filter((id) => id !== b.id);
  return (
    <>
      <dt>Budget</dt>
      <dd data-testid="session-budget" data-state={b.state}>
        <span class={`badge tone-${BUDGET_TONE[b.state]}`}>{b.state}</span> {budgetLine(b)} · by {b.by}{" "}
        <time dateTime={new Date(b.atMs).toISOString()} title={new Date(b.atMs).toLocaleString()}>
          {relativeTime(b.atMs)}
        </time>
        {earlier.length > 0 && ` · lifted before: ${earlier.join(", ")}`}
        {b.state === "stopped" && (
          <>
            {" "}
            · an operator lets it go on with{" "}
            <code data-testid="budget-lift-command">{budgetLiftCommand(props.row.shortId, r.host)}</code>
          </>
        )}
      </dd>
    </>
  );
}

/** The session's latest escalation up the Claw groups: where it went, why, and who accepted it (if anyone). */
function EscalationFacts(props: { escalation: Escalation }) {
  const e = props.escalation;
  return (
    <>
      <dt>Escalation</dt>
      <dd data-testid="session-escalation" data-accepted={String(e.acceptedBy !== null)}>
        to {e.toGroup === null ? "people" : `group ${e.toGroup}`}
        {e.fromGroup !== null && ` from group ${e.fromGroup}`}: {e.reason}
        {e.question && ` (asks: ${e.question})`} · by {e.by}{" "}
        <time dateTime={new Date(e.atMs).toISOString()}>{relativeTime(e.atMs)}</time> ·{" "}
        {e.acceptedBy === null
          ? "not accepted yet"
          : `accepted by ${e.acceptedBy}${e.acceptedAtMs === null ? "" : ` ${relativeTime(e.acceptedAtMs)}`}`}
      </dd>
    </>
  );
}

/** How a person takes the session over in a Codex TUI, on its host. */
export function AttachCommands(props: { host: string; threadId: string }) {
  return (
    <section class="attach" aria-label="Attach">
      <h2>Attach</h2>
      <p>
        On host <strong>{props.host}</strong>, through the launcher:{" "}
        <code data-testid="attach-launch">{launchResumeCommand(props.threadId)}</code>
      </p>
      <p>
        or with Codex itself: <code data-testid="attach-codex">{codexResumeCommand(props.threadId)}</code>
      </p>
    </section>
  );
}

/** The session's audit trail (`GET /api/audit?session=`), read again when the row changes and on Refresh. */
function SessionAudit(props: { sessionId: string; revision: number }) {
  const [records, setRecords] = useState<AuditRecord[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [asked, setAsked] = useState(0);
  useEffect(() => {
    let current = true;
    // The row's changes come in bursts: one read a second at most.
    const timer = setTimeout(
      async () => {
        const res = await apiGet<{ records: AuditRecord[] }>(
          `/api/audit?session=${encodeURIComponent(props.sessionId)}&limit=100`,
        );
        if (!current) return;
        if (res.ok) {
          setRecords(res.data.records);
          setError(null);
        } else setError(`${res.code}: ${res.message}`);
      },
      records === null ? 0 : 1_000,
    );
    return () => {
      current = false;
      clearTimeout(timer);
    };
  }, [props.sessionId, props.revision, asked]);
  return (
    <section class="session-audit" aria-label="Audit trail">
      <div class="section-head">
        <h2>Audit trail</h2>
        <button type="button" data-testid="session-audit-refresh" onClick={() => setAsked((n) => n + 1)}>
          Refresh
        </button>
      </div>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {records && <AuditTable records={records} caption={`Audit records of session ${props.sessionId}`} />}
    </section>
  );
}
