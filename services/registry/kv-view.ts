/**
 * The registry's KV view: reading every current entry of a bucket at start-up, and writing entries with
 * compare-and-set on revision (a publish to `$KV.<bucket>.<key>` expecting the key's last revision, 0 for a new
 * key: what `kv.create`/`kv.update` send, through the pipelined JetStreamPublisher), retrying on a revision
 * conflict. The registry is the only writer of its buckets; a conflict means someone else wrote, and
 * the registry's in-memory state (built from the event log) wins.
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { BusError, jsApiErrCode, kvStreamName, toBusError, type JetStreamPublisher } from "../bus/index.js";

// JetStream err_codes for a failed `Nats-Expected-Last-Subject-Sequence` check (nats-server errors.json).
const WRONG_LAST_SEQUENCE = new Set([10071, 10164]);
const MAX_CAS_ATTEMPTS = 5;
const LOAD_BATCH = 500;

/** One current KV entry: its JSON value and revision. */
export interface LoadedEntry {
  value: unknown;
  revision: number;
}

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
    private readonly kv: KV,
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
        const { seq: revision } = await this.publisher.publish(`$KV.${this.bucket}.${key}`, value, {
          expectLastSubjectSequence: known ?? 0,
        });
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

function isRevisionConflict(err: unknown): boolean {
  const code = jsApiErrCode(err);
  return code !== undefined && WRONG_LAST_SEQUENCE.has(code);
}

/**
 * Reads the current value of every key in `bucket` through one short-lived ephemeral consumer
 * (deliver last per subject, no acks): O(keys) messages, no per-key request. Skips deleted keys.
 */
export async function loadBucket(nc: NatsConnection, bucket: string): Promise<Map<string, LoadedEntry>> {
  const stream = kvStreamName(bucket);
  const prefix = `$KV.${bucket}.`;
  const entries = new Map<string, LoadedEntry>();
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const info = await jsm.consumers.add(stream, {
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.LastPerSubject,
      filter_subject: `${prefix}>`,
      inactive_threshold: nanos(30_000),
    });
    const consumer = await js.consumers.get(stream, info.name);
    let remaining = info.num_pending;
    while (remaining > 0) {
      const batch = await consumer.fetch({ max_messages: Math.min(remaining, LOAD_BATCH), expires: 5_000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        const operation = m.headers?.get("KV-Operation") ?? "";
        const key = m.subject.slice(prefix.length);
        if (operation === "DEL" || operation === "PURGE") entries.delete(key);
        else entries.set(key, { value: m.json(), revision: m.seq });
        remaining = m.info.pending;
      }
      if (got === 0)
        throw new BusError("timeout", `reading ${bucket}: no entries arrived while ${remaining} were pending`, {
          retryable: true,
        });
    }
    await jsm.consumers.delete(stream, info.name).catch(() => undefined);
  } catch (err) {
    throw toBusError(err, `load KV bucket ${bucket}`);
  }
  return entries;
}
