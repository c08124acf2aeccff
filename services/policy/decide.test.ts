import { describe, expect, it } from "vitest";
import { parseCommand, type Caller, type CommandRequest } from "../../schemas/commands.js";
import { DEFAULT_POLICY, PolicyDocument, type Capability, type PolicyDocumentInput } from "../../schemas/policy.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { sessionRecord } from "../registry/test-records.js";
import {
  approvalRulesFor,
  authorize,
  authorizeSomewhere,
  factsOfSession,
  refusalOf,
  requiredCapability,
  selectorMatches,
  verbCapability,
  type TargetFacts,
} from "./decide.js";

const record: SessionRecord = sessionRecord({
  sessionId: "abc",
  host: "h1",
  workspace: "/work/app",
  repo: "app",
  autonomous: true,
  lastSeenAt: 1,
  preview: null,
  group: "g1",
});
const facts = factsOfSession(record);
const caller = (role: Caller["role"], id = "c1"): Caller => ({ id, role });
const policy = (input: PolicyDocumentInput): PolicyDocument => PolicyDocument.parse(input);
const target = { sessionId: "abc" };

function request(verb: string, args: unknown): CommandRequest {
  const parsed = parseCommand({ verb, caller: caller("operator"), idempotencyKey: "key-12345", args });
  if (!parsed.ok) throw new Error(parsed.failure.message);
  return parsed.request;
}

describe("requiredCapability", () => {
  it("maps each verb to its capability, and a raw read to readRaw", () => {
    const cases: [CommandRequest, Capability][] = [
      [request("read", { target }), "read"],
      [request("read", { target, view: "summary" }), "read"],
      [request("read", { target, view: "raw" }), "readRaw"],
      [request("send", { target, text: "hi" }), "send"],
      [request("reply", { target, text: "yes" }), "send"],
      [request("interrupt", { target }), "interrupt"],
      [request("spawn", { cwd: "/w", task: "t" }), "spawn"],
      [request("broadcast", { filter: { host: "h1" }, maxTargets: 2, text: "hi" }), "broadcast"],
      [request("mark", { target, disposition: "done" }), "mark"],
      [request("assign", { target, group: "g" }), "mark"],
      [request("handoff", { target, to: { kind: "human" } }), "handoff"],
    ];
    for (const [req, capability] of cases) expect([req.verb, requiredCapability(req)]).toEqual([req.verb, capability]);
    expect(verbCapability("read", { raw: true })).toBe("readRaw");
    expect(verbCapability("send", { raw: true })).toBe("send");
  });
});

describe("factsOfSession", () => {
  it("takes host, repo, session, group, autonomous and humanAttached from the record", () => {
    expect(facts).toEqual({
      host: "h1",
      repo: "app",
      session: "abc",
      group: "g1",
      autonomous: true,
      humanAttached: false,
    });
  });
});

describe("selectorMatches", () => {
  it("matches anything with {}", () => {
    expect(selectorMatches({}, facts)).toBe(true);
    expect(selectorMatches({}, {})).toBe(true);
  });

  it("compares each field to the fact of the same name", () => {
    const matching: TargetFacts = facts;
    const cases = [
      [{ host: "h1" }, { host: "h2" }],
      [{ repo: "app" }, { repo: "other" }],
      [{ session: "abc" }, { session: "xyz" }],
      [{ group: "g1" }, { group: "g2" }],
      [{ autonomous: true }, { autonomous: false }],
      [{ humanAttached: false }, { humanAttached: true }],
    ] as const;
    for (const [yes, no] of cases) {
      expect(selectorMatches(yes, matching)).toBe(true);
      expect(selectorMatches(no, matching)).toBe(false);
    }
    expect(selectorMatches({ host: "h1", repo: "app", group: "g2" }, matching)).toBe(false);
  });

  it("never matches a given field against a missing or null fact", () => {
    expect(selectorMatches({ host: "h1" }, {})).toBe(false);
    expect(selectorMatches({ repo: "app" }, { ...facts, repo: null })).toBe(false);
    expect(selectorMatches({ group: "g1" }, { ...facts, group: null })).toBe(false);
    expect(selectorMatches({ autonomous: false }, { host: "h1" })).toBe(false);
  });
});

