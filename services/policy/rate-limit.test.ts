import { describe, expect, it } from "vitest";
import { TokenBuckets } from "./rate-limit.js";

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe("TokenBuckets", () => {
  it("allows a burst, then refuses with the time until the next token", () => {
    const c = clock();
    const buckets = new TokenBuckets({ burst: 3, perSecond: 2 }, c.now);
    for (let i = 0; i < 3; i++) expect(buckets.take("a")).toEqual({ ok: true });
    expect(buckets.take("a")).toEqual({ ok: false, retryAfterMs: 500 });
    c.advance(200);
    expect(buckets.take("a")).toEqual({ ok: false, retryAfterMs: 300 });
  });

  it("refills at perSecond, never beyond burst", () => {
    const c = clock();
    const buckets = new TokenBuckets({ burst: 2, perSecond: 4 }, c.now);
    buckets.take("a");
    buckets.take("a");
    expect(buckets.take("a").ok).toBe(false);
    c.advance(250);
    expect(buckets.take("a")).toEqual({ ok: true });
    expect(buckets.take("a").ok).toBe(false);
    c.advance(60_000);
    expect(buckets.take("a").ok).toBe(true);
    expect(buckets.take("a").ok).toBe(true);
    expect(buckets.take("a").ok).toBe(false);
  });

  it("keeps one bucket per key", () => {
    const buckets = new TokenBuckets({ burst: 1, perSecond: 1 }, clock().now);
    expect(buckets.take("a").ok).toBe(true);
    expect(buckets.take("a").ok).toBe(false);
    expect(buckets.take("b").ok).toBe(true);
  });

  it("drops buckets that are full again", () => {
    const c = clock();
    const buckets = new TokenBuckets({ burst: 2, perSecond: 1 }, c.now);
    for (let i = 0; i < 50; i++) buckets.take(`k${i}`);
    expect(buckets.size).toBe(50);
    c.advance(1_000);
    buckets.take("fresh");
    expect(buckets.size).toBe(1);
  });

  it("keeps at most maxKeys buckets, evicting the least recently used", () => {
    const c = clock();
    const buckets = new TokenBuckets({ burst: 1, perSecond: 0.001 }, c.now, 3);
    for (const k of ["a", "b", "c"]) expect(buckets.take(k).ok).toBe(true);
    c.advance(1);
    expect(buckets.take("a").ok).toBe(false); // a is now the most recently used
    expect(buckets.take("d").ok).toBe(true); // evicts b
    expect(buckets.size).toBe(3);
    expect(buckets.take("a").ok).toBe(false);
    expect(buckets.take("c").ok).toBe(false);
    expect(buckets.take("b").ok).toBe(true); // forgotten, so a fresh bucket
    expect(buckets.size).toBe(3);
  });

  it("applies a new spec live, cutting a bucket to the new burst", () => {
    const c = clock();
    const buckets = new TokenBuckets({ burst: 10, perSecond: 1 }, c.now);
    buckets.take("a");
    buckets.setSpec({ burst: 2, perSecond: 100 });
    expect(buckets.take("a").ok).toBe(true);
    expect(buckets.take("a").ok).toBe(true);
    expect(buckets.take("a")).toEqual({ ok: false, retryAfterMs: 10 });
    c.advance(10);
    expect(buckets.take("a").ok).toBe(true);
  });

  it("refuses a maxKeys that is not a positive integer", () => {
    expect(() => new TokenBuckets({ burst: 1, perSecond: 1 }, Date.now, 0)).toThrow(RangeError);
  });
});
