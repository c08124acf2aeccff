/**
 * Leases in the `codex-leases` bucket: one key per owned thing (`host.<hostId>` for a host's live gateway
 * connection, `registry.<P>.<k>` for a registry partition). A holder takes a key with a compare-and-set write
 * and renews it with `update(revision)` every `ttlMs / 3`.
 *
 * - **Epoch (fencing token)**: the KV revision of the write that took the lease. Revisions are stream sequences,
 *   so every later taking has a higher epoch, even after the bucket's max age removed an old entry. Renewals
 *   keep the epoch (the record carries it). Whoever applies a write or a command made under a lease compares
 *   epochs; never rely on exclusivity alone.
 * - **Expiry without trusting clocks across machines**: a standby polls the key and takes it over only when its
 *   revision has not changed for `ttlMs` of the standby's own clock. The holder stops acting (`lost` with reason
 *   `expired`) when it has not renewed for `0.8 * ttlMs` of its own clock, so it stops before any standby can
 *   take over, as long as clocks run at about the same rate.
 * - **Takeover** (`force`): a newer claimant (a host's newer connection) writes over the current revision at
 *   once; the deposed holder learns it on its next renew (a revision conflict) or sooner through `observe()`.
 * - **Release**: the holder writes a `released` record, so a standby takes over at once; the epoch still rises.
 * - **Bytes that are no lease record** (any bus user can have the server store a JetStream API answer on a key, by
 *   naming it as a reply subject: services/bus/permissions.ts) are no takeover, since every taker writes a record:
 *   the holder renews over them at its epoch, and a standby waits for them to stay unchanged for `ttlMs`.
 *
 * The bucket's max age (30 s, `topology.ts`) only collects leases nobody renews; `ttlMs` must be below it.
 * nats-server 2.9.
 */
import { z } from "zod";
import { KV_BUCKET_NAMES } from "./topology.js";
import { isRevisionConflict, toBusError } from "./errors.js";
import { copiedFromElsewhere, type KvBucket, type KvEntry } from "./kv.js";

/** What a lease key holds. */
export const LeaseRecord = z.object({
  /** Who holds it: an instance id (`<service>@<hostname>:<pid>` or as configured). */
  holder: z.string().min(1),
  /** The epoch; absent only in the write that took the lease (whose revision is the epoch). */
  epoch: z.number().int().positive().optional(),
  ttlMs: z.number().int().positive(),
  /** The holder's clock when it took the lease, unix ms (informational: expiry never compares clocks). */
  takenAtMs: z.number().int().nonnegative(),
  /** Set when the holder gave it up: a standby may take it at once. */
  released: z.boolean().optional(),
  /** Why it was taken or released, for people reading the bucket (`takeover: newer connection`). */
  note: z.string().max(200).optional(),
  /**
   * The key it was written for. A record stored on another key (a reader can have the server deliver a stored
   * record to any subject it names as the reply, a KV key included) reads as junk there, never as a takeover.
   * Absent from records written before issue 18.
   */
  key: z.string().optional(),
});
export type LeaseRecord = z.infer<typeof LeaseRecord>;

/** The most a lease's TTL may be: below the bucket's max age, so a live lease is never collected. */
export const MAX_LEASE_TTL_MS = 25_000;

/** Lease keys; every token is a valid KV key token. */
export const leaseKeys = {
  host: (hostId: string): string => `host.${hostId}`,
  registryPartition: (partitions: number, partition: number): string => `registry.${partitions}.${partition}`,
  /** A Claw's liveness (issue 18): held by the Claw's plugin service while it is connected and renewing. */
  claw: (clawId: string): string => `claw.${clawId}`,
  /** Which Claw owns a session; ids that are not plain key tokens are base64url-encoded behind `b64-`. */
  clawSession: (sessionId: string): string =>
    `claw-session.${/^[A-Za-z0-9_-]{1,200}$/.test(sessionId) && !sessionId.startsWith("b64-") ? sessionId : `b64-${Buffer.from(sessionId, "utf8").toString("base64url")}`}`,
};

/** The session id a `claw-session.<token>` key stands for (leaseKeys.clawSession's inverse); null for other keys. Pure. */
export function sessionOfClawLeaseKey(key: string): string | null {
  if (!key.startsWith("claw-session.")) return null;
  const token = key.slice("claw-session.".length);
  return token.startsWith("b64-") ? Buffer.from(token.slice(4), "base64url").toString("utf8") : token;
}

/** The current state of a lease key as a standby or the holder sees it. */
export interface LeaseView {
  record: LeaseRecord;
  revision: number;
  epoch: number;
  /**
   * When the server stored the entry (unix ms, the server's clock): the holder's last write (a renewal). Absent
   * when the entry came without its time.
   */
  createdMs?: number;
}

