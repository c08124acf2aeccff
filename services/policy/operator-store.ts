/**
 * The dashboard operators' token store: KV bucket `codex-operators`, one record per token id
 * (schemas/admin-operators.ts `OperatorRecord`), written only by the policy service. The bucket is opened on first
 * use, so a policy service started against a bus set up before the bucket existed still serves everything else.
 * Sign-in compares the presented hash with the stored one in constant time and never says which check failed.
 */
import { timingSafeEqual } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { OperatorRecord, type OperatorRole, type PublicOperator } from "../../schemas/admin-operators.js";
import { JsErrCode, KV_BUCKET_NAMES, jsApiErrCode, openKvBucket, type KvBucket, type KvEntry } from "../bus/index.js";

/** A store error: `code` says what kind (the admin ops map it to a failure code). */
export class OperatorStoreError extends Error {
  constructor(
    readonly code: "operator_exists" | "not_found" | "store_missing" | "store_unavailable",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "OperatorStoreError";
  }
}

/** Why a sign-in is refused (for the audit trail only; the caller is told none of them). */
export type SigninRefusal = "unknown" | "mismatch" | "revoked";

/** The outcome of a sign-in check. */
export type SigninCheck =
  | { ok: true; name: string; role: OperatorRole; tokenId: string }
  | { ok: false; reason: SigninRefusal; name?: string };

/** The store as the policy service's operator ops use it. */
export interface OperatorStore {
  /** Stores a new token record; a token id already stored is refused (`operator_exists`). */
  add(entry: {
    tokenId: string;
    name: string;
    role: OperatorRole;
    sha256: string;
    createdBy: string;
  }): Promise<PublicOperator>;
  /** Every record, public parts only, oldest first. */
  list(): Promise<PublicOperator[]>;
  /** Revokes `name`'s active tokens (or only `tokenId`, which must be theirs) and returns those it revoked. */
  revoke(name: string, tokenId?: string): Promise<PublicOperator[]>;
  /** Whether `sha256` is the hash of the active token `tokenId`. */
  signin(tokenId: string, sha256: string): Promise<SigninCheck>;
  /** The record of `tokenId` (public parts), or undefined when there is none. */
  status(tokenId: string): Promise<PublicOperator | undefined>;
}

/** The public part of a record: never the hash. Pure. */
export const publicOperator = (r: OperatorRecord): PublicOperator => ({
  tokenId: r.tokenId,
  name: r.name,
  role: r.role,
  createdAtMs: r.createdAtMs,
  createdBy: r.createdBy,
  revokedAtMs: r.revokedAtMs,
});

/** The record in a KV entry, or undefined when the entry is a delete marker or does not parse (fail closed). */
function recordOf(entry: KvEntry | null): { record: OperatorRecord; revision: number } | undefined {
  if (entry === null || entry.operation !== "PUT") return undefined;
  try {
    const parsed = OperatorRecord.safeParse(entry.json());
    return parsed.success && parsed.data.tokenId === entry.key
      ? { record: parsed.data, revision: entry.revision }
      : undefined;
  } catch {
    return undefined;
  }
}

/** True when the two hex digests are equal, compared in constant time. Pure. */
export function sameDigest(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === 32 && y.length === 32 && timingSafeEqual(x, y);
}

const unavailable = (err: unknown, what: string): OperatorStoreError =>
  err instanceof OperatorStoreError
    ? err
    : new OperatorStoreError("store_unavailable", `could not ${what}: ${(err as Error).message}`, { cause: err });

