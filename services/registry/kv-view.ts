/**
 * The registry's KV view: writing entries with compare-and-set on revision (the bus's `putKvEntry` through the
 * pipelined JetStreamPublisher, expecting the key's last revision, 0 for a new key), retrying on a revision
 * conflict. The registry is the only writer of its buckets; a conflict means someone else wrote, and the
 * registry's in-memory state (built from the event log) wins. Loading a bucket at start-up is the bus's
 * `loadKvBucket`.
 */
import { isRevisionConflict, putKvEntry, toBusError, type JetStreamPublisher, type KvBucket } from "../bus/index.js";

const MAX_CAS_ATTEMPTS = 5;

/** Counters of one KV table since start. */
export interface KvTableStats {
  writes: number;
  conflicts: number;
}

/** A KV bucket written with compare-and-set; remembers the revision it last wrote or read for every key. */
export class KvTable {
  readonly stats: KvTableStats = { writes: 0, conflicts: 0 };
  private readonly revisions = new Map<string, number>();

  constructor(
    private readonly kv: KvBucket,
    readonly bucket: string,
    private readonly publisher: JetStreamPublisher,
  ) {}

  /** Records the revision a key was read at (start-up restore), so the next write is a CAS on it. */
  remember(key: string, revision: number): void {
    this.revisions.set(key, revision);
  }

  /** Writes `value` (JSON) at `key` with compare-and-set; on a conflict re-reads the revision and retries. */
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
        const current = await this.kv.get(key).catch((e: unknown) => {
          throw toBusError(e, `read ${this.bucket} ${key} after a revision conflict`);
        });
        // A deleted key's marker is its last revision too.
        if (current === null) this.revisions.delete(key);
        else this.revisions.set(key, current.revision);
      }
    }
  }
}
