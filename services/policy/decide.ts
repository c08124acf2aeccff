/**
 * The policy decisions, pure: which capability a command needs, whether a policy document grants it to a
 * caller on a target, and which approval rules apply to a session. No I/O, no clock.
 */
import {
  denial,
  type Caller,
  type CommandFailure,
  type CommandRequest,
  type CommandVerb,
} from "../../schemas/commands.js";
import type { ApprovalRules } from "../../schemas/host-rpc.js";
import type { Capability, PolicyDocument, RuleTarget } from "../../schemas/policy.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { factsOfRecord, selectorCovers, type TargetFacts } from "../../schemas/selector.js";

/** What a selector is matched against: the target session's registry fields (absent when unknown). */
export type { TargetFacts };

/** A decision: the rule that allowed it, or a `denied` reason naming role, capability and target. */
export type Decision = { allow: true; ruleId: string } | { allow: false; code: "denied"; reason: string };

/** What a command refused by a decision answers: `denied` for want of a rule (reason `no_rule`), and why. Pure. */
export function refusalOf(decision: Extract<Decision, { allow: false }>): CommandFailure {
  return denial("no_rule", decision.reason);
}

const verbCapabilities: Record<CommandVerb, Capability> = {
  list: "list",
  read: "read",
  send: "send",
  reply: "send",
  interrupt: "interrupt",
  spawn: "spawn",
  broadcast: "broadcast",
  mark: "mark",
  assign: "mark",
  handoff: "handoff",
  progress: "report",
  ask: "report",
  probe: "list",
  approve: "approve",
  // Who owns which session (issue 18): shown to whoever may list sessions.
  claws: "list",
  // Handing a session up the Claw groups, or taking over one handed up (issue 18): a kind of handoff.
  escalate: "handoff",
  accept: "handoff",
  // Spend against the budgets (issue 19): shown to whoever may list sessions; lifting a stop is its own capability.
  budget: "list",
  "budget-lift": "budget",
};

/** The capability a verb needs; `read` with `raw` needs `readRaw`. Pure. */
export function verbCapability(verb: CommandVerb, opts: { raw?: boolean } = {}): Capability {
  if (verb === "read" && opts.raw) return "readRaw";
  return verbCapabilities[verb];
}

/** The capability a command needs: its verb's, and `readRaw` for a `read` with `view: "raw"`. Pure. */
export function requiredCapability(request: CommandRequest): Capability {
  return verbCapability(request.verb, { raw: request.verb === "read" && request.args.view === "raw" });
}

/** The facts of a session record that selectors match on (schemas/selector.ts, which budgets use too). Pure. */
export const factsOfSession: (record: SessionRecord) => TargetFacts = factsOfRecord;

/** The only capabilities a caller of role `viewer` (a dashboard operator who only looks) is ever granted. */
export const VIEWER_CAPABILITIES: ReadonlySet<Capability> = new Set(["list", "read"]);

/**
 * The hard rule for role `viewer`, before any policy rule: a refusal of every capability but `list` and `read`
 * (the summary view; `readRaw` is refused), whatever the rules say; undefined when the rules decide. Pure.
 */
export function viewerRefusal(caller: Caller, capability: Capability, verb?: CommandVerb): Decision | undefined {
  if (caller.role !== "viewer" || VIEWER_CAPABILITIES.has(capability)) return undefined;
  const named =
    verb !== undefined && verbCapabilities[verb] !== verb ? `${verb} (capability '${capability}')` : capability;
  return {
    allow: false,
    code: "denied",
    reason: `role 'viewer' may only list sessions and read their summaries, whatever the policy rules say: ${named} is refused`,
  };
}

/**
 * True when every field the selector gives equals the fact of the same name; a missing (undefined or null)
 * fact never matches a given field; `{}` matches anything. A rule's `self` compares the target session with
 * `caller`: `true` matches only when the caller is a session and the target is that session, `false` only
 * when it is not; without a known target session (or without a caller) a given `self` never matches. Pure.
 */
export function selectorMatches(selector: RuleTarget, facts: TargetFacts, caller?: Caller): boolean {
  if (selector.self !== undefined) {
    if (caller === undefined || facts.session === undefined) return false;
    const isSelf = caller.role === "session" && caller.id === facts.session;
    if (isSelf !== selector.self) return false;
  }
  return selectorCovers(selector, facts);
}

