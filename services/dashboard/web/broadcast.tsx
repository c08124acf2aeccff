/**
 * `#/broadcast`: text to every session a filter matches. The live sessions the filter matches are listed as the
 * filter is typed, before anything is sent; the bound (maxTargets) is required and Send stays disabled while the
 * matches exceed it. The policy service checks the same filter and bound again when it runs.
 */
import { useId, useState } from "preact/hooks";
import { MAX_BROADCAST_TARGETS, SendMode } from "../../../schemas/commands.js";
import { SessionStatus } from "../../../schemas/registry.js";
import { type BroadcastForm, EMPTY_BROADCAST_FORM, broadcastPlan } from "./broadcast-plan.js";
import { CommandResult, useCanControl, useCommand } from "./controls.js";
import { useLive } from "./live.js";
import { statusLabel } from "./session-status.js";
import "./views.css";

/** Most matches listed on the page (the count is always whole). */
const SHOWN_MATCHES = 200;

type Target = { hostId: string; sessionId: string; result: { ok: boolean; code?: string; message?: string } };

/** The view. */
export function BroadcastView() {
  const live = useLive();
  const can = useCanControl();
  const id = useId();
  const [form, setForm] = useState<BroadcastForm>(EMPTY_BROADCAST_FORM);
  const [state, run] = useCommand("broadcast");
  const plan = broadcastPlan(form, live.sessions.values());
  const set =
    <K extends keyof BroadcastForm>(k: K) =>
    (e: { currentTarget: { value: string } }) =>
      setForm((f) => ({ ...f, [k]: e.currentTarget.value as BroadcastForm[K] }));
  const sessions = [...live.sessions.values()];
  const values = (pick: (r: (typeof sessions)[number]["record"]) => string | null) =>
    [...new Set(sessions.map((s) => pick(s.record)).filter((v): v is string => v !== null))].sort();
  const results = state.outcome?.ok ? ((state.outcome.data as { results?: Target[] }).results ?? []) : [];

  const submit = (e: Event) => {
    e.preventDefault();
    if (plan.args) void run(plan.args);
  };

  return (
    <section class="view broadcast-view" aria-labelledby={`${id}-h`}>
      <h1 id={`${id}-h`}>Broadcast</h1>
      <form class="form" onSubmit={submit} noValidate>
        <fieldset class="filters">
          <legend>Which sessions (at least one field)</legend>
          <div class="filter">
            <label for={`${id}-host`}>Host</label>
            <select id={`${id}-host`} data-testid="broadcast-host" value={form.host} onChange={set("host")}>
              <option value="">any</option>
              {[...live.hosts.values()].map((h) => (
                <option key={h.key} value={h.record.hostId}>
                  {h.record.hostId}
                </option>
              ))}
            </select>
          </div>
          <div class="filter">
            <label for={`${id}-repo`}>Repo</label>
            <input
              id={`${id}-repo`}
              data-testid="broadcast-repo"
              list={`${id}-repos`}
              value={form.repo}
              onInput={set("repo")}
            />
            <datalist id={`${id}-repos`}>
              {values((r) => r.repo).map((v) => (
                <option key={v} value={v} />
              ))}
            </datalist>
          </div>
          <div class="filter">
            <label for={`${id}-status`}>Status</label>
            <select id={`${id}-status`} data-testid="broadcast-status" value={form.status} onChange={set("status")}>
              <option value="">any</option>
              {SessionStatus.options.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
          </div>
          <div class="filter">
            <label for={`${id}-group`}>Group</label>
            <input
              id={`${id}-group`}
              data-testid="broadcast-group"
              list={`${id}-groups`}
              value={form.group}
              onInput={set("group")}
            />
            <datalist id={`${id}-groups`}>
              {values((r) => r.group).map((v) => (
                <option key={v} value={v} />
              ))}
            </datalist>
          </div>
          <div class="filter">
            <label for={`${id}-owner`}>Owner</label>
            <input id={`${id}-owner`} data-testid="broadcast-owner" value={form.owner} onInput={set("owner")} />
          </div>
          <div class="filter">
            <label for={`${id}-presence`}>Presence</label>
            <select
              id={`${id}-presence`}
              data-testid="broadcast-presence"
              value={form.presence}
              onChange={set("presence")}
            >
              <option value="">any</option>
              <option value="human">a person attached</option>
              <option value="autonomous">autonomous</option>
            </select>
          </div>
          <div class="filter">
            <label for={`${id}-waiting`}>Waiting on someone</label>
            <select id={`${id}-waiting`} data-testid="broadcast-waiting" value={form.waiting} onChange={set("waiting")}>
              <option value="">either</option>
              <option value="yes">waiting</option>
              <option value="no">not waiting</option>
            </select>
          </div>
        </fieldset>
        <label for={`${id}-max`}>Bound: the most sessions it may reach (required, 1 to {MAX_BROADCAST_TARGETS})</label>
        <input
          id={`${id}-max`}
          data-testid="broadcast-max"
          type="number"
          inputMode="numeric"
          min={1}
          max={MAX_BROADCAST_TARGETS}
          required
          value={form.maxTargets}
          onInput={set("maxTargets")}
        />
        <label for={`${id}-text`}>Text</label>
        <textarea id={`${id}-text`} data-testid="broadcast-text" rows={3} value={form.text} onInput={set("text")} />
        <label for={`${id}-mode`}>Mode</label>
        <select id={`${id}-mode`} data-testid="broadcast-mode" value={form.mode} onChange={set("mode")}>
          {SendMode.options.map((m) => (
            <option key={m} value={m}>
              {m}
            </option>
          ))}
        </select>
        <p
          class={plan.over ? "count over" : "count"}
          data-testid="broadcast-count"
          data-count={plan.matches.length}
          data-over={String(plan.over)}
          aria-live="polite"
        >
          {plan.filterEmpty
            ? "No filter yet: nothing matches."
            : `${plan.matches.length} live session${plan.matches.length === 1 ? "" : "s"} match${plan.maxTargets === null ? "" : ` (bound ${plan.maxTargets})`}.`}
        </p>
        {plan.blocked && (
          <p class={plan.over ? "error" : "hint"} data-testid="broadcast-blocked">
            {plan.blocked}
          </p>
        )}
        {can ? (
          <button type="submit" data-testid="broadcast-submit" disabled={plan.args === null || state.running}>
            Send to {plan.matches.length} session{plan.matches.length === 1 ? "" : "s"}
          </button>
        ) : (
          <p class="notice">Your role only looks: broadcasting needs an operator.</p>
        )}
      </form>
      <CommandResult verb="broadcast" outcome={state.outcome}>
        {results.length > 0 && (
          <ul class="broadcast-results">
            {results.map((t) => (
              <li
                key={`${t.hostId}/${t.sessionId}`}
                data-testid="broadcast-target-result"
                data-ok={String(t.result.ok)}
              >
                <span class="mono">
                  {t.hostId}/{t.sessionId}
                </span>
                : {t.result.ok ? "sent" : `${t.result.code}: ${t.result.message}`}
              </li>
            ))}
          </ul>
        )}
      </CommandResult>
      {plan.matches.length > 0 && (
        <div class="table-scroll">
          <table class="matches">
            <caption>Sessions the filter matches now</caption>
            <thead>
              <tr>
                <th scope="col">Session</th>
                <th scope="col">Host</th>
                <th scope="col">Status</th>
                <th scope="col">Repo</th>
                <th scope="col">Group</th>
                <th scope="col">Preview</th>
              </tr>
            </thead>
            <tbody>
              {plan.matches.slice(0, SHOWN_MATCHES).map((s) => (
                <tr key={s.key} data-testid="broadcast-match" data-key={s.key}>
                  <td class="mono">
                    <a href={`#/session/${s.key}`}>{s.shortId}</a>
                  </td>
                  <td>{s.record.host}</td>
                  <td>{statusLabel(s.record)}</td>
                  <td>{s.record.repo ?? "—"}</td>
                  <td>{s.record.group ?? "—"}</td>
                  <td class="clip">{s.record.summary ?? s.record.preview ?? ""}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {plan.matches.length > SHOWN_MATCHES && <p class="hint">and {plan.matches.length - SHOWN_MATCHES} more</p>}
        </div>
      )}
    </section>
  );
}
