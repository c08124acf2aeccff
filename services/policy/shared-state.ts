/**
 * What the policy service's instances remember together, so that N of them (queue group `policy`) decide as one
 * would: the rate-limit token buckets per caller and per target, and the agent-to-agent deliveries loop
 * prevention looks back on. They live in KV `codex-policy-state` (nats-server 2.9: compare-and-set on a key's
 * revision, a bucket-wide TTL, no per-key TTL); the decisions themselves stay pure (rate-limit.ts, loop-guard.ts).
 *
 * - **Token buckets**: one key per bucket holding `{tokens, atMs}`. A take is a compare-and-set write of the
 *   bucket after it, expecting the revision this instance last saw; on a conflict the instance reads the key
 *   (from the stream leader: a bucket opened by name is read with STREAM.MSG.GET, never a follower's direct get)
 *   and tries again. So N instances admit `burst` plus `perSecond` per second between them, as one would. A
 *   refusal writes nothing: a later state of a bucket never holds more tokens than an earlier one (takeToken), so
 *   a refusal from a state that may be stale stands. Each instance keeps the buckets it has seen and follows the
 *   bucket's changes, so a take is usually one JetStream round trip, and a refusal none.
 * - **Loops**: `loop.in.<to>` (the hop count and time of the latest message delivered to a session) and
 *   `loop.sent.<from→to>` (when `from` last delivered to `to`), written once a message was delivered and before
 *   it is answered. A check reads the two keys it needs from the stream leader, both at once, so a hop another
 *   instance answered a moment ago is seen. Two messages A→B and B→A decided at the same moment both pass, as
 *   they do on one instance (each is checked before the other is delivered).
 * - **Clocks**: times are each instance's wall clock (unix ms). Instances on different machines need their clocks
 *   in step (NTP): a skew of d ms lets a bucket refill d ms early or late, and moves a loop window by d ms.
 * - **Expiry**: entries go with the bucket's TTL (a day, topology.ts). A loop window is at most a day (the
 *   schema's bound); a token bucket that takes longer than a day to refill (burst / perSecond > 86,400 s) forgets
 *   takes older than a day.
 * - **Who writes**: only the policy user writes the bucket, and only it (and admin) may read it (permissions.ts).
 *   Bytes someone had the server store there through a reply subject (the replay permissions.ts describes) fail
 *   validation, since each value names its own key: an unreadable token bucket counts as empty from when it was
 *   stored (a forged entry can delay commands, never admit more), an unreadable loop entry as absent.
 */
import { hash } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { z } from "zod";
import type { TokenBucketSpec } from "../../schemas/policy.js";
import {
  BusError,
  KV_BUCKET_NAMES,
  followKvBucket,
  isRevisionConflict,
  openKvBucket,
  putKvEntry,
  type JetStreamPublisher,
  type KvBucket,
  type KvEntry,
  type KvFollow,
} from "../bus/index.js";
import { judgeLoop, type LoopCheck, type LoopInput, type LoopLimits } from "./loop-guard.js";
import { takeToken, takeTokens, type BucketState, type TakeResult } from "./rate-limit.js";

const BUCKET = KV_BUCKET_NAMES.policyState;
/** Most compare-and-set attempts one take makes before it gives up (each after reading the newer state). */
const MAX_TAKE_ATTEMPTS = 10;
/** Most token buckets an instance keeps in memory (least recently used go first; a forgotten one is read again). */
const MAX_KNOWN_BUCKETS = 100_000;

/** Which bucket a take is from: the caller's (`role:id`) or the target session's (`host.thread`). */
export type BucketKind = "caller" | "target";

/** One take a command needs. */
export interface BucketRequest {
  kind: BucketKind;
  id: string;
  spec: TokenBucketSpec;
}

/** The outcome of a command's takes: every token taken, or the first bucket (in request order) that refused. */
export type TakesResult = { ok: true } | { ok: false; refused: BucketRequest; retryAfterMs: number };

