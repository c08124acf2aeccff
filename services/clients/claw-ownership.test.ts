/** Claw groups: what the document refuses, and who should own a session given the live Claws. */
import { describe, expect, it } from "vitest";
import { ClawGroups, type ClawGroupsInput } from "../../schemas/claw-groups.js";
import { PolicyDocument } from "../../schemas/policy.js";
import { leaseKeys, sessionOfClawLeaseKey } from "../bus/lease.js";
import {
  actingGroup,
  designatedClaw,
  designatedOwner,
  dueEscalations,
  owningGroup,
  type OwnedSession,
  type WaitingSession,
} from "./claw-ownership.js";

const doc = ClawGroups.parse({
  groups: [
    { name: "web", claws: ["w1", "w2"], owns: [{ group: "web" }, { repo: "site" }], parent: "leads" },
    { name: "infra", claws: ["i1"], owns: [{ host: "build-1" }], parent: "leads" },
    { name: "leads", claws: ["boss"], owns: [{}], parent: null },
  ],
} satisfies ClawGroupsInput);

const session = (sessionId: string, over: Partial<OwnedSession> = {}): OwnedSession => ({
  sessionId,
  host: "h1",
  repo: null,
  group: null,
  ...over,
});

const messages = (input: unknown): string[] => {
  const r = ClawGroups.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => i.message);
};

describe("the clawGroups document", () => {
  it("takes a tree of groups, with defaults for the timings", () => {
    expect(doc.leaseTtlMs).toBe(15_000);
    expect(doc.escalateAfterMs).toBe(600_000);
    const policy = PolicyDocument.parse({ version: 1, rules: [], clawGroups: doc });
    expect(policy.clawGroups?.groups.map((g) => g.name)).toEqual(["web", "infra", "leads"]);
  });

  it("refuses an unknown parent, a cycle, a claw in two groups, a name used twice, and bad ids, saying which", () => {
    expect(messages({ groups: [{ name: "a", parent: "nope" }] })).toEqual([
      "group a's parent nope is not a group (null makes it a root, which escalates to people)",
    ]);
    expect(
      messages({
        groups: [
          { name: "a", parent: "b" },
          { name: "b", parent: "a" },
        ],
      }).some((m) => m.includes("go round in a cycle")),
    ).toBe(true);
    expect(messages({ groups: [{ name: "a", parent: "a" }] })).toContain("group a is its own parent");
    expect(
      messages({
        groups: [
          { name: "a", claws: ["c1"], parent: null },
          { name: "b", claws: ["c1"], parent: "a" },
        ],
      }),
    ).toEqual(["claw c1 is in two groups (a and b); a Claw belongs to one group"]);
    expect(
      messages({
        groups: [
          { name: "a", parent: null },
          { name: "a", parent: null },
        ],
      }),
    ).toEqual(["group a is named twice"]);
    expect(messages({ groups: [{ name: "A B", claws: ["c 1"], parent: null }] })).toEqual([
      "a group name is 1-63 lower-case letters, digits, '-' or '_'",
      "a clawId is 1-64 letters, digits, '-' or '_'",
    ]);
    expect(messages({ groups: [{ name: "a", parent: null }], leaseTtlMs: 60_000 })).toHaveLength(1);
    expect(messages({ groups: [] })).toHaveLength(1);
  });
});

