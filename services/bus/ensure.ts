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

/** The outcome of `ensureBus`, one entry per stream and bucket in topology order. */
export interface EnsureBusResult {
  streams: { name: string; action: EnsureAction }[];
  buckets: { bucket: string; action: EnsureAction }[];
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

async function reconcileStream(
  jsm: JetStreamManager,
  name: string,
  info: StreamInfo,
  fixed: Pick<StreamConfig, "retention" | "storage">,
  want: Partial<StreamUpdateConfig>,
): Promise<EnsureAction> {
  if (info.config.retention !== fixed.retention || info.config.storage !== fixed.storage) {
    throw new BusError(
      "stream_config_conflict",
      `stream ${name} exists with retention=${info.config.retention} storage=${info.config.storage}, ` +
        `wanted retention=${fixed.retention} storage=${fixed.storage}; these cannot be changed in place`,
    );
  }
  const changed = changedStreamFields(info.config, want);
  if (changed.length === 0) return "unchanged";
  const patch = Object.fromEntries(changed.map((k) => [k, want[k]])) as Partial<StreamUpdateConfig>;
  await jsm.streams.update(name, patch);
  return "updated";
}

/** Creates the stream, or updates the fields of an existing one that differ; never sends 2.10+ fields. */
export async function ensureStream(jsm: JetStreamManager, spec: BusStreamSpec): Promise<EnsureAction> {
  const fixed = { retention: RetentionPolicy.Limits, storage: StorageType.File };
  const want = updatableStreamFields(spec);
  try {
    const info = await streamInfoOrUndefined(jsm, spec.name);
    if (info) return await reconcileStream(jsm, spec.name, info, fixed, want);
    try {
      await jsm.streams.add(streamConfigFor(spec));
      return "created";
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

/** Creates the KV bucket, or updates history, TTL, replicas and description of an existing one. */
export async function ensureKvBucket(
  nc: NatsConnection,
  jsm: JetStreamManager,
  spec: BusKvSpec,
): Promise<EnsureAction> {
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
    return "created";
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

/** Creates or updates every stream and bucket of `topology`; idempotent, so running it twice changes nothing. */
export async function ensureTopology(
  nc: NatsConnection,
  topology: BusTopology,
  retry: EnsureRetry = DEFAULT_RETRY,
): Promise<EnsureBusResult> {
  for (const feature of BUS_REQUIRED_FEATURES) requireServerFeature(nc, feature);
  const jsm = await withRetry(retry, () => jetstreamManager(nc));
  const result: EnsureBusResult = { streams: [], buckets: [] };
  for (const spec of topology.streams) {
    const action = await withRetry(retry, () => ensureStream(jsm, spec));
    result.streams.push({ name: spec.name, action });
  }
  for (const spec of topology.buckets) {
    const action = await withRetry(retry, () => ensureKvBucket(nc, jsm, spec));
    result.buckets.push({ bucket: spec.bucket, action });
  }
  return result;
}

/** Creates or updates the bus streams (CODEX_EVENTS, AUDIT, FLEET) and KV buckets; works on nats-server >= 2.9. */
export async function ensureBus(
  nc: NatsConnection,
  config: BusTopologyConfigInput = {},
  retry: EnsureRetry = DEFAULT_RETRY,
): Promise<EnsureBusResult> {
  return ensureTopology(nc, busTopology(config), retry);
}