/** The store on KV `codex-operators` over `nc` (the policy user's connection); `now` is injectable for tests. */
export function operatorStore(nc: NatsConnection, now: () => number = Date.now): OperatorStore {
  let kv: Promise<KvBucket> | undefined;
  const bucket = (): Promise<KvBucket> => {
    kv ??= openKvBucket(nc, KV_BUCKET_NAMES.operators, { mustExist: true }).catch((err: unknown) => {
      kv = undefined;
      if (jsApiErrCode(err) === JsErrCode.StreamNotFound)
        throw new OperatorStoreError(
          "store_missing",
          `KV bucket ${KV_BUCKET_NAMES.operators} does not exist: run 'claw-supervisor up' (or ensureBus) against this NATS first`,
          { cause: err },
        );
      throw unavailable(err, `open KV bucket ${KV_BUCKET_NAMES.operators}`);
    });
    return kv;
  };
  const all = async (): Promise<OperatorRecord[]> => {
    const b = await bucket();
    const records: OperatorRecord[] = [];
    for await (const key of await b.keys()) {
      const found = recordOf(await b.get(key));
      if (found) records.push(found.record);
    }
    return records.sort((a, c) => a.createdAtMs - c.createdAtMs || a.tokenId.localeCompare(c.tokenId));
  };
  const get = async (tokenId: string) => recordOf(await (await bucket()).get(tokenId));
  const revokeOne = async (tokenId: string): Promise<OperatorRecord | undefined> => {
    const b = await bucket();
    // A concurrent revoke moves the revision on: read again and retry.
    for (let attempt = 0; ; attempt++) {
      const found = recordOf(await b.get(tokenId));
      if (!found || found.record.revokedAtMs !== null) return undefined;
      const record = { ...found.record, revokedAtMs: now() };
      try {
        await b.update(tokenId, JSON.stringify(record), found.revision);
        return record;
      } catch (err) {
        if (attempt === 4) throw err;
      }
    }
  };

  return {
    async add(entry) {
      const record: OperatorRecord = OperatorRecord.parse({ ...entry, createdAtMs: now(), revokedAtMs: null });
      const b = await bucket();
      try {
        await b.create(record.tokenId, JSON.stringify(record));
      } catch (err) {
        if ((await b.get(record.tokenId).catch(() => null)) !== null)
          throw new OperatorStoreError("operator_exists", `an operator token with id ${record.tokenId} already exists`);
        throw unavailable(err, `store operator token ${record.tokenId} of ${record.name}`);
      }
      return publicOperator(record);
    },
    async list() {
      try {
        return (await all()).map(publicOperator);
      } catch (err) {
        throw unavailable(err, "list operators");
      }
    },
    async revoke(name, tokenId) {
      try {
        const mine = (await all()).filter((r) => r.name === name);
        if (tokenId !== undefined && !mine.some((r) => r.tokenId === tokenId))
          throw new OperatorStoreError("not_found", `operator ${name} has no token ${tokenId}`);
        const keys = mine.filter((r) => tokenId === undefined || r.tokenId === tokenId).map((r) => r.tokenId);
        const revoked: PublicOperator[] = [];
        for (const key of keys) {
          const record = await revokeOne(key);
          if (record) revoked.push(publicOperator(record));
        }
        return revoked;
      } catch (err) {
        throw unavailable(err, `revoke operator ${name}`);
      }
    },
    async signin(tokenId, sha256) {
      let found: Awaited<ReturnType<typeof get>>;
      try {
        found = await get(tokenId);
      } catch (err) {
        throw unavailable(err, "read the operator token");
      }
      // Compare even when there is no record, so an unknown id costs the same work as a known one.
      const same = sameDigest(found?.record.sha256 ?? "0".repeat(64), sha256);
      if (!found) return { ok: false, reason: "unknown" };
      const { record } = found;
      if (!same) return { ok: false, reason: "mismatch", name: record.name };
      if (record.revokedAtMs !== null) return { ok: false, reason: "revoked", name: record.name };
      return { ok: true, name: record.name, role: record.role, tokenId: record.tokenId };
    },
    async status(tokenId) {
      try {
        const found = await get(tokenId);
        return found ? publicOperator(found.record) : undefined;
      } catch (err) {
        throw unavailable(err, "read the operator token");
      }
    },
  };
}
