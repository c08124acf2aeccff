import { describe, expect, it } from "vitest";
import { LoopGuard, loopOrigin } from "./loop-guard.js";

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}
const limits = { maxHops: 3, cycleWindowMs: 60_000 };

describe("LoopGuard", () => {
  it("refuses a session messaging itself", () => {
    const guard = new LoopGuard(clock().now);
    expect(guard.check({ from: "a", to: "a", hops: 0 }, limits)).toMatchObject({
      ok: false,
      kind: "self_echo",
      reason: expect.stringContaining("session a"),
    });
    expect(guard.check({ from: null, to: "a", hops: 0 }, limits)).toEqual({ ok: true });
  });

  it("refuses more hops than maxHops, and allows exactly maxHops", () => {
    const guard = new LoopGuard(clock().now);
    expect(guard.check({ from: "a", to: "b", hops: 3 }, limits)).toEqual({ ok: true });
    expect(guard.check({ from: "a", to: "b", hops: 4 }, limits)).toMatchObject({
      ok: false,
      kind: "hops",
      reason: expect.stringContaining("maxHops of 3"),
    });
    expect(guard.check({ from: null, to: "b", hops: 4 }, limits)).toMatchObject({ ok: false, kind: "hops" });
  });

  it("refuses A→B inside the window after B→A was delivered, and allows it after", () => {
    const c = clock();
    const guard = new LoopGuard(c.now);
    expect(guard.check({ from: "b", to: "a", hops: 0 }, limits)).toEqual({ ok: true });
    guard.record("b", "a");
    c.advance(59_999);
    expect(guard.check({ from: "a", to: "b", hops: 1 }, limits)).toMatchObject({
      ok: false,
      kind: "cycle",
      reason: expect.stringContaining("session b sent to session a"),
    });
    expect(guard.check({ from: "b", to: "a", hops: 0 }, limits)).toEqual({ ok: true }); // same direction is not a cycle
    expect(guard.check({ from: "a", to: "c", hops: 1 }, limits)).toEqual({ ok: true });
    c.advance(1);
    expect(guard.check({ from: "a", to: "b", hops: 1 }, limits)).toEqual({ ok: true });
  });

  it("does not count a message that was only checked, not recorded", () => {
    const guard = new LoopGuard(clock().now);
    guard.check({ from: "b", to: "a", hops: 0 }, limits);
    expect(guard.check({ from: "a", to: "b", hops: 0 }, limits)).toEqual({ ok: true });
  });

  it("turns the cycle check off with cycleWindowMs 0", () => {
    const guard = new LoopGuard(clock().now);
    guard.record("b", "a");
    expect(guard.check({ from: "a", to: "b", hops: 0 }, { maxHops: 3, cycleWindowMs: 0 })).toEqual({ ok: true });
  });

  it("forgets deliveries older than the window", () => {
    const c = clock();
    const guard = new LoopGuard(c.now);
    guard.check({ from: null, to: "x", hops: 0 }, limits);
    for (let i = 0; i < 100; i++) guard.record(`s${i}`, "x");
    expect(guard.size).toBe(100);
    c.advance(60_000);
    guard.record("s0", "y");
    expect(guard.size).toBe(1);
  });

  it("keeps at most maxEntries deliveries, forgetting the oldest", () => {
    const c = clock();
    const guard = new LoopGuard(c.now, 2);
    guard.record("b", "a");
    c.advance(1);
    guard.record("c", "a");
    guard.record("d", "a");
    expect(guard.size).toBe(2);
    expect(guard.check({ from: "a", to: "b", hops: 0 }, limits)).toEqual({ ok: true });
    expect(guard.check({ from: "a", to: "d", hops: 0 }, limits)).toMatchObject({ ok: false, kind: "cycle" });
  });
});

describe("loopOrigin", () => {
  it("is originSessionId, else a session caller's id, else null", () => {
    expect(loopOrigin({ originSessionId: "o", caller: { id: "s", role: "session" } })).toBe("o");
    expect(loopOrigin({ caller: { id: "s", role: "session" } })).toBe("s");
    expect(loopOrigin({ caller: { id: "op", role: "operator" } })).toBeNull();
  });
});
