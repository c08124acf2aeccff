import { describe, expect, it } from "vitest";
import { DEFAULT_POLICY, PolicyDocument } from "./policy.js";
import { DENY_ALL_POLICY, policyFromHistory, stepPolicy, NOTHING_STORED } from "./policy-history.js";

const valid = (id: string) => JSON.stringify({ version: 1, rules: [{ id, role: "operator", allow: ["list"] }] });
const doc = (id: string) => PolicyDocument.parse(JSON.parse(valid(id)));
const invalid = JSON.stringify({ version: 1, rules: [{ role: "root", allow: ["everything"] }] });
const put = (revision: number, text: string) => ({ revision, operation: "PUT", text });
const del = (revision: number, operation = "DEL") => ({ revision, operation, text: "" });

describe("policyFromHistory: the newest valid document, failing closed", () => {
  it("applies the built-in default while nothing is stored", () => {
    expect(policyFromHistory([])).toEqual(NOTHING_STORED);
  });

  it("applies the newest valid document and remembers a newer refused one", () => {
    const state = policyFromHistory([put(5, invalid), put(2, valid("a")), put(4, valid("b")), put(3, invalid)]);
    expect(state.inForce).toEqual({ document: doc("b"), revision: 4, source: "stored" });
    expect(state.refused).toEqual({ revision: 5, reason: expect.stringContaining("rules.0.role") });
    expect(state.revision).toBe(5);
  });

  it("forgets a refused document once a newer valid one is stored", () => {
    expect(policyFromHistory([put(1, valid("a")), put(2, "{ nope"), put(3, valid("c"))])).toMatchObject({
      inForce: { revision: 3 },
      refused: null,
    });
  });

  it("denies everything when documents are stored but none is valid, never the default", () => {
    const state = policyFromHistory([put(7, "{ nope"), put(8, invalid)]);
    expect(state.inForce).toEqual({ document: DENY_ALL_POLICY, revision: null, source: "fail-closed" });
    expect(DENY_ALL_POLICY.rules).toEqual([]);
    expect(state.refused).toEqual({ revision: 8, reason: expect.stringContaining("rules.0.allow.0") });
  });

  it("counts only what was stored after a delete or purge: the default, or deny-all over a refused document", () => {
    expect(policyFromHistory([put(1, valid("a")), del(2)])).toMatchObject({
      inForce: { document: DEFAULT_POLICY, source: "default", revision: null },
      refused: null,
    });
    expect(policyFromHistory([put(1, valid("a")), del(2, "PURGE"), put(3, invalid)])).toMatchObject({
      inForce: { source: "fail-closed" },
      refused: { revision: 3 },
    });
  });

  it("names why a document is refused: not JSON, or every bad field", () => {
    expect(policyFromHistory([put(1, "{ nope")]).refused?.reason).toMatch(/^not JSON: /);
    const reason = policyFromHistory([
      put(1, JSON.stringify({ version: 1, rules: [{ role: "admin", allow: ["send"] }], loops: { maxHops: 99 } })),
    ]).refused?.reason;
    expect(reason).toMatch(/rules\.0\.role: .*loops\.maxHops: /);
  });
});

describe("stepPolicy: one change at a time, as the service follows the bucket", () => {
  it("ignores revisions it has already taken into account", () => {
    const { state } = stepPolicy(NOTHING_STORED, put(3, valid("a")));
    expect(stepPolicy(state, put(2, valid("b")))).toEqual({ state, change: null });
    expect(stepPolicy(state, put(3, invalid))).toEqual({ state, change: null });
  });

  it("reports each change: applied, refused keeping a stored document, refused failing closed, deleted", () => {
    const first = stepPolicy(NOTHING_STORED, put(1, invalid));
    expect(first.change).toMatchObject({ revision: 1, applied: false, inForce: "fail-closed" });
    const second = stepPolicy(first.state, put(2, valid("a")));
    expect(second.change).toEqual({ revision: 2, applied: true, reason: null, inForce: "stored" });
    const third = stepPolicy(second.state, put(3, invalid));
    expect(third.change).toMatchObject({ revision: 3, applied: false, inForce: "stored" });
    expect(third.state.inForce.revision).toBe(2);
    expect(stepPolicy(third.state, del(4)).change).toMatchObject({ revision: 4, applied: true, inForce: "default" });
  });
});