describe("authorize with DEFAULT_POLICY", () => {
  const all: Capability[] = ["list", "read", "readRaw", "send", "interrupt", "spawn", "broadcast", "mark", "handoff"];

  it("lets operators and the Claw do everything, answering held approvals (approve) included", () => {
    for (const [role, ruleId] of [
      ["operator", "operator-all"],
      ["claw", "claw-all"],
    ] as const) {
      for (const capability of [...all, "approve"] as const)
        expect(authorize(DEFAULT_POLICY, caller(role), capability, facts)).toEqual({ allow: true, ruleId });
    }
  });

  it("lets a session list every session but read only its own transcript (summary)", () => {
    expect(authorize(DEFAULT_POLICY, caller("session"), "list", {})).toEqual({ allow: true, ruleId: "session-list" });
    expect(authorize(DEFAULT_POLICY, caller("session"), "list", facts)).toEqual({
      allow: true,
      ruleId: "session-list",
    });
    expect(authorize(DEFAULT_POLICY, caller("session", "abc"), "read", facts)).toEqual({
      allow: true,
      ruleId: "session-read-own",
    });
    expect(authorize(DEFAULT_POLICY, caller("session", "xyz"), "read", facts)).toEqual({
      allow: false,
      code: "denied",
      reason: "no policy rule lets role 'session' read session abc on host h1 in repo app in group g1",
    });
    // Without a target session nothing is "self".
    expect(authorize(DEFAULT_POLICY, caller("session", "abc"), "read", {}).allow).toBe(false);
    expect(authorize(DEFAULT_POLICY, caller("session", "abc"), "readRaw", facts).allow).toBe(false);
    for (const capability of [
      "readRaw",
      "send",
      "interrupt",
      "spawn",
      "broadcast",
      "mark",
      "handoff",
      "approve",
    ] as const) {
      expect(authorize(DEFAULT_POLICY, caller("session"), capability, facts).allow).toBe(false);
    }
  });

  it("lets a rule open other sessions' transcripts, e.g. those of one group", () => {
    const doc = policy({
      ...DEFAULT_POLICY,
      rules: [...DEFAULT_POLICY.rules, { id: "g1-read", role: "session", target: { group: "g1" }, allow: ["read"] }],
    });
    expect(authorize(doc, caller("session", "xyz"), "read", facts)).toEqual({ allow: true, ruleId: "g1-read" });
    expect(authorize(doc, caller("session", "xyz"), "read", { ...facts, group: "g2" }).allow).toBe(false);
  });

  it("lets a host do nothing", () => {
    for (const capability of [...all, "approve"] as const)
      expect(authorize(DEFAULT_POLICY, caller("host"), capability, facts).allow).toBe(false);
  });

  it("names role, capability and target in the deny reason", () => {
    expect(authorize(DEFAULT_POLICY, caller("session"), "send", { session: "abc", host: "h1" })).toEqual({
      allow: false,
      code: "denied",
      reason: "no policy rule lets role 'session' send to session abc on host h1",
    });
    expect(authorize(DEFAULT_POLICY, caller("session"), "readRaw", facts)).toMatchObject({
      reason: "no policy rule lets role 'session' readRaw session abc on host h1 in repo app in group g1",
    });
    expect(authorize(DEFAULT_POLICY, caller("host"), "spawn", { host: "h2" })).toMatchObject({
      reason: "no policy rule lets role 'host' spawn on host h2",
    });
    expect(authorize(DEFAULT_POLICY, caller("host"), "list", {})).toMatchObject({
      reason: "no policy rule lets role 'host' list",
    });
  });
});

describe("selectorMatches with self", () => {
  it("self: true matches only the calling session itself; false only other sessions", () => {
    expect(selectorMatches({ self: true }, facts, caller("session", "abc"))).toBe(true);
    expect(selectorMatches({ self: true }, facts, caller("session", "xyz"))).toBe(false);
    expect(selectorMatches({ self: false }, facts, caller("session", "xyz"))).toBe(true);
    expect(selectorMatches({ self: false }, facts, caller("session", "abc"))).toBe(false);
    expect(selectorMatches({ self: true, group: "g1" }, facts, caller("session", "abc"))).toBe(true);
    expect(selectorMatches({ self: true, group: "g2" }, facts, caller("session", "abc"))).toBe(false);
  });

  it("is never self for a caller that is not a session, an unknown target or no caller", () => {
    expect(selectorMatches({ self: true }, facts, caller("operator", "abc"))).toBe(false);
    expect(selectorMatches({ self: true }, facts, caller("claw", "abc"))).toBe(false);
    expect(selectorMatches({ self: true }, {}, caller("session", "abc"))).toBe(false);
    expect(selectorMatches({ self: false }, {}, caller("session", "abc"))).toBe(false);
    expect(selectorMatches({ self: true }, facts)).toBe(false);
  });

  it("is a rule target field only: approvals selectors refuse it", () => {
    expect(() =>
      policy({ version: 1, rules: [{ role: "session", target: { self: "yes" }, allow: ["read"] }] } as never),
    ).toThrow();
    expect(() =>
      policy({ version: 1, rules: [], approvals: [{ target: { self: true }, allow: {} }] } as never),
    ).toThrow(/self/);
  });
});

