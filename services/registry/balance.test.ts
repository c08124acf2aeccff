/** Spreading partitions: the hand-over rule and telling live instances from dead ones (pure). */
import { describe, expect, it } from "vitest";
import { MemberWatch, memberKey, partitionToHandOver } from "./balance.js";

describe("registry balance", () => {
  it("hands one partition over only when over its share while a live instance is under it", () => {
    // Alone: keeps everything.
    expect(partitionToHandOver(2, "a", [0, 1], ["a", "a"], [])).toBeUndefined();
    // A second live instance holding nothing: give it the highest partition.
    expect(partitionToHandOver(2, "a", [0, 1], ["a", "a"], ["b"])).toBe(1);
    // Balanced: nothing moves.
    expect(partitionToHandOver(2, "a", [0], ["a", "b"], ["b"])).toBeUndefined();
    // P = 3 over two: 2 and 1 is fair.
    expect(partitionToHandOver(3, "a", [0, 1], ["a", "a", "b"], ["b"])).toBeUndefined();
    expect(partitionToHandOver(3, "a", [0, 1, 2], ["a", "a", "a"], ["b"])).toBe(2);
    // P = 2 over three: one instance may hold none.
    expect(partitionToHandOver(2, "a", [0], ["a", "b"], ["b", "c"])).toBeUndefined();
    // P = 4 over three: a share is 2; a holds 3 and c none.
    expect(partitionToHandOver(4, "a", [0, 1, 2], ["a", "a", "a", "b"], ["b", "c"])).toBe(2);
    // Holding its share (3 of 5 over two) is not over it.
    expect(partitionToHandOver(5, "a", [0, 1, 2], ["a", "a", "a", "b", "b"], ["b"])).toBeUndefined();
  });

  it("counts an instance live only once its presence key was renewed between two looks", () => {
    const w = new MemberWatch();
    const m = (key: string, revision: number, released = false) => ({ key, holder: key, revision, released });
    expect(w.look([m("a", 1), m("b", 2)])).toEqual([]);
    expect(w.look([m("a", 5), m("b", 2)])).toEqual(["a"]); // b stopped renewing: dead
    expect(w.look([m("a", 5), m("b", 7)])).toEqual(["b"]);
    expect(w.look([m("a", 9), m("b", 8, true)])).toEqual(["a"]); // b released its key: gone
  });

  it("makes presence keys from any instance id", () => {
    expect(memberKey(2, "registry@host-1:42")).toMatch(/^registry\.2\.m\.registry_host-1_42-[0-9a-z]+$/);
    expect(memberKey(2, "a.b")).not.toBe(memberKey(2, "a_b"));
  });
});
