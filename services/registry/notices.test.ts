import { describe, expect, it } from "vitest";
import { sessionNotices } from "./notices.js";
import { sessionRecord } from "./test-records.js";

const cause = { atMs: 50, token: "e:7" };
const base = sessionRecord({ host: "h1", sessionId: "s1" });
const kinds = (prev: typeof base | undefined, next: typeof base) =>
  sessionNotices(prev, next, cause).map((n) => [n.kind, n.priority]);

describe("fleet notices for supervisor-set facts", () => {
  it("announces a handoff, with high priority, once per handoff", () => {
    const handoff = { to: { kind: "session" as const, sessionId: "s2" }, note: "", by: "claw:c1", atMs: 40 };
    const handed = { ...base, handoff };
    expect(kinds(base, handed)).toEqual([["session-handoff", "high"]]);
    expect(kinds(handed, { ...handed })).toEqual([]);
    expect(kinds(handed, { ...handed, handoff: { ...handoff, atMs: 41 } })).toEqual([["session-handoff", "high"]]);
  });

  it("announces a changed group or owner, and a mark", () => {
    expect(kinds(base, { ...base, group: "release" })).toEqual([["session-assigned", "normal"]]);
    expect(kinds(base, { ...base, owner: "erin" })).toEqual([["session-assigned", "normal"]]);
    expect(kinds(base, { ...base, disposition: "done" })).toEqual([["session-marked", "normal"]]);
  });

  it("gives each notice an id from its cause, so a redelivered event stores it once", () => {
    const [a] = sessionNotices(base, { ...base, owner: "erin" }, cause);
    const [b] = sessionNotices(base, { ...base, owner: "erin" }, cause);
    expect(a!.id).toBe(b!.id);
    expect(a!.id).toContain("e:7");
  });
});