describe("authorize with custom rules", () => {
  it("narrows a rule to one caller with callerId", () => {
    const doc = policy({ version: 1, rules: [{ id: "bot-send", role: "session", callerId: "bot", allow: ["send"] }] });
    expect(authorize(doc, caller("session", "bot"), "send", facts)).toEqual({ allow: true, ruleId: "bot-send" });
    expect(authorize(doc, caller("session", "other"), "send", facts).allow).toBe(false);
    expect(authorize(doc, caller("claw", "bot"), "send", facts).allow).toBe(false);
  });

  it("applies a '*' role to every caller", () => {
    const doc = policy({ version: 1, rules: [{ id: "everyone-lists", role: "*", allow: ["list"] }] });
    for (const role of ["claw", "operator", "session", "host"] as const)
      expect(authorize(doc, caller(role), "list", {}).allow).toBe(true);
    expect(authorize(doc, caller("operator"), "read", facts).allow).toBe(false);
  });

  it("grants only on targets its selector matches", () => {
    const doc = policy({
      version: 1,
      rules: [{ id: "g1-only", role: "session", target: { group: "g1", autonomous: true }, allow: ["send"] }],
    });
    expect(authorize(doc, caller("session"), "send", facts).allow).toBe(true);
    expect(authorize(doc, caller("session"), "send", { ...facts, group: "g2" }).allow).toBe(false);
    expect(authorize(doc, caller("session"), "send", { ...facts, autonomous: false }).allow).toBe(false);
    expect(authorize(doc, caller("session"), "send", {}).allow).toBe(false);
  });

  it("names a rule without an id by its index, and takes the first rule that applies", () => {
    const doc = policy({
      version: 1,
      rules: [
        { role: "claw", allow: ["read"] },
        { role: "claw", target: { host: "h1" }, allow: ["send"] },
        { id: "later", role: "claw", allow: ["send"] },
      ],
    });
    expect(authorize(doc, caller("claw"), "send", facts)).toEqual({ allow: true, ruleId: "rules[1]" });
    expect(authorize(doc, caller("claw"), "send", { host: "h9" })).toEqual({ allow: true, ruleId: "later" });
  });

  it("denies everything with no rules", () => {
    expect(authorize(policy({ version: 1, rules: [] }), caller("operator"), "read", facts).allow).toBe(false);
  });
});

describe("approvalRulesFor", () => {
  const doc = policy({
    version: 1,
    rules: [],
    approvals: [
      { id: "all", allow: { commandPrefixes: ["git status"], tools: ["search"] } },
      {
        id: "app",
        target: { repo: "app" },
        allow: { commandPrefixes: ["npm test", "git status"], pathPrefixes: ["/work/app"] },
      },
      { id: "g2", target: { group: "g2" }, allow: { commandPrefixes: ["rm -rf"] } },
      { id: "app-tools", target: { repo: "app", autonomous: true }, allow: { tools: ["search", "lint"] } },
      { id: "ask-npm", target: { repo: "app" }, ask: { commandPrefixes: ["npm publish"], deadlineMs: 60_000 } },
      { id: "ask-files", ask: { kinds: ["fileChange"] } },
    ],
  });
  const askNpm = { commandPrefixes: ["npm publish"], pathPrefixes: [], tools: [], kinds: [], deadlineMs: 60_000 };
  const askFiles = { commandPrefixes: [], pathPrefixes: [], tools: [], kinds: ["fileChange"], deadlineMs: 600_000 };

  it("merges every matching entry, without duplicates, in document order; ask rules keep their own deadline (10 minutes by default)", () => {
    expect(approvalRulesFor(doc, facts)).toEqual({
      commandPrefixes: ["git status", "npm test"],
      pathPrefixes: ["/work/app"],
      tools: ["search", "lint"],
      ask: [askNpm, askFiles],
    });
  });

  it("leaves out entries whose selector does not match", () => {
    expect(approvalRulesFor(doc, { ...facts, repo: "other" })).toEqual({
      commandPrefixes: ["git status"],
      pathPrefixes: [],
      tools: ["search"],
      ask: [askFiles],
    });
  });

  it("allows nothing under DEFAULT_POLICY", () => {
    expect(approvalRulesFor(DEFAULT_POLICY, facts)).toEqual({
      commandPrefixes: [],
      pathPrefixes: [],
      tools: [],
      ask: [],
    });
  });
});

