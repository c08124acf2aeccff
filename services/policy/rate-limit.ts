/**
 * Token buckets keyed by caller or target: `burst` requests at once, refilled at `perSecond`. The arithmetic is
 * pure (`tokensAt`, `takeToken`): the policy service applies it to buckets shared by its instances in KV
 * (shared-state.ts); `TokenBuckets` is the same arithmetic over buckets held in one process, pure apart from
 * the injected clock. Its memory stays bounded: a bucket that has refilled is the same as no bucket, so it is
 * dropped, and beyond `maxKeys` the least recently used bucket goes.
 */
import type { TokenBucketSpec } from "../../schemas/policy.js";

/** One bucket: `tokens` as computed at `atMs` (ms on the clock the caller uses). No bucket at all is a full one. */
export interface BucketState {
  tokens: number;
  atMs: number;
}

/** The outcome of one `take`: allowed, or refused with how long until a token is back (ms, at least 1). */
export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number };

/** The tokens `state` holds at `now` under `spec` (refilled, at most `burst`; no state is a full bucket). Pure. */
export function tokensAt(state: BucketState | undefined, spec: TokenBucketSpec, now: number): number {
  if (!state) return spec.burst;
  const elapsedMs = Math.max(0, now - state.atMs);
  return Math.min(spec.burst, state.tokens + (elapsedMs * spec.perSecond) / 1000);
}

/**
 * One take from `state` at `now`: the bucket after it, or a refusal with when a token is back. Refilling only
 * adds tokens with time and taking only removes them, so a later state of the same bucket never holds more
 * tokens at `now` than an earlier one: a refusal computed from a state that may be stale still holds. Pure.
 */
export function takeToken(
  state: BucketState | undefined,
  spec: TokenBucketSpec,
  now: number,
): { ok: true; next: BucketState } | { ok: false; retryAfterMs: number; now: BucketState } {
  const tokens = tokensAt(state, spec, now);
  if (tokens >= 1) return { ok: true, next: { tokens: tokens - 1, atMs: now } };
  return { ok: false, retryAfterMs: retryAfterMs(tokens, spec), now: { tokens, atMs: now } };
}

/**
 * Up to `count` takes from `state` at once (several commands waiting on one bucket): how many are granted (as
 * many as whole tokens allow, in order), the bucket after them, and for the others when a token is back. Pure.
 */
export function takeTokens(
  state: BucketState | undefined,
  spec: TokenBucketSpec,
  now: number,
  count: number,
): { granted: number; next: BucketState; retryAfterMs: number } {
  const tokens = tokensAt(state, spec, now);
  const granted = Math.max(0, Math.min(count, Math.floor(tokens)));
  const left = tokens - granted;
  return { granted, next: { tokens: left, atMs: now }, retryAfterMs: retryAfterMs(left, spec) };
}

/** How long until a bucket holding `tokens` has a whole one, ms (at least 1). Pure. */
function retryAfterMs(tokens: number, spec: TokenBucketSpec): number {
  return Math.max(1, Math.ceil((Math.max(0, 1 - tokens) * 1000) / spec.perSecond));
}

/** A set of token buckets sharing one spec; see the module comment for the memory bound. */
export class TokenBuckets {
  /** Most recently used last (a Map keeps insertion order; each use re-inserts). */
  private readonly buckets = new Map<string, BucketState>();

  /** `now` returns ms (any monotonic-enough origin); `maxKeys` bounds how many buckets are kept. */
  constructor(
    private spec: TokenBucketSpec,
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 10_000,
  ) {
    if (!Number.isInteger(maxKeys) || maxKeys < 1)
      throw new RangeError(`maxKeys must be a positive integer, got ${maxKeys}`);
  }

  /** Takes one token from `key`'s bucket, or says how long until one is available. */
  take(key: string): TakeResult {
    const now = this.now();
    const taken = takeToken(this.buckets.get(key), this.spec, now);
    this.buckets.delete(key);
    this.buckets.set(key, taken.ok ? taken.next : taken.now);
    this.evict(now);
    return taken.ok ? { ok: true } : { ok: false, retryAfterMs: taken.retryAfterMs };
  }

  /** Applies a new spec from now on (a live policy change); a bucket holding more than the new burst is cut to it. */
  setSpec(spec: TokenBucketSpec): void {
    const now = this.now();
    for (const bucket of this.buckets.values()) {
      bucket.tokens = Math.min(spec.burst, this.refilled(bucket, now));
      bucket.atMs = now;
    }
    this.spec = spec;
    this.evict(now);
  }

  /** How many buckets are held (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  private refilled(bucket: BucketState, now: number): number {
    return tokensAt(bucket, this.spec, now);
  }

  /**
   * Drops full buckets from the least recently used end (the oldest are the first to refill, so this stops at
   * the first one still refilling: amortised O(1) per take), then the least recently used beyond `maxKeys`.
   */
  private evict(now: number): void {
    for (const [key, bucket] of this.buckets) {
      if (this.refilled(bucket, now) < this.spec.burst) break;
      this.buckets.delete(key);
    }
    for (const key of this.buckets.keys()) {
      if (this.buckets.size <= this.maxKeys) break;
      this.buckets.delete(key);
    }
  }
}
