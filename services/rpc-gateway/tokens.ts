/**
 * The host token store: KV bucket `codex-host-tokens`, one record per token id (see `HostTokenRecordSchema`).
 * Every gateway instance reads the same bucket, so a token created or revoked anywhere counts everywhere:
 * each upgrade reads the record afresh, and `watchHostTokenRevocations` tells live connections.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { HostTokenRecordSchema, type BusTopologyConfigInput, type HostTokenRecord } from "../../schemas/bus.js";
import {
  JsErrCode,
  KV_BUCKET_NAMES,
  busTopology,
  jsApiErrCode,
  openKvBucket,
  type KvBucket,
  type KvEntry,
} from "../bus/index.js";
import { GatewayError } from "./errors.js";
import {
  HostIdSchema,
  checkHostToken,
  hostTokenId,
  mintHostToken,
  type HostTokenCheck,
  type MintedHostToken,
} from "./host-token.js";

/** Which tokens `revokeHostToken` revokes: every active token of a host, or one token by id. */
export type HostTokenTarget = { hostId: string } | { tokenId: string };

/**
 * Opens the host token bucket. With `create`, a missing bucket is created (only it, from the topology);
 * an existing one is never reconfigured here, so a deployment's replicas and limits stay as they are.
 */
export async function openHostTokenBucket(
  nc: NatsConnection,
  opts: { create?: boolean; topology?: BusTopologyConfigInput } = {},
): Promise<KvBucket> {
  const bucket = KV_BUCKET_NAMES.hostTokens;
  try {
    const spec = opts.create ? busTopology(opts.topology).buckets.find((b) => b.bucket === bucket) : undefined;
    return await openKvBucket(nc, bucket, spec ? { createFrom: spec } : { mustExist: true });
  } catch (err) {
    if (jsApiErrCode(err) === JsErrCode.StreamNotFound) {
      throw new GatewayError(
        "token_store_missing",
        `KV bucket ${bucket} does not exist: run 'claw-supervisor up' (or ensureBus) against this NATS first`,
        { cause: err },
      );
    }
    throw storeError(err, `open KV bucket ${bucket}`);
  }
}