describe("who owns a session", () => {
  it("belongs to the first group whose selectors match, else to none", () => {
    expect(owningGroup(doc, session("s", { group: "web" }))?.name).toBe("web");
    expect(owningGroup(doc, session("s", { repo: "site", host: "build-1" }))?.name).toBe("web");
    expect(owningGroup(doc, session("s", { host: "build-1" }))?.name).toBe("infra");
    expect(owningGroup(doc, session("s"))?.name).toBe("leads");
    const noCatchAll = ClawGroups.parse({ groups: [{ name: "web", owns: [{ group: "web" }], parent: null }] });
    expect(owningGroup(noCatchAll, session("s"))).toBeNull();
  });

  it("passes to the nearest ancestor with a live Claw, and to people when none is live", () => {
    const s = session("s", { group: "web" });
    expect(actingGroup(doc, s, new Set(["w2"]))?.name).toBe("web");
    expect(actingGroup(doc, s, new Set(["boss", "i1"]))?.name).toBe("leads");
    expect(actingGroup(doc, s, new Set(["i1"]))).toBeNull();
    expect(designatedOwner(doc, s, new Set(["i1"]))).toBeNull();
    expect(designatedOwner(doc, s, new Set(["boss"]))).toEqual({ clawId: "boss", group: "leads" });
  });

  it("spreads a group's sessions over its live Claws, and a Claw's death moves only its own sessions", () => {
    const ids = Array.from({ length: 200 }, (_, i) => `0199aa00-0000-7000-8000-${String(i).padStart(12, "0")}`);
    const both = new Map(ids.map((id) => [id, designatedClaw(id, ["w1", "w2"])]));
    const w1 = [...both.values()].filter((c) => c === "w1").length;
    expect(w1).toBeGreaterThan(60);
    expect(w1).toBeLessThan(140);
    // The same answer in any order of candidates, and when w2 dies only w2's sessions move.
    for (const id of ids) expect(designatedClaw(id, ["w2", "w1"])).toBe(both.get(id));
    for (const id of ids) expect(designatedClaw(id, ["w1"])).toBe("w1");
    // A third Claw joining takes some sessions from each and moves none between the first two.
    for (const id of ids) {
      const three = designatedClaw(id, ["w1", "w2", "w3"]);
      expect(three === "w3" || three === both.get(id)).toBe(true);
    }
    expect(designatedClaw("x", [])).toBeNull();
  });
});

describe("escalation and ownership", () => {
  it("gives an accepted session to the accepting Claw while it is live, then back to the rendezvous", () => {
    const s = session("s", { group: "web", escalation: { acceptedBy: "boss" } });
    expect(designatedOwner(doc, s, new Set(["w1", "boss"]))).toEqual({ clawId: "boss", group: "leads" });
    expect(designatedOwner(doc, s, new Set(["w1"]))).toEqual({ clawId: "w1", group: "web" });
    // A Claw in no group cannot hold a session by accepting it.
    const stray = session("s", { group: "web", escalation: { acceptedBy: "nobody" } });
    expect(designatedOwner(doc, stray, new Set(["w1", "nobody"]))?.clawId).toBe("w1");
  });

  it("escalates an unanswered ask or approval once, then each unaccepted escalation one group further", () => {
    const min = 60_000;
    const base: WaitingSession = { ...session("s"), ask: null, approval: null, escalation: null };
    const ask = { correlationId: "a1", atMs: 0, question: "ship?" };
    expect(dueEscalations(doc, [{ ...base, ask }], 9 * min)).toEqual([]);
    expect(dueEscalations(doc, [{ ...base, ask }], 10 * min)).toEqual([
      { sessionId: "s", reason: "ask a1 unanswered for 10 min", question: "ship?" },
    ]);
    const approval = { requestId: "r1", atMs: 0 };
    expect(dueEscalations(doc, [{ ...base, approval }], 11 * min)[0]?.reason).toBe("approval r1 unanswered for 11 min");
    // Escalated after the ask: covered until nobody accepts it in time.
    const escalation = { acceptedBy: null, toGroup: "leads", atMs: 10 * min };
    expect(dueEscalations(doc, [{ ...base, ask, escalation }], 15 * min)).toEqual([]);
    expect(dueEscalations(doc, [{ ...base, ask, escalation }], 20 * min)).toEqual([
      { sessionId: "s", reason: "nobody of group leads accepted the escalation within 10 min", question: null },
    ]);
    // At people: nothing further; accepted: nothing, until a newer ask.
    expect(dueEscalations(doc, [{ ...base, ask, escalation: { ...escalation, toGroup: null } }], 99 * min)).toEqual([]);
    const accepted = { ...escalation, acceptedBy: "boss" };
    expect(dueEscalations(doc, [{ ...base, ask, escalation: accepted }], 99 * min)).toEqual([]);
    const newer = { correlationId: "a2", atMs: 30 * min };
    expect(dueEscalations(doc, [{ ...base, ask: newer, escalation: accepted }], 40 * min)).toHaveLength(1);
  });
});

describe("lease keys", () => {
  it("keeps plain session ids and encodes the rest, reversibly", () => {
    for (const id of ["0199aa00-0000-7000-8000-000000000001", "a.b", "with space", "b64-tricky", "é"]) {
      const key = leaseKeys.clawSession(id);
      expect(key).toMatch(/^claw-session\.[A-Za-z0-9_-]+$/);
      expect(sessionOfClawLeaseKey(key)).toBe(id);
    }
    expect(leaseKeys.clawSession("abc")).toBe("claw-session.abc");
    expect(sessionOfClawLeaseKey("host.h1")).toBeNull();
  });
});
