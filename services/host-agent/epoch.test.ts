import { describe, expect, it } from "vitest";
import { SessionEventEnvelopeSchema } from "../../schemas/bus.js";
import { newEpoch } from "./epoch.js";

describe("newEpoch", () => {
  it("is a valid envelope epoch that sorts by start time as text", () => {
    const a = newEpoch(1_700_000_000_000, () => 0.99);
    const b = newEpoch(1_700_000_000_001, () => 0);
    expect(a).toMatch(/^[0-9a-z]{10}-[0-9a-z]{6}$/);
    expect(a < b).toBe(true);
    expect(newEpoch(99_999_999_999_999) > newEpoch(1)).toBe(true);
    const envelope = { hostId: "h", threadId: "t", epoch: newEpoch(), seq: 0, emittedAtMs: 0, type: "x", payload: {} };
    expect(SessionEventEnvelopeSchema.safeParse(envelope).success).toBe(true);
  });

  it("differs between runs started in the same millisecond", () => {
    expect(new Set(Array.from({ length: 50 }, () => newEpoch(5))).size).toBe(50);
  });
});