function storeError(err: unknown, context: string): GatewayError {
  if (err instanceof GatewayError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new GatewayError("token_store_unavailable", `${context}: ${detail}`, { retryable: true, cause: err });
}

/** The record in a KV entry, or undefined when the entry is a delete marker or does not parse (fail closed). */
function recordOf(entry: KvEntry | null): { record: HostTokenRecord; revision: number } | undefined {
  if (entry === null || entry.operation !== "PUT") return undefined;
  try {
    const parsed = HostTokenRecordSchema.safeParse(entry.json());
    return parsed.success && parsed.data.tokenId === entry.key
      ? { record: parsed.data, revision: entry.revision }
      : undefined;
  } catch {
    return undefined;
  }
}

/** Creates a token for `hostId`; the returned `token` is the only copy of the secret there will ever be. */
export async function createHostToken(
  kv: KvBucket,
  hostId: string,
  nowMs: number = Date.now(),
): Promise<MintedHostToken> {
  const parsed = HostIdSchema.safeParse(hostId);
  if (!parsed.success) {
    throw new GatewayError(
      "invalid_host_id",
      `invalid host id ${JSON.stringify(hostId)}: ${parsed.error.issues[0]?.message}`,
    );
  }
  const minted = mintHostToken(parsed.data, nowMs);
  try {
    await kv.create(minted.record.tokenId, JSON.stringify(minted.record));
  } catch (err) {
    throw storeError(err, `store token for host ${hostId}`);
  }
  return minted;
}

/**
 * Stores the record of a token minted elsewhere (the operator's CLI, so the secret never crosses the bus): its
 * id, host and SHA-256. An id already stored is refused, so no record is overwritten.
 */
export async function registerHostToken(
  kv: KvBucket,
  minted: { tokenId: string; hostId: string; sha256: string },
  nowMs: number = Date.now(),
): Promise<HostTokenRecord> {
  const host = HostIdSchema.safeParse(minted.hostId);
  if (!host.success)
    throw new GatewayError(
      "invalid_host_id",
      `invalid host id ${JSON.stringify(minted.hostId)}: ${host.error.issues[0]?.message}`,
    );
  const record: HostTokenRecord = {
    tokenId: minted.tokenId,
    hostId: host.data,
    sha256: minted.sha256,
    createdAtMs: nowMs,
    revokedAtMs: null,
  };
  try {
    await kv.create(record.tokenId, JSON.stringify(record));
  } catch (err) {
    throw storeError(err, `store token ${record.tokenId} for host ${record.hostId}`);
  }
  return record;
}

/** Every token record, oldest first; secrets are never stored, so none can be listed. */
export async function listHostTokens(kv: KvBucket): Promise<HostTokenRecord[]> {
  try {
    const records: HostTokenRecord[] = [];
    for await (const key of await kv.keys()) {
      const found = recordOf(await kv.get(key));
      if (found) records.push(found.record);
    }
    return records.sort((a, b) => a.createdAtMs - b.createdAtMs || a.tokenId.localeCompare(b.tokenId));
  } catch (err) {
    throw storeError(err, "list host tokens");
  }
}

/**
 * Revokes the target's active tokens (compare-and-set on the record's revision) and returns the records
 * it revoked; already-revoked tokens are left as they are. A token id that names no token is `token_not_found`.
 */
export async function revokeHostToken(
  kv: KvBucket,
  target: HostTokenTarget,
  nowMs: number = Date.now(),
): Promise<HostTokenRecord[]> {
  try {
    const keys =
      "tokenId" in target
        ? [target.tokenId]
        : (await listHostTokens(kv)).filter((r) => r.hostId === target.hostId).map((r) => r.tokenId);
    const revoked: HostTokenRecord[] = [];
    for (const key of keys) {
      const record = await revokeOne(kv, key, nowMs);
      if (record) revoked.push(record);
    }
    return revoked;
  } catch (err) {
    throw storeError(err, "revoke host token");
  }
}

async function revokeOne(kv: KvBucket, tokenId: string, nowMs: number): Promise<HostTokenRecord | undefined> {
  if (!/^[0-9a-f]{16}$/.test(tokenId))
    throw new GatewayError("token_not_found", `no host token with id ${JSON.stringify(tokenId)}`);
  // A concurrent writer (another revoke) moves the revision on: read again and retry.
  for (let attempt = 0; attempt < 5; attempt++) {
    const found = recordOf(await kv.get(tokenId));
    if (!found) throw new GatewayError("token_not_found", `no host token with id ${tokenId}`);
    if (found.record.revokedAtMs !== null) return undefined;
    const record = { ...found.record, revokedAtMs: nowMs };
    try {
      await kv.update(tokenId, JSON.stringify(record), found.revision);
      return record;
    } catch (err) {
      if (attempt === 4) throw err;
    }
  }
  return undefined;
}

/** Reads the record of the presented token and decides whether it authenticates (see `checkHostToken`). */
export async function authenticateHostToken(kv: KvBucket, token: string): Promise<HostTokenCheck> {
  const tokenId = hostTokenId(token);
  if (tokenId === undefined) return checkHostToken(token, undefined);
  let entry: KvEntry | null;
  try {
    entry = await kv.get(tokenId);
  } catch (err) {
    throw storeError(err, "read host token");
  }
  return checkHostToken(token, recordOf(entry)?.record);
}

/** A running revocation watch. */
export interface HostTokenWatch {
  stop(): void;
  /** Settles when the watch has ended. */
  done: Promise<void>;
}

/** Calls `onRevoked(tokenId)` for every token revoked, deleted or purged after the watch starts. */
export async function watchHostTokenRevocations(
  kv: KvBucket,
  onRevoked: (tokenId: string) => void,
): Promise<HostTokenWatch> {
  let iter: Awaited<ReturnType<KvBucket["watch"]>>;
  try {
    iter = await kv.watch({ include: "updates" });
  } catch (err) {
    throw storeError(err, "watch host tokens");
  }
  const done = (async () => {
    for await (const entry of iter) {
      const found = recordOf(entry);
      if (!found || found.record.revokedAtMs !== null) onRevoked(entry.key);
    }
  })();
  return { stop: () => iter.stop(), done: done.catch(() => undefined) };
}

/** The public part of a record: never the hash. */
const publicRecord = (r: HostTokenRecord) => ({
  tokenId: r.tokenId,
  hostId: r.hostId,
  createdAtMs: r.createdAtMs,
  revokedAtMs: r.revokedAtMs,
});

/**
 * The token store as the policy service's token path uses it (create, list, revoke; public records only). The
 * bucket must exist (ensureBus); the policy user may write it, operators may not.
 */
export function hostTokenAdmin(nc: NatsConnection) {
  let kv: Promise<KvBucket> | undefined;
  const bucket = (): Promise<KvBucket> => {
    kv ??= openHostTokenBucket(nc).catch((err: unknown) => {
      kv = undefined;
      throw err;
    });
    return kv;
  };
  return {
    async register(minted: { tokenId: string; hostId: string; sha256: string }) {
      return publicRecord(await registerHostToken(await bucket(), minted));
    },
    async list() {
      return (await listHostTokens(await bucket())).map(publicRecord);
    },
    async revoke(target: HostTokenTarget) {
      return (await revokeHostToken(await bucket(), target)).map(publicRecord);
    },
  };
}