/** Rate limits shared across instances. */
export interface RateLimiter {
  /**
   * Takes one token from each bucket. When a bucket this instance knows already refuses, nothing is taken from
   * any; otherwise all are taken at once (so a bucket that refuses only then leaves the others' tokens taken, as
   * one instance taking them in turn would). Rejects when the bus cannot be used.
   */
  take(requests: readonly BucketRequest[]): Promise<TakesResult>;
  /**
   * The refusal `take` would answer at once, from the buckets as this instance knows them (no bus round trip);
   * null when it would go on to take. A refusal from a known state stands (see the module comment).
   */
  refusedNow(requests: readonly BucketRequest[]): Extract<TakesResult, { ok: false }> | null;
}

/** A message's loop check, and the hop count its delivery passes on. */
export interface LoopJudgement {
  check: LoopCheck;
  hops: number;
}

/** Loop memory shared across instances. */
export interface LoopMemory {
  /**
   * Judges a message (judgeLoop) on what the instances remember; `hops` is what its delivery passes on. Judged at
   * once (no promise) when nothing needs reading: a message not from a session, or a self-echo.
   */
  check(input: LoopInput, limits: LoopLimits): LoopJudgement | Promise<LoopJudgement>;
  /** Remembers that `from` delivered a message travelling `hops` hops to `to`; call once it was delivered. */
  record(from: string, to: string, hops: number): Promise<void>;
}

const digest = (text: string): string => hash("sha256", text, "hex").slice(0, 32);

/** Token-bucket keys computed lately (a command names its buckets several times; hashing each time is waste). */
const bucketKeys = new Map<string, string>();
const MAX_BUCKET_KEYS = 10_000;

/** The bucket's keys: ids are hashed, so any caller or session id makes a valid key. Pure. */
export const policyStateKeys = {
  bucket: (kind: BucketKind, id: string): string => {
    const memo = `${kind}:${id}`;
    let key = bucketKeys.get(memo);
    if (key === undefined) {
      if (bucketKeys.size >= MAX_BUCKET_KEYS) bucketKeys.clear();
      key = `rate.${kind}.${digest(id)}`;
      bucketKeys.set(memo, key);
    }
    return key;
  },
  inbound: (to: string): string => `loop.in.${digest(to)}`,
  sent: (from: string, to: string): string => `loop.sent.${digest(`${from}\u0000${to}`)}`,
};

const BucketValue = z.strictObject({ key: z.string(), tokens: z.number().min(0), atMs: z.number() });
const InboundValue = z.strictObject({ key: z.string(), hops: z.number().int().min(0), atMs: z.number() });
const SentValue = z.strictObject({ key: z.string(), atMs: z.number() });

const decoder = new TextDecoder();

/** The value of `bytes` under `schema` when it names `key` as its own; else null. */
function ownValue<T extends { key: string }>(schema: z.ZodType<T>, key: string, bytes: Uint8Array): T | null {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(bytes));
  } catch {
    return null;
  }
  const parsed = schema.safeParse(json);
  return parsed.success && parsed.data.key === key ? parsed.data : null;
}

/** A take waiting for its bucket's next compare-and-set. */
interface Waiter {
  spec: TokenBucketSpec;
  resolve(result: TakeResult): void;
  reject(err: unknown): void;
}

/** What an instance knows of one token bucket: its state (none: full) at `revision` (0: no entry). */
interface Known {
  state: BucketState | undefined;
  revision: number;
}

/** A token bucket's state in an entry: none for no entry or a delete; empty from its store time when unreadable. */
function knownOf(key: string, operation: string, value: Uint8Array, revision: number, createdMs: number): Known {
  if (operation !== "PUT") return { state: undefined, revision };
  const v = ownValue(BucketValue, key, value);
  return { state: v ? { tokens: v.tokens, atMs: v.atMs } : { tokens: 0, atMs: createdMs }, revision };
}

/** The shared state over KV `codex-policy-state`; see the module comment. */
export class PolicyState implements RateLimiter, LoopMemory {
  /** Token buckets this instance has seen, least recently used first. */
  private readonly known = new Map<string, Known>();
  /** Takes waiting per bucket key; the first of each is being written. */
  private readonly queues = new Map<string, Waiter[]>();
  private follow: KvFollow | undefined;
  private following: Promise<void> | undefined;

