/**
 * The session controls, each one command through `POST /api/command` (so the policy service decides and audits it)
 * showing its outcome in `data-testid="command-result"`: approve/decline a held approval, reply to an ask, send
 * (auto/start/steer), interrupt, mark, assign, hand off. None is shown to a viewer (the server would refuse it).
 * A control whose reason to be shown went away (the approval was answered, the turn ended) keeps showing its last
 * outcome, so the answer to a click never vanishes with the row's change.
 */
import type { ComponentChildren } from "preact";
import { useEffect, useId, useRef, useState } from "preact/hooks";
import { SendMode } from "../../../schemas/commands.js";
import type { DashboardVerb, SessionRow } from "../../../schemas/dashboard.js";
import { Disposition } from "../../../schemas/registry.js";
import { runCommand } from "./api.js";
import { type CommandOutcome, outcomeText } from "./command-text.js";
import { useMe } from "./live.js";
import "./views.css";

/** True when the signed-in operator may use controls (role operator; a viewer only looks). */
export function useCanControl(): boolean {
  return useMe()?.role === "operator";
}

/** The row's session as a command target: its thread id and host. */
export function targetOf(row: SessionRow): { sessionId: string; hostId: string } {
  return { sessionId: row.record.sessionId, hostId: row.record.host };
}

interface CommandState {
  running: boolean;
  outcome: CommandOutcome | null;
}

/**
 * One verb's command state and runner: `run(args)` sends it (a fresh idempotency key per call, made by
 * runCommand) and keeps its outcome; a throw (the network) becomes a failure outcome.
 */
export function useCommand(
  verb: DashboardVerb,
): [CommandState, (args: Record<string, unknown>) => Promise<CommandOutcome>] {
  const [state, setState] = useState<CommandState>({ running: false, outcome: null });
  const live = useRef(true);
  useEffect(
    () => () => {
      live.current = false;
    },
    [],
  );
  const run = async (args: Record<string, unknown>): Promise<CommandOutcome> => {
    setState({ running: true, outcome: null });
    let outcome: CommandOutcome;
    try {
      outcome = (await runCommand(verb, args)) as CommandOutcome;
    } catch (err) {
      outcome = { ok: false, code: "unavailable", message: `the dashboard did not answer: ${String(err)}` };
    }
    if (live.current) setState({ running: false, outcome });
    return outcome;
  };
  return [state, run];
}

/** A command's outcome line (nothing before the first run). */
export function CommandResult(props: {
  verb: DashboardVerb;
  outcome: CommandOutcome | null;
  children?: ComponentChildren;
}) {
  const { outcome } = props;
  if (outcome === null) return null;
  return (
    <div
      class={`command-result ${outcome.ok ? "ok" : "failed"}`}
      data-testid="command-result"
      data-verb={props.verb}
      data-ok={String(outcome.ok)}
      role="status"
    >
      {outcomeText(props.verb, outcome)}
      {props.children}
    </div>
  );
}

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

/** The session's group and owner: a changed field is sent, an emptied one cleared. */
export function AssignBox(props: { row: SessionRow }) {
  const can = useCanControl();
  const id = useId();
  const r = props.row.record;
  const [group, setGroup] = useState(r.group ?? "");
  const [owner, setOwner] = useState(r.owner ?? "");
  const [state, run] = useCommand("assign");
  useEffect(() => setGroup(r.group ?? ""), [r.group]);
  useEffect(() => setOwner(r.owner ?? ""), [r.owner]);
  if (!can) return null;
  const changes = {
    ...(group.trim() !== (r.group ?? "") ? { group: group.trim() || null } : {}),
    ...(owner.trim() !== (r.owner ?? "") ? { owner: owner.trim() || null } : {}),
  };
  const changed = Object.keys(changes).length > 0;
  const submit = (e: Event) => {
    e.preventDefault();
    if (changed) void run({ target: targetOf(props.row), ...changes });
  };
  return (
    <form class="control assign-box" onSubmit={submit}>
      <label for={`${id}-group`}>Group</label>
      <input
        id={`${id}-group`}
        data-testid="assign-group"
        value={group}
        onInput={(e) => setGroup(e.currentTarget.value)}
      />
      <label for={`${id}-owner`}>Owner</label>
      <input
        id={`${id}-owner`}
        data-testid="assign-owner"
        value={owner}
        onInput={(e) => setOwner(e.currentTarget.value)}
      />
      <button type="submit" data-testid="assign-submit" disabled={state.running || !changed}>
        Assign
      </button>
      <CommandResult verb="assign" outcome={state.outcome} />
    </form>
  );
}

/** Hands the session to a person (who attaches with the printed command) or to a peer session, with a note. */
export function HandoffBox(props: { row: SessionRow }) {
  const can = useCanControl();
  const id = useId();
  const [kind, setKind] = useState<"human" | "session">("human");
  const [who, setWho] = useState("");
  const [peer, setPeer] = useState("");
  const [note, setNote] = useState("");
  const [state, run] = useCommand("handoff");
  if (!can) return null;
  const ready = kind === "human" || peer.trim() !== "";
  const submit = (e: Event) => {
    e.preventDefault();
    if (!ready) return;
    const to =
      kind === "human" ? { kind, ...(who.trim() ? { who: who.trim() } : {}) } : { kind, sessionId: peer.trim() };
    void run({ target: targetOf(props.row), to, note: note.trim() });
  };
  const attach =
    state.outcome?.ok === true ? (state.outcome.data as { attachCommand?: unknown } | null)?.attachCommand : undefined;
  return (
    <form class="control handoff-box" onSubmit={submit}>
      <fieldset>
        <legend>Hand off to</legend>
        <label>
          <input
            type="radio"
            name={`${id}-kind`}
            data-testid="handoff-human"
            checked={kind === "human"}
            onChange={() => setKind("human")}
          />{" "}
          a person
        </label>
        <label>
          <input
            type="radio"
            name={`${id}-kind`}
            data-testid="handoff-session"
            checked={kind === "session"}
            onChange={() => setKind("session")}
          />{" "}
          a peer session
        </label>
      </fieldset>
      {kind === "human" ? (
        <>
          <label for={`${id}-who`}>Person (optional)</label>
          <input
            id={`${id}-who`}
            data-testid="handoff-who"
            value={who}
            onInput={(e) => setWho(e.currentTarget.value)}
          />
        </>
      ) : (
        <>
          <label for={`${id}-peer`}>Peer session id</label>
          <input
            id={`${id}-peer`}
            data-testid="handoff-peer"
            value={peer}
            onInput={(e) => setPeer(e.currentTarget.value)}
          />
        </>
      )}
      <label for={`${id}-note`}>Note</label>
      <textarea
        id={`${id}-note`}
        data-testid="handoff-note"
        rows={2}
        value={note}
        onInput={(e) => setNote(e.currentTarget.value)}
      />
      <button type="submit" data-testid="handoff-submit" disabled={state.running || !ready}>
        Hand off
      </button>
      <CommandResult verb="handoff" outcome={state.outcome}>
        {typeof attach === "string" && kind === "human" && (
          <p>
            To take it over on host {props.row.record.host}: <code>{attach}</code>
          </p>
        )}
      </CommandResult>
    </form>
  );
}
