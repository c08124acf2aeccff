/**
 * The registry's KV view: writing entries with compare-and-set on revision (the bus's `putKvEntry` through the
 * pipelined JetStreamPublisher, expecting the key's last revision, 0 for a new key), retrying on a revision
 * conflict. Loading a bucket at start-up is the bus's `loadKvBucket`.
 *
 * Fencing (a table given a `Fence`): each value carries its writer (the partition lease and its epoch,
 * `ViewWriter` in schemas/registry-entry.ts), and a revision conflict is settled by the entry that is there:
 * - written by a higher epoch whose lease is still held at that epoch or a later one: a newer owner writes this
 *   partition; the write is refused (`DeposedError`) and never retried;
 * - written by a lower epoch (a deposed writer's late write, an entry from before partitions, an outside edit),
 *   by a higher epoch whose lease is gone, or under a lease that never covers the key (`mayOwn`: another
 *   partition's entry, which a bus user can have the server copy onto any key never written): counted, and
 *   overwritten (unless `onOlder` adopts it: a session entry that is further along than ours);
 * - written under our own lease and epoch (a publish we saw fail that was stored): retried on its revision.
 * CAS on revision is what makes this hold: a write lands only on the revision its writer last saw, so a deposed
 * writer can never overwrite what the new owner wrote; it can only land on a key the new owner has not written
 * yet, which the new owner then overwrites. Without a fence (tests, tools) a conflict is simply overwritten.
 */
import type { ViewWriter } from "../../schemas/registry-entry.js";
import {
  isRevisionConflict,
  putKvEntry,
  toBusError,
  type JetStreamPublisher,
  type KvBucket,
  type KvEntry,
} from "../bus/index.js";

const MAX_CAS_ATTEMPTS = 5;

/** Counters of one KV table since start. */
export interface KvTableStats {
  writes: number;
  conflicts: number;
}

/** Fencing counters of one KV table since start (see the module comment). */
export interface KvFenceStats {
  /** Conflicts with an entry of a lower epoch (or none) that we overwrote or adopted. */
  overOlder: number;
  /** Writes refused because a live higher epoch wrote the entry. */
  refused: number;
}

/** What a fenced table writes under and how it tells a live newer writer from a dead one. */
export interface Fence {
  writer: ViewWriter;
  /** The epoch lease key `lease` is held at now, or null when nobody holds it (free, released, collected). */
  liveEpoch(lease: string): Promise<number | null>;
  /** Whether an entry at `key` written under lease `lease` can be a rightful writer's (default: any lease). */
  mayOwn?(lease: string, key: string): boolean;
  /**
   * A conflicting entry from an older writer (parsed JSON, or undefined when it is not JSON): `keep` adopts it
   * (the caller took it into its state; nothing is written), `overwrite` writes ours over it.
   */
  onOlder?(key: string, current: unknown): "keep" | "overwrite";
  /** Called on every revision conflict, for metrics. */
  onConflict?(): void;
}

/** A write refused because a live writer with a higher epoch owns the entry now. */
export class DeposedError extends Error {
  override readonly name = "DeposedError";
  constructor(
    readonly bucket: string,
    readonly key: string,
    readonly by: ViewWriter,
    readonly mine: ViewWriter,
  ) {
    super(
      `${bucket} ${key} was written by lease ${by.lease} at epoch ${by.epoch}, newer than ours (${mine.lease} at epoch ${mine.epoch}): this partition has a new owner`,
    );
  }
}

/** The writer a view entry names (epoch 0 for an entry without one, or one that is not an object). Pure. */
export function writerOf(value: unknown): ViewWriter {
  const w = (value as { writer?: { lease?: unknown; epoch?: unknown } } | null)?.writer;
  return typeof w?.lease === "string" && typeof w.epoch === "number" ? { lease: w.lease, epoch: w.epoch } : NO_WRITER;
}
const NO_WRITER: ViewWriter = { lease: "", epoch: 0 };

function jsonOf(entry: KvEntry): unknown {
  try {
    return entry.json();
  } catch {
    return undefined;
  }
}

/** A KV bucket written with compare-and-set; remembers the revision it last wrote or read for every key. */
export class KvTable {
  readonly stats: KvTableStats = { writes: 0, conflicts: 0 };
  readonly fenceStats: KvFenceStats = { overOlder: 0, refused: 0 };
  private readonly revisions = new Map<string, number>();

  constructor(
    private readonly kv: KvBucket,
    readonly bucket: string,
    private readonly publisher: JetStreamPublisher,
    private readonly fence?: Fence,
  ) {}

  /** Records the revision a key was read at (start-up restore), so the next write is a CAS on it. */
  remember(key: string, revision: number): void {
    this.revisions.set(key, revision);
  }

  /**
   * Writes `value` (JSON) at `key` with compare-and-set; on a conflict settles it (see the module comment) and
   * retries. Resolves with the new revision, or the current one when an older entry was adopted instead.
   * Rejects with `DeposedError` when a live newer writer owns the key.
   */
  async write(key: string, value: string): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      const known = this.revisions.get(key);
      try {
        const { seq: revision } = await putKvEntry(this.publisher, this.bucket, key, value, known ?? 0);
        this.revisions.set(key, revision);
        this.stats.writes++;
        return revision;
      } catch (err) {
        if (!isRevisionConflict(err) || attempt >= MAX_CAS_ATTEMPTS) {
          throw toBusError(err, `write ${this.bucket} ${key}`);
        }
        this.stats.conflicts++;
        this.fence?.onConflict?.();
        const current = await this.kv.get(key).catch((e: unknown) => {
          throw toBusError(e, `read ${this.bucket} ${key} after a revision conflict`);
        });
        // A deleted key's marker is its last revision too.
        if (current === null) {
          this.revisions.delete(key);
          continue;
        }
        this.revisions.set(key, current.revision);
        if (!this.fence || current.operation !== "PUT") continue;
        if ((await this.settle(key, current)) === "keep") return current.revision;
      }
    }
  }

  /** Decides a conflict against the entry `current` (see the module comment); throws when we are deposed. */
  private async settle(key: string, current: KvEntry): Promise<"keep" | "overwrite"> {
    const fence = this.fence as Fence;
    const mine = fence.writer;
    const value = jsonOf(current);
    const theirs = writerOf(value);
    if (theirs.lease === mine.lease && theirs.epoch === mine.epoch) return "overwrite";
    if (theirs.epoch >= mine.epoch && (fence.mayOwn?.(theirs.lease, key) ?? true)) {
      const live = await fence.liveEpoch(theirs.lease).catch((e: unknown) => {
        throw toBusError(e, `read lease ${theirs.lease} after a conflict on ${this.bucket} ${key}`);
      });
      if (live !== null && live > mine.epoch) {
        this.fenceStats.refused++;
        throw new DeposedError(this.bucket, key, theirs, mine);
      }
    }
    this.fenceStats.overOlder++;
    return fence.onOlder?.(key, value) ?? "overwrite";
  }
}
