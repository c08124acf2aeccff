/**
 * KV buckets as the services use them: nats.js's bucket handle under the bus's names, opened by bucket name;
 * the one compare-and-set write (a publish to `$KV.<bucket>.<key>` expecting the key's last revision, what
 * `kv.create`/`kv.update` send, through the pipelined JetStreamPublisher); and reading every current entry of a
 * bucket at once. Everything here works on nats-server 2.9.
 */
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm, type KV, type KvEntry as NatsKvEntry, type KvWatchEntry as NatsKvWatchEntry } from "@nats-io/kv";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import { ensureKvBucket, kvStreamName } from "./ensure.js";
import { BusError, JsErrCode, jsApiErrCode, toBusError } from "./errors.js";
import type { JetStreamPublisher, PublishAck } from "./js-publisher.js";
import type { BusKvSpec } from "./topology.js";

/** An open KV bucket: get, put, create, update (CAS on revision), delete, keys, watch, status. */
export type KvBucket = KV;
/** One entry read from a bucket: `key`, `revision` (its stream sequence), `operation` (PUT, DEL, PURGE), value. */
export type KvEntry = NatsKvEntry;
/** One entry delivered by `KvBucket.watch` (`include: "updates"` for changes only, default: current values first). */
export type KvWatchEntry = NatsKvWatchEntry;

/**
 * True when the stored message behind `entry` was copied onto its key from another subject. The server stores a
 * direct get's answer, headers and all, on whatever subject the asker named as the reply (a KV key included),
 * and that answer names the subject it was read from in `Nats-Subject`; no client's write carries that header.
 * nats.js keeps the stored message on the entry as `sm` (`header` after a direct get, which adds the entry's
 * own `Nats-Subject` last; `headers` in a watch). False when the entry does not show it.
 */
export function copiedFromElsewhere(entry: KvEntry | KvWatchEntry): boolean {
  // An entry made from a follow (kv-follow.ts) says so itself.
  if ((entry as { copied?: unknown }).copied === true) return true;
  const sm = (entry as unknown as { sm?: { subject?: unknown; header?: Hdrs; headers?: Hdrs } }).sm;
  const hdrs = sm?.header ?? sm?.headers;
  if (typeof sm?.subject !== "string" || hdrs === undefined || typeof hdrs.values !== "function") return false;
  const own = sm.subject;
  return hdrs.values("Nats-Subject").some((v) => v !== own);
}
interface Hdrs {
  values(key: string): string[];
}

/** How to open a bucket: `mustExist` checks it exists (one request); `createFrom` creates a missing one first. */
export interface OpenKvBucketOptions {
  mustExist?: boolean;
  /** Creates the bucket from this spec when it does not exist (implies `mustExist`); never reconfigures one. */
  createFrom?: BusKvSpec;
  /**
   * Reads by direct get of the key's subject (`$JS.API.DIRECT.GET.<stream>.<subject>`, nats-server 2.9 with the
   * bucket's allow_direct): what a user allowed to read some keys only, by subject, needs (the `claw` user).
   */
  direct?: boolean;
}

/**
 * Opens KV bucket `bucket`. Without options nothing is asked of the server (a missing bucket fails on first use);
 * a missing bucket then fails with the JetStream API code `JsErrCode.StreamNotFound` (see `jsApiErrCode`).
 */
export async function openKvBucket(
  nc: NatsConnection,
  bucket: string,
  opts: OpenKvBucketOptions = {},
): Promise<KvBucket> {
  const open = async (): Promise<KvBucket> => {
    const kv = await new Kvm(nc).open(bucket, opts.direct ? { allow_direct: true } : {});
    if (opts.mustExist || opts.createFrom) await kv.status();
    return kv;
  };
  if (!opts.createFrom) return open();
  try {
    return await open();
  } catch (err) {
    if (jsApiErrCode(err) !== JsErrCode.StreamNotFound) throw err;
    await ensureKvBucket(nc, await jetstreamManager(nc), opts.createFrom);
    return open();
  }
}

/**
 * Writes `value` at `key` of `bucket` through `publisher` (no per-write timer or inbox) and resolves with the
 * ack, whose `seq` is the entry's new revision. With `expectedRevision` it is a compare-and-set: stored only
 * if the key's last revision is that one (0: the key has no entry at all, not even a delete marker); otherwise
 * it rejects with a BusError that `isRevisionConflict` (errors.ts) recognises. Uses `Nats-Expected-Last-Subject-Sequence`
 * (nats-server 2.9).
 */
