import { describe, expect, it } from "vitest";
import { isPlainSessionEventEnvelope as isPlainEnvelope, SessionEventEnvelopeSchema } from "../../schemas/bus.js";
import { EnvelopeReader } from "./envelope.js";

const good = {
  hostId: "host-a",
  threadId: "thr_1",
  epoch: "run-1_A",
  seq: 7,
  emittedAtMs: 1_733_000_000_000,
  type: "thread/status/changed",
  payload: { threadId: "thr_1", status: { type: "idle" } },
};

// Each differs from `good` in one way the schema may or may not accept; the reader must agree with the schema.
const variants: [string, unknown][] = [
  ["good", good],
  ["payload null", { ...good, payload: null }],
  ["payload missing", { ...good, payload: undefined }],
  ["extra field (stripped by the schema)", { ...good, extra: 1 }],
  ["empty hostId", { ...good, hostId: "" }],
  ["numeric threadId", { ...good, threadId: 5 }],
  ["epoch with a dot", { ...good, epoch: "a.b" }],
  ["epoch 64 chars", { ...good, epoch: "e".repeat(64) }],
  ["epoch 65 chars", { ...good, epoch: "e".repeat(65) }],
  ["negative seq", { ...good, seq: -1 }],
  ["fractional seq", { ...good, seq: 1.5 }],
  ["seq 2^53", { ...good, seq: 2 ** 53 }],
  ["seq as string", { ...good, seq: "7" }],
  ["emittedAtMs NaN-ish", { ...good, emittedAtMs: null }],
  ["empty type", { ...good, type: "" }],
  ["array", [good]],
  ["null", null],
  ["string", "event"],
];

describe("EnvelopeReader", () => {
  it.each(variants)("agrees with SessionEventEnvelopeSchema: %s", (_name, value) => {
    // What the registry reads is JSON: compare on the value as it comes out of JSON.
    const text = JSON.stringify(value);
    const wire: unknown = JSON.parse(text);
    const schema = SessionEventEnvelopeSchema.safeParse(wire);
    // The fast check accepts only what the schema accepts unchanged.
    if (isPlainEnvelope(wire)) expect(schema.success && schema.data).toEqual(wire);
    const data = new TextEncoder().encode(text);
    const read = new EnvelopeReader().read("codex.evt.host-a.thr_1", data);
    expect(read.ok).toBe(schema.success);
    if (read.ok && schema.success) expect(read.envelope).toEqual(schema.data);
    if (!read.ok) expect(read.reason).toMatch(/not a session event envelope: \S/);
  });

  it("takes the fast path for an envelope as the gateway stores it", () => {
    expect(isPlainEnvelope(JSON.parse(JSON.stringify(good)))).toBe(true);
  });

  it("refuses what is not JSON", () => {
    const read = new EnvelopeReader().read("codex.evt.host-a.thr_1", new TextEncoder().encode("{nope"));
    expect(read).toEqual({ ok: false, reason: "not JSON" });
  });

  it("refuses an envelope on another session's subject, also once that subject was seen valid", () => {
    const reader = new EnvelopeReader();
    const data = (env: object) => new TextEncoder().encode(JSON.stringify(env));
    expect(reader.read("codex.evt.host-a.thr_1", data(good)).ok).toBe(true);
    expect(reader.read("codex.evt.host-a.thr_2", data(good)).ok).toBe(false);
    expect(reader.read("codex.evt.host-b.thr_1", data(good)).ok).toBe(false);
    expect(reader.read("codex.evt.host-a.thr_1", data({ ...good, threadId: "thr_2" })).ok).toBe(false);
    expect(reader.read("codex.evt.host-a.thr_1", data({ ...good, hostId: "host-b" })).ok).toBe(false);
  });

  it("refuses ids that are not subject tokens even when the text fits the subject", () => {
    const reader = new EnvelopeReader();
    const data = new TextEncoder().encode(JSON.stringify({ ...good, hostId: "a.b", threadId: "c" }));
    // "codex.evt." + "a.b" + "." + "c" is the subject of host "a", thread "b.c"... which is no valid subject either;
    // what matters is that a dotted id never passes.
    expect(reader.read("codex.evt.a.b.c", data)).toMatchObject({ ok: false, reason: /subject/ });
  });
});