  private constructor(
    private readonly kv: KvBucket,
    private readonly publisher: JetStreamPublisher,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  /**
   * Opens the bucket (it must exist: `ensureBus` creates it) and follows its changes from now on. Writes go
   * through `publisher` (pipelined: no per-write timer or inbox).
   */
  static async open(opts: {
    nc: NatsConnection;
    publisher: JetStreamPublisher;
    log: Logger;
    now?: () => number;
  }): Promise<PolicyState> {
    const kv = await openKvBucket(opts.nc, BUCKET);
    const status = await kv.status();
    const state = new PolicyState(kv, opts.publisher, opts.log, opts.now ?? Date.now);
    // Only changes from here on: a bucket nobody here has seen yet is read when first taken from.
    const follow = await followKvBucket(opts.nc, BUCKET, status.streamInfo.state.last_seq + 1);
    state.follow = follow;
    state.following = (async () => {
      for await (const e of follow) {
        // This instance's own writes come back too: what is known already at that revision is not parsed again.
        if (!e.key.startsWith("rate.") || (state.known.get(e.key)?.revision ?? 0) >= e.revision) continue;
        state.learn(e.key, knownOf(e.key, e.operation, e.value, e.revision, e.createdMs));
      }
    })().catch((err: Error) =>
      state.log.warn({ err: err.message }, "policy state follow ended; buckets are read when a take conflicts"),
    );
    return state;
  }

  refusedNow(requests: readonly BucketRequest[]): Extract<TakesResult, { ok: false }> | null {
    const now = this.now();
    for (const r of requests) {
      const known = this.known.get(policyStateKeys.bucket(r.kind, r.id));
      const taken = known ? takeToken(known.state, r.spec, now) : null;
      // Refused from what this instance knows: that stands (a newer state holds no more); nothing is taken.
      if (taken && !taken.ok) return { ok: false, refused: r, retryAfterMs: taken.retryAfterMs };
    }
    return null;
  }

  async take(requests: readonly BucketRequest[]): Promise<TakesResult> {
    const refused = this.refusedNow(requests);
    if (refused) return refused;
    const outcomes = await Promise.all(requests.map((r) => this.takeOne(policyStateKeys.bucket(r.kind, r.id), r.spec)));
    for (const [i, o] of outcomes.entries()) {
      if (!o.ok) return { ok: false, refused: requests[i]!, retryAfterMs: o.retryAfterMs };
    }
    return { ok: true };
  }

  check(input: LoopInput, limits: LoopLimits): LoopJudgement | Promise<LoopJudgement> {
    const { from, to } = input;
    // Nothing to look up: not from a session, or a self-echo (refused whatever is remembered).
    if (from === null || from === to) return judgeLoop(input, limits, {}, this.now());
    return this.checkRemembered(input, from, to, limits);
  }

  private async checkRemembered(
    input: LoopInput,
    from: string,
    to: string,
    limits: LoopLimits,
  ): Promise<LoopJudgement> {
    const inKey = policyStateKeys.inbound(from);
    const sentKey = policyStateKeys.sent(to, from);
    const [inbound, sent] = await Promise.all([
      this.read(inKey),
      limits.cycleWindowMs > 0 ? this.read(sentKey) : Promise.resolve(null),
    ]);
    // An entry that is there but unreadable (bytes any bus user can have the server store on a key, by naming it
    // as the reply subject of an API request) counts as the worst case from when it was stored, as a token bucket
    // does: a message at the hop bound, and a reverse delivery. Read as absent, it would erase the memory and let
    // a cycle or a long chain through; this way it refuses until the hop and cycle windows have passed.
    const i =
      inbound?.operation === "PUT"
        ? (ownValue(InboundValue, inKey, inbound.value) ?? { hops: limits.maxHops, atMs: inbound.created.getTime() })
        : null;
    const s =
      sent?.operation === "PUT" ? (ownValue(SentValue, sentKey, sent.value) ?? { atMs: sent.created.getTime() }) : null;
    return judgeLoop(
      input,
      limits,
      { inbound: i ? { hops: i.hops, atMs: i.atMs } : undefined, reverseAtMs: s?.atMs },
      this.now(),
    );
  }

  async record(from: string, to: string, hops: number): Promise<void> {
    const atMs = this.now();
    const inKey = policyStateKeys.inbound(to);
    const sentKey = policyStateKeys.sent(from, to);
    await Promise.all([
      putKvEntry(this.publisher, BUCKET, inKey, JSON.stringify({ key: inKey, hops, atMs })),
      putKvEntry(this.publisher, BUCKET, sentKey, JSON.stringify({ key: sentKey, atMs })),
    ]);
  }

  /** How many token buckets this instance knows (for tests). */
  get knownBuckets(): number {
    return this.known.size;
  }

  /** Stops following the bucket. */
  async stop(): Promise<void> {
    await this.follow?.stop();
    await this.following;
  }

  /**
   * One take from the bucket at `key`. Takes of one key on this instance go in batches, one compare-and-set at a
   * time: what arrives while a write is out waits for it and then goes in the next write, all at once, so
   * commands racing for one bucket cost this instance one round trip per batch, never a conflict among themselves.
   */
  private takeOne(key: string, spec: TokenBucketSpec): Promise<TakeResult> {
    return new Promise<TakeResult>((resolve, reject) => {
      let queue = this.queues.get(key);
      if (!queue) this.queues.set(key, (queue = []));
      queue.push({ spec, resolve, reject });
      if (queue.length === 1) void this.drain(key, queue);
    });
  }

  /** Takes for the waiters of `key`, batch after batch, until none wait. */
  private async drain(key: string, queue: Waiter[]): Promise<void> {
    while (queue.length > 0) {
      const batch = queue.slice();
      try {
        const granted = await this.takeBatch(key, batch[batch.length - 1]!.spec, batch.length);
        for (const [i, w] of batch.entries())
          w.resolve(i < granted.granted ? { ok: true } : { ok: false, retryAfterMs: granted.retryAfterMs });
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
      queue.splice(0, batch.length);
    }
    this.queues.delete(key);
  }

  /**
   * Takes up to `count` tokens from the bucket at `key` in one compare-and-set from the state this instance knows,
   * reading the key again after each conflict; throws a BusError after MAX_TAKE_ATTEMPTS conflicts in a row or
   * when the bus fails. A batch the known state grants nothing writes nothing.
   */
  private async takeBatch(
    key: string,
    spec: TokenBucketSpec,
    count: number,
  ): Promise<{ granted: number; retryAfterMs: number }> {
    let known = this.known.get(key);
    for (let attempt = 0; attempt < MAX_TAKE_ATTEMPTS; attempt++) {
      if (!known) {
        const entry = await this.read(key);
        known = entry
          ? knownOf(key, entry.operation, entry.value, entry.revision, entry.created.getTime())
          : { state: undefined, revision: 0 };
        // What the stream leader holds now, even when older than what was kept (an entry that expired).
        this.learn(key, known, true);
      }
      const taken = takeTokens(known.state, spec, this.now(), count);
      if (taken.granted === 0) return taken;
      const value = JSON.stringify({ key, tokens: taken.next.tokens, atMs: taken.next.atMs });
      try {
        const ack = await putKvEntry(this.publisher, BUCKET, key, value, known.revision);
        this.learn(key, { state: taken.next, revision: ack.seq });
        return taken;
      } catch (err) {
        if (!isRevisionConflict(err)) throw err;
        // Another instance took from it (or it expired): read what is there now and try again.
        const current = this.known.get(key);
        known = current && current.revision > known.revision ? current : undefined;
      }
    }
    throw new BusError(
      "timeout",
      `rate-limit bucket ${key} changed under ${MAX_TAKE_ATTEMPTS} attempts in a row to take a token`,
      { retryable: true },
    );
  }

  /** The key's entry, read from the stream leader; null when it has none. */
  private async read(key: string): Promise<KvEntry | null> {
    return this.kv.get(key);
  }

  /** Keeps `known` for `key` unless what is kept is newer (or `replace`); bounds how many are kept. */
  private learn(key: string, known: Known, replace = false): void {
    const had = this.known.get(key);
    if (had && had.revision > known.revision && !replace) return;
    this.known.delete(key);
    this.known.set(key, known);
    if (this.known.size > MAX_KNOWN_BUCKETS) this.known.delete(this.known.keys().next().value as string);
  }
}