export function putKvEntry(
  publisher: JetStreamPublisher,
  bucket: string,
  key: string,
  value: string | Uint8Array,
  expectedRevision?: number,
): Promise<PublishAck> {
  return expectedRevision === undefined
    ? publisher.publish(`$KV.${bucket}.${key}`, value)
    : publisher.publish(`$KV.${bucket}.${key}`, value, { expectLastSubjectSequence: expectedRevision });
}

/** One current KV entry: its JSON value and revision. */
export interface LoadedKvEntry {
  value: unknown;
  revision: number;
}

const LOAD_BATCH = 500;

/**
 * Reads the last message of every key of `bucket` matching `keys` (a KV key pattern) through one short-lived
 * ephemeral pull consumer (deliver last per subject, no acks), handing each to `take`. It reads exactly the
 * messages pending when the consumer was created, so keys written meanwhile neither stall nor repeat it, and
 * every fetch has an expiry, so it ends or throws. (nats.js's `kv.keys()` ends on a message with nothing pending
 * after it or an idle heartbeat, which a bucket renewed every few hundred milliseconds need not give soon; a
 * registry instance's balancing once stopped for good on a look that listed its keys that way.) Throws BusErrors.
 */
async function readLastPerKey(
  nc: NatsConnection,
  bucket: string,
  opts: { keys?: string; headersOnly?: boolean },
  take: (key: string, m: { seq: number; operation: string; json(): unknown }) => void,
): Promise<void> {
  const stream = kvStreamName(bucket);
  const prefix = `$KV.${bucket}.`;
  try {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const info = await jsm.consumers.add(stream, {
      ack_policy: AckPolicy.None,
      deliver_policy: DeliverPolicy.LastPerSubject,
      filter_subject: `${prefix}${opts.keys ?? ">"}`,
      inactive_threshold: nanos(30_000),
      ...(opts.headersOnly ? { headers_only: true } : {}),
    });
    try {
      const consumer = await js.consumers.get(stream, info.name);
      let remaining = info.num_pending;
      while (remaining > 0) {
        const batch = await consumer.fetch({ max_messages: Math.min(remaining, LOAD_BATCH), expires: 5_000 });
        let got = 0;
        for await (const m of batch) {
          got++;
          remaining--;
          take(m.subject.slice(prefix.length), {
            seq: m.seq,
            operation: m.headers?.get("KV-Operation") ?? "",
            json: () => m.json(),
          });
        }
        if (got === 0)
          throw new BusError("timeout", `reading ${bucket}: no entries arrived while ${remaining} were pending`, {
            retryable: true,
          });
      }
    } finally {
      await jsm.consumers.delete(stream, info.name).catch(() => undefined);
    }
  } catch (err) {
    throw toBusError(err, `read KV bucket ${bucket}`);
  }
}

/**
 * Reads the current value (parsed as JSON) of every key in `bucket` through one short-lived ephemeral consumer
 * (deliver last per subject, no acks): O(keys) messages, no per-key request. Skips deleted keys. Throws BusErrors.
 */
export async function loadKvBucket(nc: NatsConnection, bucket: string): Promise<Map<string, LoadedKvEntry>> {
  const entries = new Map<string, LoadedKvEntry>();
  await readLastPerKey(nc, bucket, {}, (key, m) => {
    if (m.operation === "DEL" || m.operation === "PURGE") entries.delete(key);
    else entries.set(key, { value: m.json(), revision: m.seq });
  });
  return entries;
}

/**
 * The keys of `bucket` matching `keys` (a KV key pattern, default every key) that hold a value now, sorted; read
 * like `loadKvBucket`, headers only, so it always ends. Use it instead of nats.js's `kv.keys()` (see
 * `readLastPerKey`). Throws BusErrors.
 */
export async function listKvKeys(nc: NatsConnection, bucket: string, keys = ">"): Promise<string[]> {
  const live = new Set<string>();
  await readLastPerKey(nc, bucket, { keys, headersOnly: true }, (key, m) => {
    if (m.operation === "DEL" || m.operation === "PURGE") live.delete(key);
    else live.add(key);
  });
  return [...live].sort();
}
