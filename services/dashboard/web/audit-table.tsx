/**
 * A table of audit records (oldest first, as `GET /api/audit` answers them): the audit view's and the session
 * view's trail. Each row is `data-testid="audit-row"`.
 */
import type { AuditRecord } from "../../../schemas/audit.js";
import { auditCells } from "./audit-query.js";

/** The records as a table; `caption` names it for assistive technology. */
export function AuditTable(props: { records: AuditRecord[]; caption: string }) {
  if (props.records.length === 0) return <p class="empty">No audit records match.</p>;
  return (
    <div class="table-scroll">
      <table class="audit-table">
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Kind</th>
            <th scope="col">Verb</th>
            <th scope="col">Caller</th>
            <th scope="col">Session</th>
            <th scope="col">Decision / outcome</th>
          </tr>
        </thead>
        <tbody>
          {props.records.map((r, i) => {
            const c = auditCells(r);
            return (
              <tr key={`${r.commandId}:${r.kind}:${i}`} data-testid="audit-row" data-kind={c.kind} data-verb={c.verb}>
                <td>
                  <time dateTime={new Date(r.atMs).toISOString()}>{new Date(r.atMs).toLocaleString()}</time>
                </td>
                <td>{c.kind}</td>
                <td>{c.verb}</td>
                <td>{c.caller}</td>
                <td class="mono">{c.target}</td>
                <td>{c.outcome}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
