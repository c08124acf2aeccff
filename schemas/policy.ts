/**
 * Policy documents, stored in KV `codex-policy` under the key `active` and watched by the policy service.
 * Rules pair a caller role with a target selector and grant capabilities; anything no rule grants is denied.
 */
import { z } from "zod";
import { Budgets } from "./budget.js";
import { ClawGroups } from "./claw-groups.js";
import { CallerRole } from "./commands.js";
import { ApprovalAsk, ApprovalGrant } from "./host-rpc.js";

/** What a rule can grant. */
export const Capability = z.enum([
  "list",
  "read",
  "readRaw",
  "send",
  "interrupt",
  "spawn",
  "broadcast",
  "approve",
  "mark",
  "handoff",
  "report",
  /** Lift a session's budget stop (`budget lift`, issue 19). */
  "budget",
]);
export type Capability = z.infer<typeof Capability>;

import { TargetSelector } from "./selector.js";

export { TargetSelector };

/**
 * A rule's target: a {@link TargetSelector} and `self`: `true` matches only the calling session itself (the
 * target's thread id is the caller's id), `false` only other sessions. A caller that is not a session is never
 * "self", so `self: true` grants nothing to other roles.
 */
export const RuleTarget = TargetSelector.extend({ self: z.boolean().optional() });
export type RuleTarget = z.infer<typeof RuleTarget>;

/** One grant: callers of `role` (and, when given, only the caller `callerId`) may do `allow` on `target`. */
export const PolicyRule = z.strictObject({
  id: z.string().min(1).max(100).optional(),
  role: z.union([CallerRole, z.literal("*")]),
  callerId: z.string().min(1).optional(),
  target: RuleTarget.default({}),
  allow: z.array(Capability).min(1),
});
export type PolicyRule = z.infer<typeof PolicyRule>;

/** A token bucket: `burst` requests at once, refilled at `perSecond`. */
export const TokenBucketSpec = z.strictObject({
  burst: z.number().int().min(1).max(100_000),
  perSecond: z.number().positive().max(100_000),
});
export type TokenBucketSpec = z.infer<typeof TokenBucketSpec>;

/**
 * Approval rules for the autonomous sessions a selector covers: what is allowed (`allow`, merged when several
 * entries match) and what is held for an operator or the Claw to answer (`ask`, with its deadline, default 10
 * minutes). Allow wins over ask; what neither matches is declined.
 */
export const ApprovalPolicyRule = z.strictObject({
  id: z.string().min(1).max(100).optional(),
  target: TargetSelector.default({}),
  allow: ApprovalGrant.default({ commandPrefixes: [], pathPrefixes: [], tools: [] }),
  ask: ApprovalAsk.optional(),
});

export const PolicyDocument = z.strictObject({
  version: z.literal(1),
  rules: z.array(PolicyRule).max(1_000),
  rateLimits: z
    .strictObject({ perCaller: TokenBucketSpec, perTarget: TokenBucketSpec })
    .default({ perCaller: { burst: 30, perSecond: 10 }, perTarget: { burst: 10, perSecond: 2 } }),
  loops: z
    .strictObject({
      /** Most agent-to-agent hops a message may carry. */
      maxHops: z.number().int().min(0).max(16),
      /** A message from A to B is refused when B sent to A within this window (an A→B→A cycle). */
      cycleWindowMs: z.number().int().min(0).max(86_400_000),
    })
    .default({ maxHops: 3, cycleWindowMs: 60_000 }),
  broadcast: z.strictObject({ maxTargets: z.number().int().min(1).max(100) }).default({ maxTargets: 20 }),
  spawn: z
    .strictObject({
      model: z.string().min(1).optional(),
      sandbox: z.enum(["read-only", "workspace-write", "danger-full-access"]),
      approvalPolicy: z.enum(["untrusted", "on-request", "never"]),
    })
    .default({ sandbox: "workspace-write", approvalPolicy: "untrusted" }),
  /** Approvals on autonomous sessions: declined unless one of these allows it or asks for it (and is answered). */
  approvals: z.array(ApprovalPolicyRule).max(200).default([]),
  /** Several Claws (issue 18): groups, the sessions each owns, and lease timings; absent: one Claw drives all. */
  clawGroups: ClawGroups.optional(),
  /** Spend (issue 19): the price table and token/cost limits; absent: tokens are metered, nothing is priced or limited. */
  budgets: Budgets.optional(),
});
export type PolicyDocument = z.infer<typeof PolicyDocument>;
export type PolicyDocumentInput = z.input<typeof PolicyDocument>;

/** KV key of the active policy document. */
export const ACTIVE_POLICY_KEY = "active";

/**
 * The defaults: operators and the Claw may do everything, answering held approvals included (`approve`: an
 * approval is held only under an `ask` rule the policy's author wrote, so with no `ask` rules nothing can be
 * answered; a person's TUI session is never held); a Codex session (MCP edge)
 * may list the fleet's sessions, read the summary of its own transcript only (another session's transcript
 * needs a rule, e.g. `{ role: "session", target: { group: "release" }, allow: ["read"] }`; write controls and
 * raw transcripts are off) and report its own progress and questions (`report`, which reaches only the
 * caller itself); a dashboard viewer may list sessions and read their summaries (and, whatever any rule says,
 * nothing else: services/policy/decide.ts); hosts may do nothing; no approval is allowed or held on an autonomous
 * session (no `approvals`).
 */
export const DEFAULT_POLICY: PolicyDocument = PolicyDocument.parse({
  version: 1,
  rules: [
    {
      id: "operator-all",
      role: "operator",
      allow: [
        "list",
        "read",
        "readRaw",
        "send",
        "interrupt",
        "spawn",
        "broadcast",
        "mark",
        "handoff",
        "approve",
        "budget",
      ],
    },
    {
      id: "claw-all",
      role: "claw",
      allow: ["list", "read", "readRaw", "send", "interrupt", "spawn", "broadcast", "mark", "handoff", "approve"],
    },
    { id: "session-list", role: "session", allow: ["list"] },
    { id: "session-read-own", role: "session", target: { self: true }, allow: ["read"] },
    { id: "session-report", role: "session", allow: ["report"] },
    { id: "viewer-look", role: "viewer", allow: ["list", "read"] },
  ],
});