/** Reads a lease key's entry: null for no entry (never taken, collected, or deleted). */
export function leaseView(entry: KvEntry | null): LeaseView | null {
  if (entry === null || entry.operation !== "PUT") return null;
  let json: unknown;
  try {
    json = entry.json();
  } catch {
    return null;
  }
  const parsed = LeaseRecord.safeParse(json);
  if (!parsed.success) return null;
  if (parsed.data.key !== undefined && parsed.data.key !== entry.key) return null;
  // A record read off another key and stored here by the server (its key field forged to match): junk too.
  if (copiedFromElsewhere(entry)) return null;
  return {
    record: parsed.data,
    revision: entry.revision,
    epoch: parsed.data.epoch ?? entry.revision,
    ...(entry.created instanceof Date ? { createdMs: entry.created.getTime() } : {}),
  };
}

/** Why a held lease ended. */
export type LeaseLossReason = "taken" | "expired" | "released" | "stopped";

/** Settings of one lease. */
export interface LeaseOptions {
  /** An open `codex-leases` bucket. */
  kv: KvBucket;
  key: string;
  holder: string;
  ttlMs: number;
  /**
   * Take the key at once whoever holds it (a host's newer connection). Without it, the lease waits until the
   * key is free, released, or unrenewed for `ttlMs`.
   */
  force?: boolean;
  /** Stand by (retry taking) after a loss, or after failing to take; default true. */
  standby?: boolean;
  note?: string;
  /** Called when the lease is taken, with its epoch and what the key held before (null: nothing, or junk). */
  onAcquired?(epoch: number, previous: LeaseView | null): void;
  /** Called when a held lease ends (not called by `stop()` after release: reason `stopped` is reported). */
  onLost?(reason: LeaseLossReason, by?: LeaseView): void;
  /** Errors the lease survives (a bus outage), for logging. */
  onError?(err: Error): void;
  /** Clock, for tests. */
  now?: () => number;
}

/** A lease being held or waited for. */
export interface Lease {
  readonly key: string;
  /** The epoch while held, else undefined. */
  readonly epoch: number | undefined;
  /** True while held and renewed within `0.8 * ttlMs`. */
  held(): boolean;
  /** Resolves once the lease is first taken (never resolves while standing by). */
  readonly acquired: Promise<number>;
  /** Feeds a change of the key seen elsewhere (a bucket follow), so a takeover is noticed at once. */
  observe(entry: KvEntry): void;
  /** Gives the lease up (a `released` record, so a standby takes over at once) and stops. */
  release(note?: string): Promise<void>;
  /** Stops renewing and polling without writing anything (the lease expires by itself). */
  stop(): void;
}

/** A lease while held: the revision of our last write, the epoch, when that write was acknowledged, when it was taken. */
interface Held {
  revision: number;
  epoch: number;
  renewedAtMs: number;
  takenAtMs: number;
}

