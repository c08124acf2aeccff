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

/**
 * Who wrote a view entry: the registry partition lease it was written under (`registry.<P>.<k>`) and that
 * lease's epoch, the fencing token (the lease bucket's revision of the write that took it, so a later taking
 * always has a higher epoch, whatever the key). A registry refuses to overwrite an entry of a live higher epoch and
 * overwrites a lower one. Absent in entries written before partitions (read as epoch 0).
 */
export const ViewWriter = z.object({ lease: z.string().min(1), epoch: z.number().int().nonnegative() });
export type ViewWriter = z.infer<typeof ViewWriter>;

/** Value of `codex-sessions` key `<hostId>.<threadId>`. `v` is the entry format version. */
export const SessionEntry = z.object({
  v: z.literal(1),
  hostId: z.string().min(1),
  threadId: z.string().min(1),
  record: SessionRecord,
  /** `actor.getPersistedSnapshot()` of the session machine; opaque outside the registry. */
  snapshot: z.unknown(),
  applied: AppliedPosition,
  writer: ViewWriter.optional(),
});
export type SessionEntry = z.infer<typeof SessionEntry>;

/** Value of `codex-hosts` key `<hostId>`. */
export const HostEntry = z.object({
  v: z.literal(1),
  hostId: z.string().min(1),
  record: HostRecord,
  /** `actor.getPersistedSnapshot()` of the host machine; opaque outside the registry. */
  snapshot: z.unknown(),
  writer: ViewWriter.optional(),
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
