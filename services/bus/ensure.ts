import {
  DiscardPolicy,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type StreamConfig,
  type StreamInfo,
  type StreamUpdateConfig,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { nanos, type NatsConnection } from "@nats-io/transport-node";
import type { BusTopologyConfigInput } from "../../schemas/bus.js";
import { BusError, JsErrCode, jsApiErrCode, toBusError } from "./errors.js";
import { BUS_REQUIRED_FEATURES, requireServerFeature } from "./server-version.js";
import {
  busTopology,
  defaultDuplicateWindowMs,
  type BusKvSpec,
  type BusStreamSpec,
  type BusTopology,
} from "./topology.js";

/** What `ensureBus` did to one stream or bucket. */
export type EnsureAction = "created" | "updated" | "unchanged";

/**
 * A stream or bucket that has more replicas than were asked for: ensuring the bus never lowers replication, so
 * it was left at `replicas`. `asked` is null when no count was given (new ones then get 1).
 */
export interface KeptReplicas {
  kind: "stream" | "bucket";
  /** The stream's name, or the bucket's. */
  name: string;
  replicas: number;
  asked: number | null;
  /** One line saying so, e.g. "kept CODEX_EVENTS at 3 replicas (asked 1)". */
  note: string;
}

/** The outcome of `ensureBus`, one entry per stream and bucket in topology order. */
export interface EnsureBusResult {
  streams: { name: string; action: EnsureAction }[];
  buckets: { bucket: string; action: EnsureAction }[];
  /** Streams and buckets left with more replicas than asked. */
  kept: KeptReplicas[];
}

/** What ensuring one stream or bucket did, and the replicas it kept when it had more than asked. */
interface Ensured {
  action: EnsureAction;
  keptReplicas?: number;
}

/** How `ensureBus` retries errors the server marks as transient (e.g. no meta leader yet). */
export interface EnsureRetry {
  attempts: number;
  initialDelayMs: number;
}

const DEFAULT_RETRY: EnsureRetry = { attempts: 6, initialDelayMs: 250 };

/** The create request for a bus stream, holding only fields nats-server 2.9 knows. Pure. */
export function streamConfigFor(spec: BusStreamSpec): Partial<StreamConfig> & { name: string } {
  return {
    name: spec.name,
    ...updatableStreamFields(spec),
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
  };
}

function updatableStreamFields(spec: BusStreamSpec): Partial<StreamUpdateConfig> {
  return {
    description: spec.description,
    subjects: [...spec.subjects],
    max_age: nanos(spec.maxAgeMs),
    max_bytes: spec.maxBytes,
    num_replicas: spec.replicas,
    discard: DiscardPolicy.Old,
    duplicate_window: nanos(spec.duplicateWindowMs),
    // No one deletes or purges a message of a protected stream: it shrinks only by age and size.
    deny_delete: spec.protected,
    deny_purge: spec.protected,
  };
}

const sortedSubjects = (value: unknown): string => JSON.stringify([...((value as string[] | undefined) ?? [])].sort());

/** Fields of `want` whose value differs in `have` (subjects compared as sets). Pure. */
export function changedStreamFields(
  have: StreamConfig,
  want: Partial<StreamUpdateConfig>,
): (keyof StreamUpdateConfig)[] {
  const changed: (keyof StreamUpdateConfig)[] = [];
  for (const key of Object.keys(want) as (keyof StreamUpdateConfig)[]) {
    const same =
      key === "subjects"
        ? sortedSubjects(have[key]) === sortedSubjects(want[key])
        : (have[key] ?? "") === (want[key] ?? "");
    if (!same) changed.push(key);
  }
  return changed;
}

async function streamInfoOrUndefined(jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(name);
  } catch (err) {
    if (jsApiErrCode(err) === JsErrCode.StreamNotFound) return undefined;
    throw err;
  }
}

/**
 * The replicas an existing stream should have: the asked count, or its own when that is higher, since lowering
 * replication would throw away copies someone set up on purpose (a 3-node cluster). Raising is fine. Pure.
 */
export function replicasToKeep(have: number | undefined, asked: number): number {
  return Math.max(have ?? 1, asked);
}

async function reconcileStream(
  jsm: JetStreamManager,
  name: string,
  info: StreamInfo,
  fixed: Pick<StreamConfig, "retention" | "storage">,
  asked: Partial<StreamUpdateConfig>,
): Promise<Ensured> {
  if (info.config.retention !== fixed.retention || info.config.storage !== fixed.storage) {
    throw new BusError(
      "stream_config_conflict",
      `stream ${name} exists with retention=${info.config.retention} storage=${info.config.storage}, ` +
        `wanted retention=${fixed.retention} storage=${fixed.storage}; these cannot be changed in place`,
    );
  }
  const replicas = replicasToKeep(info.config.num_replicas, asked.num_replicas ?? 1);
  const kept = replicas > (asked.num_replicas ?? 1) ? { keptReplicas: replicas } : {};
  const want = { ...asked, num_replicas: replicas };
  const changed = changedStreamFields(info.config, want);
  if (changed.length === 0) return { action: "unchanged", ...kept };
  const patch = Object.fromEntries(changed.map((k) => [k, want[k]])) as Partial<StreamUpdateConfig>;
  await jsm.streams.update(name, patch);
  return { action: "updated", ...kept };
}

/**
 * Creates the stream, or updates the fields of an existing one that differ; never lowers its replicas and never
 * sends 2.10+ fields.
 */
export async function ensureStream(jsm: JetStreamManager, spec: BusStreamSpec): Promise<EnsureAction> {
  return (await ensureStreamReporting(jsm, spec)).action;
}