/** A rule's name in decisions and audit records: its id, else `rules[<index>]`. Pure. */
export function ruleName(rule: { id?: string | undefined }, index: number): string {
  return rule.id ?? `rules[${index}]`;
}

/**
 * Whether `policy` lets `caller` use `capability` on the target described by `facts`: a `viewer` is refused every
 * capability but `list` and `read` first ({@link viewerRefusal}); else the first rule whose
 * role is the caller's (or `*`), whose `callerId` (when given) is the caller's id, whose selector matches
 * and whose `allow` holds the capability. Nothing else is allowed (default deny). A denial names the capability;
 * given the `verb`, one whose name is not its capability's (`assign` needs `mark`) is named, and its capability
 * after it. Pure.
 */
export function authorize(
  policy: PolicyDocument,
  caller: Caller,
  capability: Capability,
  facts: TargetFacts,
  verb?: CommandVerb,
): Decision {
  const hard = viewerRefusal(caller, capability, verb);
  if (hard) return hard;
  const index = policy.rules.findIndex(
    (rule) =>
      (rule.role === "*" || rule.role === caller.role) &&
      (rule.callerId === undefined || rule.callerId === caller.id) &&
      rule.allow.includes(capability) &&
      selectorMatches(rule.target, facts, caller),
  );
  const rule = policy.rules[index];
  if (rule) return { allow: true, ruleId: ruleName(rule, index) };
  const named = verb !== undefined && verbCapabilities[verb] !== verb ? verb : capability;
  return {
    allow: false,
    code: "denied",
    reason: `no policy rule lets role '${caller.role}' ${capabilityPhrase(capability, facts, named)}${named === capability ? "" : ` (${named} needs capability '${capability}')`}`,
  };
}

/**
 * Whether any rule could let `caller` use `capability` on some target (selectors not matched): the gate for
 * `list`, whose results are then filtered session by session with `authorize`. Pure.
 */
export function authorizeSomewhere(policy: PolicyDocument, caller: Caller, capability: Capability): Decision {
  const hard = viewerRefusal(caller, capability);
  if (hard) return hard;
  const index = policy.rules.findIndex(
    (rule) =>
      (rule.role === "*" || rule.role === caller.role) &&
      (rule.callerId === undefined || rule.callerId === caller.id) &&
      rule.allow.includes(capability),
  );
  const rule = policy.rules[index];
  if (rule) return { allow: true, ruleId: ruleName(rule, index) };
  return {
    allow: false,
    code: "denied",
    reason: `no policy rule lets role '${caller.role}' ${capability} any session`,
  };
}

const towards: ReadonlySet<Capability> = new Set(["send", "broadcast", "handoff"]);

/** `send to session abc on host h1 in repo r` (with `verb` for the word), or the bare word without a target. */
function capabilityPhrase(capability: Capability, facts: TargetFacts, verb: string): string {
  const where = [
    facts.host === undefined ? undefined : `on host ${facts.host}`,
    facts.repo === undefined || facts.repo === null ? undefined : `in repo ${facts.repo}`,
    facts.group === undefined || facts.group === null ? undefined : `in group ${facts.group}`,
  ].filter((part) => part !== undefined);
  const target = facts.session === undefined ? where : [`session ${facts.session}`, ...where];
  if (target.length === 0) return verb;
  const preposition = facts.session !== undefined && towards.has(capability) ? "to " : "";
  return `${verb} ${preposition}${target.join(" ")}`;
}

/**
 * The rules of every approvals entry whose selector matches: the union of their `allow`s (without duplicates, in
 * document order) and their `ask` rules in document order (each keeps its own deadline). Pure.
 */
export function approvalRulesFor(policy: PolicyDocument, facts: TargetFacts): ApprovalRules {
  const commandPrefixes = new Set<string>();
  const pathPrefixes = new Set<string>();
  const tools = new Set<string>();
  const ask: ApprovalRules["ask"] = [];
  for (const entry of policy.approvals) {
    if (!selectorMatches(entry.target, facts)) continue;
    for (const p of entry.allow.commandPrefixes) commandPrefixes.add(p);
    for (const p of entry.allow.pathPrefixes) pathPrefixes.add(p);
    for (const t of entry.allow.tools) tools.add(t);
    if (entry.ask) ask.push(entry.ask);
  }
  return { commandPrefixes: [...commandPrefixes], pathPrefixes: [...pathPrefixes], tools: [...tools], ask };
}
