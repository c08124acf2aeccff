/** Hop counts carried between sessions: a reply travels one hop more than the message that reached its sender. */
import { describe, expect, it } from "vitest";
import { HOP_MEMORY_MS, LoopGuard } from "./loop-guard.js";

const limits = { maxHops: 3, cycleWindowMs: 0 };

describe("loop guard hop counting", () => {
  it("stops peers answering back and forth at maxHops, whatever hop count each message claims", () => {
    let now = 1_000;
    const guard = new LoopGuard(() => now);
    const pass = (from: string, to: string) => {
      const c = guard.check({ from, to, hops: 1 }, limits);
      if (c.ok) guard.record(from, to);
      now += 10;
      return c;
    };
    expect(pass("a", "b").ok).toBe(true); // hop 1
    expect(pass("b", "a").ok).toBe(true); // hop 2
    expect(pass("a", "b").ok).toBe(true); // hop 3
    const fourth = pass("b", "a");
    expect(fourth).toMatchObject({ ok: false, kind: "hops" });
    expect(fourth.ok ? "" : fourth.reason).toContain("4 agent hops");
  });

  it("forgets the inbound hop count after HOP_MEMORY_MS", () => {
    let now = 1_000;
    const guard = new LoopGuard(() => now);
    for (const [from, to] of [
      ["a", "b"],
      ["b", "a"],
      ["a", "b"],
    ] as const) {
      expect(guard.check({ from, to, hops: 1 }, limits).ok).toBe(true);
      guard.record(from, to);
    }
    expect(guard.check({ from: "b", to: "a", hops: 1 }, limits).ok).toBe(false);
    now += HOP_MEMORY_MS;
    expect(guard.check({ from: "b", to: "a", hops: 1 }, limits).ok).toBe(true);
  });
});