describe("authorizeSomewhere (the gate for list)", () => {
  const policy = PolicyDocument.parse({
    version: 1,
    rules: [{ id: "g-only", role: "session", target: { group: "release" }, allow: ["list"] }],
  });
  it("allows a caller some rule grants the capability to, whatever the rule's selector", () => {
    expect(authorizeSomewhere(policy, { id: "s1", role: "session" }, "list")).toEqual({
      allow: true,
      ruleId: "g-only",
    });
    expect(authorizeSomewhere(policy, { id: "o", role: "operator" }, "list")).toMatchObject({
      allow: false,
      reason: "no policy rule lets role 'operator' list any session",
    });
    expect(authorizeSomewhere(policy, { id: "s1", role: "session" }, "read")).toMatchObject({ allow: false });
  });
});

describe("refusalOf", () => {
  it("answers a refused decision as denied, reason no_rule, with the decision's text as the message", () => {
    const d = authorize(DEFAULT_POLICY, { id: "h1", role: "host" }, "spawn", { host: "h2" });
    expect(d.allow).toBe(false);
    if (d.allow) return;
    expect(refusalOf(d)).toEqual({
      ok: false,
      code: "denied",
      message: "no policy rule lets role 'host' spawn on host h2",
      retryable: false,
      reason: "no_rule",
    });
  });
});

describe("role viewer: list and summary read only, whatever the rules say", () => {
  const writes = [
    "readRaw",
    "send",
    "interrupt",
    "spawn",
    "broadcast",
    "mark",
    "handoff",
    "approve",
    "report",
  ] as const;

  it("DEFAULT_POLICY lets a viewer list sessions and read summaries (viewer-look), and nothing else", () => {
    expect(authorize(DEFAULT_POLICY, caller("viewer", "vera"), "list", facts)).toEqual({
      allow: true,
      ruleId: "viewer-look",
    });
    expect(authorize(DEFAULT_POLICY, caller("viewer", "vera"), "read", facts)).toEqual({
      allow: true,
      ruleId: "viewer-look",
    });
    expect(authorizeSomewhere(DEFAULT_POLICY, caller("viewer"), "list")).toEqual({
      allow: true,
      ruleId: "viewer-look",
    });
    for (const capability of writes)
      expect(authorize(DEFAULT_POLICY, caller("viewer"), capability, facts).allow, capability).toBe(false);
  });

  it("a role '*' rule granting send (or a viewer rule granting everything) does not let a viewer send", () => {
    const doc = policy({
      version: 1,
      rules: [
        { id: "everyone-all", role: "*", allow: ["list", "read", "readRaw", "send", "interrupt", "approve"] },
        { id: "viewers-all", role: "viewer", allow: [...writes, "list", "read"] },
      ],
    });
    // The same rule does let an operator send: the refusal is the viewer's alone.
    expect(authorize(doc, caller("operator"), "send", facts)).toEqual({ allow: true, ruleId: "everyone-all" });
    expect(authorize(doc, caller("viewer", "vera"), "send", facts)).toEqual({
      allow: false,
      code: "denied",
      reason:
        "role 'viewer' may only list sessions and read their summaries, whatever the policy rules say: send is refused",
    });
    expect(authorize(doc, caller("viewer"), "mark", facts, "assign")).toMatchObject({
      allow: false,
      reason: expect.stringMatching(/: assign \(capability 'mark'\) is refused$/),
    });
    for (const capability of writes) {
      expect(authorize(doc, caller("viewer"), capability, facts).allow, capability).toBe(false);
      expect(authorizeSomewhere(doc, caller("viewer"), capability).allow, capability).toBe(false);
    }
    expect(authorize(doc, caller("viewer"), "read", facts)).toEqual({ allow: true, ruleId: "everyone-all" });
  });

  it("a viewer with no rule for them is refused list and read like any role (the rules still decide those)", () => {
    const doc = policy({ version: 1, rules: [{ id: "ops", role: "operator", allow: ["list", "read"] }] });
    expect(authorize(doc, caller("viewer"), "read", facts)).toMatchObject({
      allow: false,
      reason: expect.stringMatching(/^no policy rule lets role 'viewer' read session abc/),
    });
  });
});
