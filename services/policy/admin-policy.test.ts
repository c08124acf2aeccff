import { describe, expect, it } from "vitest";
import type { PolicyWriterRecord } from "../../schemas/admin.js";
import { attributeWriter } from "./admin-policy.js";

const digest = (c: string) => c.repeat(64);
const writer = (id: string, d: string): PolicyWriterRecord => ({
  caller: { role: "operator", id },
  requestId: `req-${id}`,
  digest: d,
  atMs: 1,
});

describe("attributeWriter: who stored a revision through policy set", () => {
  it("finds the writer record with the document's digest written just before it", () => {
    const w = writer("alice", digest("a"));
    expect(attributeWriter([{ revision: 2, value: digest("a") }], [{ revision: 1, value: w }], 2, digest("a"))).toBe(w);
  });

  it("keeps two concurrent sets apart by their digests", () => {
    const a = writer("alice", digest("a"));
    const b = writer("bob", digest("b"));
    const writers = [
      { revision: 1, value: a },
      { revision: 2, value: b },
    ];
    const active = [
      { revision: 3, value: digest("a") },
      { revision: 4, value: digest("b") },
    ];
    expect(attributeWriter(active, writers, 3, digest("a"))).toBe(a);
    expect(attributeWriter(active, writers, 4, digest("b"))).toBe(b);
  });

  it("does not credit a set to the same document written again straight into the bucket", () => {
    const a = writer("alice", digest("a"));
    const active = [
      { revision: 2, value: digest("a") },
      { revision: 5, value: digest("a") },
    ];
    expect(attributeWriter(active, [{ revision: 1, value: a }], 5, digest("a"))).toBeNull();
  });

  it("knows no writer for a document no set announced", () => {
    expect(attributeWriter([], [{ revision: 1, value: writer("alice", digest("a")) }], 2, digest("c"))).toBeNull();
    expect(attributeWriter([], [{ revision: 1, value: null }], 2, digest("c"))).toBeNull();
  });
});
