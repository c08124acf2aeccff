/**
 * The values the registry keeps in KV: the public record beside what restores its actor exactly (the machine's
 * persisted snapshot and, for sessions, the last applied event position), with the key and the ordering of
 * positions that go with them. Readers other than the registry use only `record`.
 */
import { z } from "zod";
import { HostRecord, SessionRecord } from "./registry.js";

/** Where a session's event stream has been applied up to: `(epoch, seq)` of the last applied envelope. */
export const AppliedPosition = z.object({ epoch: z.string().min(1), seq: z.number().int().nonnegative() });
export type AppliedPosition = z.infer<typeof AppliedPosition>;

/** Value of `codex-sessions` key `<hostId>.<threadId>`. `v` is the entry format version. */
export const SessionEntry = z.object({
  v: z.literal(1),
  hostId: z.string().min(1),
  threadId: z.string().min(1),
  record: SessionRecord,
  /** `actor.getPersistedSnapshot()` of the session machine; opaque outside the registry. */
  snapshot: z.unknown(),
  applied: AppliedPosition,
});
export type SessionEntry = z.infer<typeof SessionEntry>;

/** Value of `codex-hosts` key `<hostId>`. */
export const HostEntry = z.object({
  v: z.literal(1),
  hostId: z.string().min(1),
  record: HostRecord,
  /** `actor.getPersistedSnapshot()` of the host machine; opaque outside the registry. */
  snapshot: z.unknown(),
});
export type HostEntry = z.infer<typeof HostEntry>;

/** KV key of a session: `<hostId>.<threadId>` (both are validated subject tokens). Pure. */
export function sessionKey(hostId: string, threadId: string): string {
  return `${hostId}.${threadId}`;
}

/**
 * Orders two positions: epoch first (epochs are time-sortable strings, compared by code unit), then seq.
 * Negative when `a` comes first, 0 when equal. Pure.
 */
export function comparePositions(a: AppliedPosition, b: AppliedPosition): number {
  if (a.epoch !== b.epoch) return a.epoch < b.epoch ? -1 : 1;
  return a.seq - b.seq;
}

/** True when an envelope at `next` was already applied by a session at `applied`: the idempotency rule. Pure. */
export function alreadyApplied(applied: AppliedPosition | null, next: AppliedPosition): boolean {
  return applied !== null && comparePositions(next, applied) <= 0;
}
