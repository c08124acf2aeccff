/**
 * The session's assign (group, owner) and handoff (to a person or a peer session) controls; controls.tsx
 * re-exports them. Hidden for a viewer.
 */
import { useEffect, useId, useState } from "preact/hooks";
import type { SessionRow } from "../../../schemas/dashboard.js";
import { CommandResult, targetOf, useCanControl, useCommand } from "./command-state.js";
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
