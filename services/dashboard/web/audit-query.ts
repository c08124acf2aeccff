/**
 * The audit view's filters as the `GET /api/audit` query (schemas/dashboard.ts AuditQuery, the CLI `audit`
 * filters), and one audit record as the table's cells. Pure; no DOM.
 */
import type { AuditRecord } from "../../../schemas/audit.js";
import { AuditQuery } from "../../../schemas/dashboard.js";
import { issuesText } from "../../../schemas/commands.js";

/** The filter form as typed; times as a `datetime-local` input gives them (local time), empty for none. */
export interface AuditForm {
  session: string;
  caller: string;
  verb: string;
  since: string;
  until: string;
  limit: string;
}

/** A blank form: the last 100 records. */
export const EMPTY_AUDIT_FORM: AuditForm = { session: "", caller: "", verb: "", since: "", until: "", limit: "100" };

/** A `datetime-local` value as unix ms (local time), undefined when empty, NaN when not a time. Pure. */
export function localTimeMs(value: string): number | undefined {
  if (value.trim() === "") return undefined;
  return new Date(value).getTime();
}

/** The query string (without `?`) for `form`, or what is wrong with it. Pure. */
export function auditQueryString(form: AuditForm): { ok: true; query: string } | { ok: false; message: string } {
  const since = localTimeMs(form.since);
  const until = localTimeMs(form.until);
  if (Number.isNaN(since)) return { ok: false, message: "since: not a date and time" };
  if (Number.isNaN(until)) return { ok: false, message: "until: not a date and time" };
  if (since !== undefined && until !== undefined && since > until)
    return { ok: false, message: "since is after until: nothing can match" };
  const raw = {
    ...(form.session.trim() ? { session: form.session.trim() } : {}),
    ...(form.caller.trim() ? { caller: form.caller.trim() } : {}),
    ...(form.verb.trim() ? { verb: form.verb.trim() } : {}),
    ...(since === undefined ? {} : { since }),
    ...(until === undefined ? {} : { until }),
    ...(form.limit.trim() ? { limit: form.limit.trim() } : {}),
  };
  const parsed = AuditQuery.safeParse(raw);
  if (!parsed.success) return { ok: false, message: issuesText(parsed.error) };
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(parsed.data)) if (v !== undefined) params.set(k, String(v));
  return { ok: true, query: params.toString() };
}

/** One record as the table shows it: who, what, on which session, and how it ended. Pure. */
export interface AuditCells {
  kind: string;
  verb: string;
  caller: string;
  target: string;
  outcome: string;
  commandId: string;
}

/** The table's cells for `r`. Pure. */
export function auditCells(r: AuditRecord): AuditCells {
  const request = (r.detail as { request?: unknown } | null | undefined)?.request;
  const verb = r.kind === "admin" && typeof request === "string" ? request : (r.verb ?? "-");
  const target = r.target?.sessionId ? `${r.target.hostId ?? "?"}/${r.target.sessionId}` : (r.target?.hostId ?? "-");
  const outcome = r.decision
    ? r.decision.allow
      ? `allowed${r.decision.ruleId ? ` (rule ${r.decision.ruleId})` : ""}`
      : `refused${r.decision.code ? ` ${r.decision.code}` : ""}${r.decision.reason ? `: ${r.decision.reason}` : ""}`
    : r.outcome
      ? r.outcome.ok
        ? "ok"
        : `${r.outcome.code ?? "failed"}${r.outcome.message ? `: ${r.outcome.message}` : ""}`
      : "";
  return {
    kind: r.kind,
    verb,
    caller: r.caller ? `${r.caller.role}:${r.caller.id}` : "-",
    target,
    outcome,
    commandId: r.commandId,
  };
}