/** Takes and keeps a lease; see the module comment. */
export function startLease(opts: LeaseOptions): Lease {
  if (!(opts.ttlMs >= 300 && opts.ttlMs <= MAX_LEASE_TTL_MS)) {
    throw new RangeError(`lease ttlMs must be between 300 and ${MAX_LEASE_TTL_MS}, got ${opts.ttlMs}`);
  }
  const now = opts.now ?? Date.now;
  const standby = opts.standby ?? true;
  const period = Math.max(100, Math.floor(opts.ttlMs / 3));
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  /** While held (see Held). */
  let mine: Held | undefined;
  /** While waiting: the last revision seen of someone else's entry and when it was first seen. */
  let seen: { revision: number; sinceMs: number } | undefined;
  let force = opts.force ?? false;
  let busy = false;
  let resolveAcquired: (epoch: number) => void = () => undefined;
  const acquired = new Promise<number>((resolve) => {
    resolveAcquired = resolve;
  });
  // A lease nobody awaits must not raise an unhandled rejection; it never rejects anyway.
  acquired.catch(() => undefined);

  /** The record to write: a taking (no epoch yet, taken now) or a renewal (its epoch and when it was taken). */
  const record = (held: { epoch: number; takenAtMs: number } | undefined, extra: Partial<LeaseRecord> = {}): string =>
    JSON.stringify({
      holder: opts.holder,
      key: opts.key,
      ...(held === undefined ? {} : { epoch: held.epoch }),
      ttlMs: opts.ttlMs,
      takenAtMs: held?.takenAtMs ?? now(),
      ...(opts.note === undefined ? {} : { note: opts.note }),
      ...extra,
    } satisfies LeaseRecord);

  const lose = (reason: LeaseLossReason, by?: LeaseView): void => {
    if (!mine) return;
    mine = undefined;
    seen = by ? { revision: by.revision, sinceMs: now() } : undefined;
    opts.onLost?.(reason, by);
    if (!standby) stop();
  };

  const take = async (): Promise<void> => {
    const entry = await opts.kv.get(opts.key);
    const current = leaseView(entry);
    // A delete marker counts as free; its revision keeps the write a compare-and-set. Junk counts as held.
    const entryRevision = entry?.revision ?? 0;
    const heldElsewhere = current ? !current.record.released && current.record.holder !== opts.holder : isJunk(entry);
    if (heldElsewhere && !force) {
      if (!seen || seen.revision !== entryRevision) {
        seen = { revision: entryRevision, sinceMs: now() };
        return;
      }
      if (now() - seen.sinceMs < opts.ttlMs) return;
    }
    try {
      const revision =
        entryRevision === 0
          ? await opts.kv.create(opts.key, record(undefined))
          : await opts.kv.update(opts.key, record(undefined), entryRevision);
      mine = { revision, epoch: revision, renewedAtMs: now(), takenAtMs: now() };
      seen = undefined;
      force = false;
      opts.onAcquired?.(revision, current);
      resolveAcquired(revision);
    } catch (err) {
      if (!isRevisionConflict(err) && !isKeyExists(err)) throw err;
      seen = undefined; // someone else wrote first: watch their entry from now
    }
  };

  const renew = async (held: Held): Promise<void> => {
    let expected = held.revision;
    for (let attempt = 1; ; attempt++) {
      try {
        const revision = await opts.kv.update(opts.key, record(held), expected);
        if (mine === held) mine = { revision, epoch: held.epoch, renewedAtMs: now(), takenAtMs: held.takenAtMs };
        return;
      } catch (err) {
        if (!isRevisionConflict(err)) throw err;
        const entry = await opts.kv.get(opts.key).catch(() => null);
        // Junk is no takeover: renew over it (a few times, should more come in between).
        if (entry && isJunk(entry) && mine === held && attempt < MAX_RENEWALS_OVER_JUNK) {
          expected = entry.revision;
          continue;
        }
        lose("taken", leaseView(entry) ?? undefined);
        return;
      }
    }
  };

  const tick = async (): Promise<void> => {
    if (stopped || busy) return;
    busy = true;
    try {
      if (mine && now() - mine.renewedAtMs > opts.ttlMs * 0.8) lose("expired");
      if (mine) await renew(mine);
      else await take();
    } catch (err) {
      opts.onError?.(toBusError(err, `lease ${opts.key}`));
    } finally {
      busy = false;
      if (!stopped) {
        if (mine && now() - mine.renewedAtMs > opts.ttlMs * 0.8) lose("expired");
        schedule();
      }
    }
  };

  const schedule = (): void => {
    clearTimeout(timer);
    // While held, renew every third of the TTL; while waiting, look as often, so a takeover lands within TTL + period.
    timer = setTimeout(() => void tick(), period);
    timer.unref?.();
  };

  const stop = (): void => {
    stopped = true;
    clearTimeout(timer);
  };

  void tick();

  return {
    key: opts.key,
    get epoch() {
      return mine?.epoch;
    },
    held: () => mine !== undefined && now() - mine.renewedAtMs <= opts.ttlMs * 0.8,
    acquired,
    observe(entry) {
      if (entry.key !== opts.key || !mine || entry.revision <= mine.revision) return;
      const view = leaseView(entry);
      if (view?.record.holder === opts.holder && view.epoch === mine.epoch) return;
      if (isJunk(entry)) return; // no takeover: the next renewal writes over it
      lose("taken", view ?? undefined);
    },
    async release(note) {
      const held = mine;
      stop();
      if (!held) return;
      mine = undefined;
      await opts.kv
        .update(opts.key, record(held, { released: true, note: note ?? "released" }), held.revision)
        .catch(() => undefined);
      opts.onLost?.("released");
    },
    stop() {
      const held = mine !== undefined;
      stop();
      if (held) {
        mine = undefined;
        opts.onLost?.("stopped");
      }
    },
  };
}

/** Bytes stored on a lease key that are no lease record (a delete marker is not junk: it frees the key). Pure. */
function isJunk(entry: KvEntry | null): boolean {
  return entry !== null && entry.operation === "PUT" && leaseView(entry) === null;
}

/** How many renewal attempts in a row may find junk on the key before the holder gives the lease up. */
const MAX_RENEWALS_OVER_JUNK = 4;

function isKeyExists(err: unknown): boolean {
  return err instanceof Error && /wrong last sequence|key exists/i.test(err.message);
}

/** The name of the bucket leases live in. */
export const LEASE_BUCKET = KV_BUCKET_NAMES.leases;