async function ensureStreamReporting(jsm: JetStreamManager, spec: BusStreamSpec): Promise<Ensured> {
  const fixed = { retention: RetentionPolicy.Limits, storage: StorageType.File };
  const want = updatableStreamFields(spec);
  try {
    const info = await streamInfoOrUndefined(jsm, spec.name);
    if (info) return await reconcileStream(jsm, spec.name, info, fixed, want);
    try {
      await jsm.streams.add(streamConfigFor(spec));
      return { action: "created" };
    } catch (err) {
      // Another process created it first with a different config: converge on ours.
      if (jsApiErrCode(err) !== JsErrCode.StreamNameExist) throw err;
      return await reconcileStream(jsm, spec.name, await jsm.streams.info(spec.name), fixed, want);
    }
  } catch (err) {
    throw toBusError(err, `ensure stream ${spec.name}`);
  }
}

/** Name of the stream that backs a KV bucket. Pure. */
export function kvStreamName(bucket: string): string {
  return `KV_${bucket}`;
}

function kvUpdatableFields(spec: BusKvSpec): Partial<StreamUpdateConfig> {
  return {
    description: spec.description,
    max_msgs_per_subject: spec.history,
    max_age: spec.ttlMs === undefined ? 0 : nanos(spec.ttlMs),
    // The server rejects a duplicate window longer than max age, so it moves with the TTL.
    duplicate_window: nanos(defaultDuplicateWindowMs(spec.ttlMs)),
    num_replicas: spec.replicas,
  };
}

/**
 * Creates the KV bucket, or updates history, TTL, description and replicas of an existing one (replicas only
 * upwards: see {@link replicasToKeep}).
 */
export async function ensureKvBucket(
  nc: NatsConnection,
  jsm: JetStreamManager,
  spec: BusKvSpec,
): Promise<EnsureAction> {
  return (await ensureKvBucketReporting(nc, jsm, spec)).action;
}

async function ensureKvBucketReporting(nc: NatsConnection, jsm: JetStreamManager, spec: BusKvSpec): Promise<Ensured> {
  const stream = kvStreamName(spec.bucket);
  try {
    const info = await streamInfoOrUndefined(jsm, stream);
    if (info) {
      const fixed = { retention: RetentionPolicy.Limits, storage: StorageType.File };
      return await reconcileStream(jsm, stream, info, fixed, kvUpdatableFields(spec));
    }
    await new Kvm(nc).create(spec.bucket, {
      description: spec.description,
      history: spec.history,
      replicas: spec.replicas,
      storage: StorageType.File,
      ...(spec.ttlMs === undefined ? {} : { ttl: spec.ttlMs }),
    });
    return { action: "created" };
  } catch (err) {
    throw toBusError(err, `ensure KV bucket ${spec.bucket}`);
  }
}

async function withRetry<T>(retry: EnsureRetry, run: () => Promise<T>): Promise<T> {
  let delayMs = retry.initialDelayMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      const busErr = toBusError(err, "ensure bus");
      if (!busErr.retryable || attempt >= retry.attempts) throw busErr;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      delayMs *= 2;
    }
  }
}

/** The line saying a stream or bucket kept more replicas than asked. Pure. */
export function keptReplicasNote(k: Omit<KeptReplicas, "note">): string {
  const what = k.kind === "stream" ? k.name : `bucket ${k.name}`;
  const asked = k.asked === null ? "none asked" : `asked ${k.asked}`;
  return `kept ${what} at ${k.replicas} replicas (${asked})`;
}

function kept(kind: KeptReplicas["kind"], name: string, replicas: number, asked: number | null): KeptReplicas {
  return { kind, name, replicas, asked, note: keptReplicasNote({ kind, name, replicas, asked }) };
}

/**
 * Creates or updates every stream and bucket of `topology`; idempotent, so running it twice changes nothing.
 * Replicas are never lowered: a stream or bucket with more than its spec asks keeps them, and the result says so
 * (`askedReplicas` is what the caller asked, null when it asked nothing and the specs hold the default).
 */
export async function ensureTopology(
  nc: NatsConnection,
  topology: BusTopology,
  retry: EnsureRetry = DEFAULT_RETRY,
  askedReplicas: number | null = null,
): Promise<EnsureBusResult> {
  for (const feature of BUS_REQUIRED_FEATURES) requireServerFeature(nc, feature);
  const jsm = await withRetry(retry, () => jetstreamManager(nc));
  const result: EnsureBusResult = { streams: [], buckets: [], kept: [] };
  for (const spec of topology.streams) {
    const done = await withRetry(retry, () => ensureStreamReporting(jsm, spec));
    result.streams.push({ name: spec.name, action: done.action });
    if (done.keptReplicas !== undefined) result.kept.push(kept("stream", spec.name, done.keptReplicas, askedReplicas));
  }
  for (const spec of topology.buckets) {
    const done = await withRetry(retry, () => ensureKvBucketReporting(nc, jsm, spec));
    result.buckets.push({ bucket: spec.bucket, action: done.action });
    if (done.keptReplicas !== undefined)
      result.kept.push(kept("bucket", spec.bucket, done.keptReplicas, askedReplicas));
  }
  return result;
}

/**
 * Creates or updates the bus streams (CODEX_EVENTS, AUDIT, FLEET) and KV buckets; works on nats-server >= 2.9.
 * New ones get `config.replicas` (default 1); existing ones are raised to it but never lowered.
 */
export async function ensureBus(
  nc: NatsConnection,
  config: BusTopologyConfigInput = {},
  retry: EnsureRetry = DEFAULT_RETRY,
): Promise<EnsureBusResult> {
  return ensureTopology(nc, busTopology(config), retry, config.replicas ?? null);
}
