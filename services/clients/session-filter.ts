/**
 * Whether a session record matches a `SessionFilter`: the one rule the registry's `list` query applies and the
 * CLI's `--watch` uses to follow the same set from KV changes. Pure.
 */
import type { SessionFilter, SessionRecord } from "../../schemas/registry.js";
import { isWaiting, needsAttention } from "./attention.js";

/** True when `record` matches every field given in `filter`. Pure. */
export function matchesFilter(record: SessionRecord, filter: SessionFilter): boolean {
  return (
    (filter.host === undefined || record.host === filter.host) &&
    (filter.repo === undefined || record.repo === filter.repo) &&
    (filter.status === undefined || record.status === filter.status) &&
    (filter.disposition === undefined || record.disposition === filter.disposition) &&
    (filter.humanAttached === undefined || record.humanAttached === filter.humanAttached) &&
    (filter.autonomous === undefined || record.autonomous === filter.autonomous) &&
    (filter.group === undefined || record.group === filter.group) &&
    (filter.owner === undefined || record.owner === filter.owner) &&
    (filter.waiting === undefined || isWaiting(record) === filter.waiting) &&
    (filter.attention === undefined || needsAttention(record) === filter.attention)
  );
}
