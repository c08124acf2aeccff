/**
 * Token buckets keyed by caller or target: `burst` requests at once, refilled at `perSecond`. Pure apart
 * from the injected clock. Memory stays bounded: a bucket that has refilled is the same as no bucket, so it
 * is dropped, and beyond `maxKeys` the least recently used bucket goes.
 */
import type { TokenBucketSpec } from "../../schemas/policy.js";

interface Bucket {
  tokens: number;
  /** When `tokens` was last computed, ms from `now()`. */
  at: number;
}

/** The outcome of one `take`: allowed, or refused with how long until a token is back (ms, at least 1). */
export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number };

/** A set of token buckets sharing one spec; see the module comment for the memory bound. */
export class TokenBuckets {
  /** Most recently used last (a Map keeps insertion order; each use re-inserts). */
  private readonly buckets = new Map<string, Bucket>();

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
    const bucket = this.buckets.get(key);
    const tokens = bucket ? this.refilled(bucket, now) : this.spec.burst;
    this.buckets.delete(key);
    if (tokens >= 1) {
      this.buckets.set(key, { tokens: tokens - 1, at: now });
      this.evict(now);
      return { ok: true };
    }
    this.buckets.set(key, { tokens, at: now });
    this.evict(now);
    return { ok: false, retryAfterMs: Math.max(1, Math.ceil(((1 - tokens) * 1000) / this.spec.perSecond)) };
  }

  /** Applies a new spec from now on (a live policy change); a bucket holding more than the new burst is cut to it. */
  setSpec(spec: TokenBucketSpec): void {
    const now = this.now();
    for (const bucket of this.buckets.values()) {
      bucket.tokens = Math.min(spec.burst, this.refilled(bucket, now));
      bucket.at = now;
    }
    this.spec = spec;
    this.evict(now);
  }

  /** How many buckets are held (for tests and metrics). */
  get size(): number {
    return this.buckets.size;
  }

  private refilled(bucket: Bucket, now: number): number {
    const elapsedMs = Math.max(0, now - bucket.at);
    return Math.min(this.spec.burst, bucket.tokens + (elapsedMs * this.spec.perSecond) / 1000);
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
