/**
 * `#/audit`: the audit log (`GET /api/audit`, the CLI `audit` filters: session, caller, verb, time range) as a
 * table, and "Check replay": whether folding the event log through the session machines gives the live registry
 * (`GET /api/audit/replay`, the CLI's `audit replay`).
 */
import { useEffect, useId, useState } from "preact/hooks";
import type { AuditRecord } from "../../../schemas/audit.js";
import { CommandVerb } from "../../../schemas/commands.js";
import { apiGet } from "./api.js";
import { type AuditForm, EMPTY_AUDIT_FORM, auditQueryString } from "./audit-query.js";
import { AuditTable } from "./audit-table.js";
import { useLive, useMe } from "./live.js";
import "./views.css";

type Replay = { equal: boolean; differences: string[] };

/** The view: filters, the matching records (the last `limit`, oldest first), the replay check. */
export function AuditView() {
  const live = useLive();
  const me = useMe();
  const id = useId();
  const [form, setForm] = useState<AuditForm>(EMPTY_AUDIT_FORM);
  const [records, setRecords] = useState<AuditRecord[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [replay, setReplay] = useState<{ running: boolean; text: string | null; replay: Replay | null }>({
    running: false,
    text: null,
    replay: null,
  });
  const set = (k: keyof AuditForm) => (e: { currentTarget: { value: string } }) =>
    setForm((f) => ({ ...f, [k]: e.currentTarget.value }));

  const search = async (f: AuditForm) => {
    // A session's short id, as the fleet shows it, names its whole thread id (the log has whole ids).
    const typed = f.session.trim();
    const byShort = typed ? [...live.sessions.values()].find((s) => s.shortId === typed) : undefined;
    const q = auditQueryString(byShort ? { ...f, session: byShort.record.sessionId } : f);
    if (!q.ok) return setError(q.message);
    setLoading(true);
    const res = await apiGet<{ records: AuditRecord[] }>(`/api/audit${q.query ? `?${q.query}` : ""}`);
    setLoading(false);
    if (!res.ok) return setError(`${res.code}: ${res.message}`);
    setError(null);
    setRecords(res.data.records);
  };
  useEffect(() => void search(EMPTY_AUDIT_FORM), []);

  const checkReplay = async () => {
    setReplay({ running: true, text: null, replay: null });
    const res = await apiGet<Replay>("/api/audit/replay");
    setReplay(
      res.ok
        ? {
            running: false,
            replay: res.data,
            text: res.data.equal
              ? "The replay of the event log equals the live registry."
              : `The replay differs from the live registry in ${res.data.differences.length} place${res.data.differences.length === 1 ? "" : "s"}.`,
          }
        : { running: false, replay: null, text: `${res.code}: ${res.message}` },
    );
  };

  return (
    <section class="view audit-view" aria-labelledby={`${id}-h`}>
      <h1 id={`${id}-h`}>Audit</h1>
      <form
        class="form filters"
        onSubmit={(e) => {
          e.preventDefault();
          void search(form);
        }}
      >
        <div class="filter">
          <label for={`${id}-session`}>Session (id or short id)</label>
          <input id={`${id}-session`} data-testid="audit-session" value={form.session} onInput={set("session")} />
        </div>
        <div class="filter">
          <label for={`${id}-caller`}>Caller id</label>
          <input id={`${id}-caller`} data-testid="audit-caller" value={form.caller} onInput={set("caller")} />
        </div>
        <div class="filter">
          <label for={`${id}-verb`}>Verb</label>
          <input
            id={`${id}-verb`}
            data-testid="audit-verb"
            list={`${id}-verbs`}
            value={form.verb}
            onInput={set("verb")}
          />
          <datalist id={`${id}-verbs`}>
            {CommandVerb.options.map((v) => (
              <option key={v} value={v} />
            ))}
          </datalist>
        </div>
        <div class="filter">
          <label for={`${id}-since`}>Since</label>
          <input
            id={`${id}-since`}
            data-testid="audit-since"
            type="datetime-local"
            step={1}
            value={form.since}
            onInput={set("since")}
          />
        </div>
        <div class="filter">
          <label for={`${id}-until`}>Until</label>
          <input
            id={`${id}-until`}
            data-testid="audit-until"
            type="datetime-local"
            step={1}
            value={form.until}
            onInput={set("until")}
          />
        </div>
        <div class="filter">
          <label for={`${id}-limit`}>Most records</label>
          <input
            id={`${id}-limit`}
            data-testid="audit-limit"
            type="number"
            min={1}
            max={1000}
            value={form.limit}
            onInput={set("limit")}
          />
        </div>
        <button type="submit" data-testid="audit-submit" disabled={loading}>
          Search
        </button>
      </form>
      {error && (
        <p class="error" role="alert" data-testid="audit-error">
          {error}
        </p>
      )}
      {records && <AuditTable records={records} caption={`${records.length} audit records, oldest first`} />}
      <section class="replay" aria-label="Replay check">
        <h2>Replay check</h2>
        <p class="hint">Folds the event log through the session machines and compares it with the live registry.</p>
        {me?.role !== "operator" ? (
          <p class="hint">Only an operator may run it: it reads the whole event log.</p>
        ) : (
          <button type="button" data-testid="replay-check" disabled={replay.running} onClick={() => void checkReplay()}>
            {replay.running ? "Checking…" : "Check replay"}
          </button>
        )}
        {replay.text !== null && (
          <div
            class={replay.replay?.equal ? "replay-result ok" : "replay-result failed"}
            data-testid="replay-result"
            data-equal={replay.replay ? String(replay.replay.equal) : "error"}
            role="status"
          >
            <p>{replay.text}</p>
            {replay.replay && replay.replay.differences.length > 0 && (
              <ul>
                {replay.replay.differences.map((d, i) => (
                  <li key={i}>{d}</li>
                ))}
              </ul>
            )}
          </div>
        )}
      </section>
    </section>
  );
}
