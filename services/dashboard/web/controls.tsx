/**
 * The session controls, each one command through `POST /api/command` (so the policy service decides and audits it)
 * showing its outcome in `data-testid="command-result"`: approve/decline a held approval, reply to an ask, send
 * (auto/start/steer), interrupt, mark, assign, hand off. None is shown to a viewer (the server would refuse it).
 * A control whose reason to be shown went away (the approval was answered, the turn ended) keeps showing its last
 * outcome, so the answer to a click never vanishes with the row's change.
 */
import { useEffect, useId, useState } from "preact/hooks";
import { SendMode } from "../../../schemas/commands.js";
import type { SessionRow } from "../../../schemas/dashboard.js";
import { Disposition } from "../../../schemas/registry.js";
import { CommandResult, targetOf, useCanControl, useCommand } from "./command-state.js";
import "./views.css";

export { AssignBox, HandoffBox } from "./assign-handoff.js";
export { CommandResult, targetOf, useCanControl, useCommand } from "./command-state.js";

/** Approve and decline buttons for the approval the supervisor holds for this (autonomous) session. */
export function ApproveDecline(props: { row: SessionRow }) {
  const can = useCanControl();
  const [state, run] = useCommand("approve");
  const approval = props.row.record.approval;
  if (!can || (approval === null && state.outcome === null)) return null;
  const answer = (decision: "accept" | "decline") => () =>
    void run({ target: targetOf(props.row), ...(approval ? { requestId: approval.requestId } : {}), decision });
  return (
    <div class="control approve-decline">
      {approval !== null && (
        <>
          <p class="approval-summary">
            <span class="label">Held {approval.kind}:</span> <code>{approval.summary}</code>
          </p>
          <div class="buttons">
            <button type="button" data-testid="approve" disabled={state.running} onClick={answer("accept")}>
              Approve
            </button>
            <button
              type="button"
              data-testid="decline"
              class="danger"
              disabled={state.running}
              onClick={answer("decline")}
            >
              Decline
            </button>
          </div>
        </>
      )}
      <CommandResult verb="approve" outcome={state.outcome} />
    </div>
  );
}

/**
 * A reply to the session's unanswered ask (its correlation id goes with it, which clears the ask). Shown when the
 * session asked, or always with `always` (a plain reply starts or steers a turn like send).
 */
export function ReplyBox(props: { row: SessionRow; always?: boolean }) {
  const can = useCanControl();
  const id = useId();
  const [text, setText] = useState("");
  const [state, run] = useCommand("reply");
  const ask = props.row.record.ask;
  if (!can || (ask === null && !props.always && state.outcome === null)) return null;
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!text.trim()) return;
    const outcome = await run({
      target: targetOf(props.row),
      text: text.trim(),
      ...(ask ? { correlationId: ask.correlationId } : {}),
    });
    if (outcome.ok) setText("");
  };
  return (
    <form class="control reply-box" onSubmit={submit}>
      {ask !== null && (
        <p class="ask-question">
          <span class="label">Asks ({ask.kind}):</span> {ask.question}
        </p>
      )}
      <label for={`${id}-text`}>Reply</label>
      <textarea
        id={`${id}-text`}
        data-testid="reply-text"
        rows={2}
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
      />
      <button type="submit" data-testid="reply-submit" disabled={state.running || !text.trim()}>
        Reply
      </button>
      <CommandResult verb="reply" outcome={state.outcome} />
    </form>
  );
}

const modeLabels: Record<SendMode, string> = {
  auto: "auto: start a turn, or steer the running one",
  start: "start: a new turn only",
  steer: "steer: the running turn only",
};

/** Text into the session: `auto` starts a turn when idle and steers the running one; `start`/`steer` insist. */
export function SendBox(props: { row: SessionRow }) {
  const can = useCanControl();
  const id = useId();
  const [text, setText] = useState("");
  const [mode, setMode] = useState<SendMode>("auto");
  const [state, run] = useCommand("send");
  if (!can) return null;
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!text.trim()) return;
    const outcome = await run({ target: targetOf(props.row), text: text.trim(), mode });
    if (outcome.ok) setText("");
  };
  return (
    <form class="control send-box" onSubmit={submit}>
      <label for={`${id}-text`}>Message</label>
      <textarea
        id={`${id}-text`}
        data-testid="send-text"
        rows={3}
        value={text}
        onInput={(e) => setText(e.currentTarget.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) void submit(e);
        }}
      />
      <div class="row">
        <label for={`${id}-mode`}>Mode</label>
        <select
          id={`${id}-mode`}
          data-testid="send-mode"
          value={mode}
          onChange={(e) => setMode(SendMode.parse(e.currentTarget.value))}
        >
          {SendMode.options.map((m) => (
            <option key={m} value={m}>
              {modeLabels[m]}
            </option>
          ))}
        </select>
        <button type="submit" data-testid="send-submit" disabled={state.running || !text.trim()}>
          Send
        </button>
      </div>
      <CommandResult verb="send" outcome={state.outcome} />
    </form>
  );
}

/** Interrupts the running turn; shown while the session has one (as the registry last saw it). */
export function InterruptButton(props: { row: SessionRow }) {
  const can = useCanControl();
  const [state, run] = useCommand("interrupt");
  const r = props.row.record;
  const running = r.activeTurnId !== null || r.status === "active" || r.status === "steering";
  if (!can || (!running && state.outcome === null)) return null;
  return (
    <div class="control interrupt">
      {running && (
        <button
          type="button"
          class="danger"
          data-testid="interrupt"
          disabled={state.running}
          onClick={() => void run({ target: targetOf(props.row) })}
        >
          Interrupt turn
        </button>
      )}
      <CommandResult verb="interrupt" outcome={state.outcome} />
    </div>
  );
}

/** The session's mark (blocked, done, abandoned, or none): choosing one sends `mark`. */
export function MarkSelect(props: { row: SessionRow }) {
  const can = useCanControl();
  const id = useId();
  const [pending, setPending] = useState<string | null>(null);
  const [state, run] = useCommand("mark");
  const current = props.row.record.disposition ?? "";
  useEffect(() => setPending(null), [current]);
  if (!can) return null;
  const change = async (value: string) => {
    setPending(value);
    const parsed = Disposition.safeParse(value);
    const outcome = await run({ target: targetOf(props.row), disposition: parsed.success ? parsed.data : null });
    if (!outcome.ok) setPending(null);
  };
  return (
    <div class="control mark-select">
      <label for={`${id}-mark`}>Mark</label>
      <select
        id={`${id}-mark`}
        data-testid="mark-select"
        value={pending ?? current}
        disabled={state.running}
        onChange={(e) => void change(e.currentTarget.value)}
      >
        <option value="">none</option>
        {Disposition.options.map((d) => (
          <option key={d} value={d}>
            {d}
          </option>
        ))}
      </select>
      <CommandResult verb="mark" outcome={state.outcome} />
    </div>
  );
}
