import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { matchesRef, matchingRefs, parseSessionRef, shortIds } from "./session-ref.js";

/** A UUIDv7 (RFC 9562) for `ms`: 48-bit timestamp, version 7, 74 random bits. */
function uuidv7(ms: number): string {
  const b = randomBytes(16);
  b.writeUIntBE(ms, 0, 6);
  b[6] = 0x70 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  const hex = b.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

describe("short session ids", () => {
  it("gives three UUIDv7s made in the same millisecond distinct short ids from their random part", () => {
    const ms = Date.now();
    const ids = [uuidv7(ms), uuidv7(ms), uuidv7(ms)];
    expect(new Set(ids.map((id) => id.slice(0, 8))).size).toBe(1); // the timestamp part collides
    const short = shortIds(ids);
    const values = ids.map((id) => short.get(id)!);
    expect(new Set(values).size).toBe(3);
    for (const [i, id] of ids.entries()) {
      expect(values[i]).toBe(id.slice(-12, -4));
      // Each short id names its own session and no other.
      expect(ids.filter((other) => matchesRef(other, values[i]!))).toEqual([id]);
    }
  });

  it("lengthens a short id until it is unique, up to the last group and then the whole id", () => {
    const a = "01a236ac-1234-7abc-8def-abcdef123456";
    const b = "01a236ac-1234-7abc-8def-abcdef129999";
    const c = "01a236ac-9999-7abc-8def-0123456789ab";
    const d = "01a236ad-9999-7abc-8def-0123456789ab"; // same last group as c
    const e = "01a236ac-0000-7abc-8def-5555aaaa0000";
    const short = shortIds([a, b, c, d, e, a]);
    expect(Object.fromEntries(short)).toEqual({
      [a]: "abcdef123",
      [b]: "abcdef129",
      [c]: c,
      [d]: d,
      [e]: "5555aaaa",
    });
  });

  it("does not use a short id that also starts another id", () => {
    const a = "01a236ac-1234-7abc-8def-7fff00001234";
    const b = "7fff0000-1234-7abc-8def-0123456789ab";
    expect(shortIds([a, b]).get(a)).toBe("7fff00001");
    expect(shortIds([a, "7fff0000x"]).get(a)).toBe("7fff00001");
  });

  it("shows an id that is not a UUID as itself", () => {
    expect(Object.fromEntries(shortIds(["s1", "session-two"]))).toEqual({ s1: "s1", "session-two": "session-two" });
  });
});

describe("session refs", () => {
  const id = "01a236ac-1234-7abc-8def-0123456789ab";

  it("matches the whole id, a prefix of it, or a prefix of its last group, at least 4 characters", () => {
    expect(matchesRef(id, id)).toBe(true);
    expect(matchesRef(id, "01a2")).toBe(true);
    expect(matchesRef(id, "01a236ac-12")).toBe(true);
    expect(matchesRef(id, "01234567")).toBe(true);
    expect(matchesRef(id, "0123")).toBe(true);
    expect(matchesRef(id, "0123456789AB")).toBe(true);
    expect(matchesRef(id, "012")).toBe(false);
    expect(matchesRef(id, "1234")).toBe(false);
    expect(matchesRef(id, "89ab")).toBe(false);
    expect(matchesRef("s1", "s1")).toBe(true);
    expect(matchesRef("session-two", "sess")).toBe(true);
    expect(matchesRef("session-two", "two")).toBe(false);
  });

  it("prefers an exact id over prefix matches", () => {
    const ids = ["abcd1234", "01a236ac-1234-7abc-8def-abcd12345678", "abcd12345"];
    expect(matchingRefs(ids, (x) => x, "abcd1234")).toEqual(["abcd1234"]);
    expect(matchingRefs(ids, (x) => x, "abcd")).toEqual(ids);
    expect(matchingRefs(ids, (x) => x, "zzzz")).toEqual([]);
  });

  it("splits host/ref", () => {
    expect(parseSessionRef("devbox/0123")).toEqual({ host: "devbox", ref: "0123" });
    expect(parseSessionRef("0123")).toEqual({ ref: "0123" });
  });
});
