/**
 * How a session machine's persisted snapshot is stored in its KV entry. The machine's context holds every field
 * of the session's record but `status` and `waitingOn`, plus a few of its own, and the entry carries that record
 * beside the snapshot. So the stored snapshot keeps only the context fields that differ from the record and says
 * so with `"fromRecord":true`; restoring puts the record's fields back. A plain session's entry goes from about
 * 1,170 to about 780 bytes, which every write, every replica and every watcher of the view pays for.
 *
 * Exact: a field is left out only when the context holds the very value the record holds (the same object, or
 * the same primitive), and a context missing any of those fields (a snapshot from before they existed) is stored
 * whole. A snapshot without the marker (every entry written before this form) is restored as it is.
 * A registry from before this form cannot restore it: while one may still run, give the newer ones
 * `sessionSnapshots: "whole"` (services/registry/README.md, "The stored snapshot").
 * Pure.
 */
import { SessionRecord } from "../../schemas/registry.js";

/**
 * The record's fields the session machine's context holds: all but `status` and `waitingOn`, which the machine's
 * state gives. In the schema's order, which is the context's own (machines/session.ts; snapshot-form.test.ts).
 */
export const RECORD_FIELDS_IN_CONTEXT = (Object.keys(SessionRecord.shape) as (keyof SessionRecord)[]).filter(
  (field) => field !== "status" && field !== "waitingOn",
);

const inRecord: ReadonlySet<string> = new Set(RECORD_FIELDS_IN_CONTEXT);

/** A persisted snapshot as the stepper gives it: its fields, the context among them. */
export interface PersistedSnapshot {
  context: Record<string, unknown>;
  [field: string]: unknown;
}

/**
 * The stored form of `persisted` beside `record`: the context without the fields equal to the record's, marked
 * `fromRecord`; `persisted` itself when a record field is missing from its context.
 */
export function compactSessionSnapshot(persisted: PersistedSnapshot, record: SessionRecord): PersistedSnapshot {
  const context = persisted.context;
  const own: Record<string, unknown> = {};
  for (const field of RECORD_FIELDS_IN_CONTEXT) {
    const value = context[field];
    if (value === undefined) return persisted;
    if (value !== record[field]) own[field] = value;
  }
  for (const field in context) if (!inRecord.has(field)) own[field] = context[field];
  return { ...persisted, context: own, fromRecord: true };
}

/** The persisted snapshot a stored one stands for, given the record stored beside it. */
export function expandSessionSnapshot(stored: unknown, record: SessionRecord): unknown {
  if (typeof stored !== "object" || stored === null || (stored as { fromRecord?: unknown }).fromRecord !== true)
    return stored;
  const fields = stored as Record<string, unknown>;
  const own = (typeof fields.context === "object" && fields.context !== null ? fields.context : {}) as Record<
    string,
    unknown
  >;
  const context: Record<string, unknown> = {};
  for (const field of RECORD_FIELDS_IN_CONTEXT) context[field] = Object.hasOwn(own, field) ? own[field] : record[field];
  for (const field in own) if (!inRecord.has(field)) context[field] = own[field];
  // The snapshot's other fields as they were, in their order, the context in its place, the marker gone.
  const persisted: Record<string, unknown> = {};
  for (const field in fields)
    if (field !== "fromRecord") persisted[field] = field === "context" ? context : fields[field];
  return persisted;
}
