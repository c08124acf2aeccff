/**
 * A command's path through the policy service as an interceptor chain `(ctx, next) => next(ctx)`: auditing,
 * idempotency, target resolution, loop prevention, authorisation and rate limits each wrap the verb handler,
 * so no handler carries its own copy of them. Each interceptor either refuses (a typed failure, and nothing
 * further runs) or passes the context on. Bus round trips that do not depend on each other overlap: the request
 * record, the idempotency claim, the target look-up and the rate-limit takes (shared by the instances in KV) run
 * together and are awaited before the handler; the decision record, once the takes settled the decision, goes out
 * with the command itself (just ahead of it, on the same connection) and is awaited before the reply. A read,
 * which changes nothing, is asked of its host at once, alongside all of them, and answers only after them; the
 * records written after the command acted do not hold up the reply.
 *
 * A verb whose targets its handler finds (a broadcast's sessions, a list's sessions, spawn's host) runs each of
 * them through the same interceptors, with a context of its own (`targetContext`): no handler decides,
 * checks loops or takes rate tokens itself.
 */
import type { CommandFailure, CommandRequest, CommandResult, ResultCode } from "../../schemas/commands.js";
import type { PolicyDocument } from "../../schemas/policy.js";
import type { SessionRecord } from "../../schemas/registry.js";
import type { TargetFacts } from "./decide.js";

/** What interceptors know about one command as it passes. */
export interface CommandContext {
  readonly request: CommandRequest;
  /** Derived from the caller and idempotency key: ties the command's audit records together. */
  readonly commandId: string;
  /** This attempt at the command: a repeated idempotency key is a new attempt, audited as such. */
  readonly attempt: string;
  /** The policy document in force when the command arrived. */
  readonly policy: PolicyDocument;
  /** The target session's registry record, once resolved. */
  target: SessionRecord | null;
  /** The policy decision, once made (refusals before a decision leave it null). */
  decision: { allow: true; ruleId: string } | { allow: false; code: ResultCode; reason: string } | null;
  /**
   * Writes that must be stored before the command acts (its request record): started early so they overlap
   * the other checks, and awaited (with the decision record) just before the handler runs.
   */
  readonly before: Promise<void>[];
  /**
   * Writes due once the command acted or was refused (execution and result records, the ledger), in order:
   * started after the reply is sent, so they never hold it up.
   */
  readonly after: (() => Promise<void>)[];
  /** The idempotency claim, started early; the handler runs only once it is won. */
  claim: Promise<ClaimOutcome> | null;
  /**
   * A read's rate-limit takes, while they are out: null once taken, else the refusal. A read asks its host as
   * soon as the buckets as this instance knows them would admit it, and answers only once they did (see
   * rateLimits and decisionRecorded). Null for every other command (its takes are awaited before it acts).
   */
  admitted: Promise<CommandFailure | null> | null;
  /**
   * Set once the command may act (just before its handler runs), or once a read that ran early may answer (see
   * decisionRecorded): false at the end means nothing this attempt did reached the caller or the session.
   */
  acting: boolean;
  /**
   * The registry look-up of the target, started early so it overlaps the idempotency claim; already a value
   * when the policy service's copy of the registry view holds the target.
   */
  targetLookup: TargetLookup | null;
  /**
   * On the context of one target its command's handler found (see `targetContext`): the command's own context.
   * The caller's rate was taken once, for the command.
   */
  readonly parent?: CommandContext;
  /** On the context of spawn's chosen host: what policy selectors match, and the host its decision record names. */
  readonly host?: { hostId: string; facts: TargetFacts };
}

/** What looking a target up gives: the record, null (no such session), or the failure of asking. */
export type TargetFound = SessionRecord | null | CommandResult;
/** A target look-up that is done (`{ found }`) or still asking the registry. */
export type TargetLookup = { found: TargetFound } | Promise<TargetFound>;

/** Whether this attempt won its idempotency key; when not, what to answer instead (nothing runs). */
export type ClaimOutcome = { claimed: true } | { claimed: false; result: CommandResult };

/** The rest of the chain. */
export type Next = (ctx: CommandContext) => Promise<CommandResult>;
/** One cross-cutting concern around the handler. */
export type Interceptor = (ctx: CommandContext, next: Next) => Promise<CommandResult>;

/** Composes interceptors (outermost first) around the handler. Pure. */
export function chain(interceptors: readonly Interceptor[], handler: Next): Next {
  return interceptors.reduceRight<Next>((next, interceptor) => (ctx) => interceptor(ctx, next), handler);
}

/** Records a refusal as the command's decision (its reason: `reason`, else the message) and returns it. */
export function refuse(ctx: CommandContext, result: CommandFailure, reason = result.message): CommandFailure {
  ctx.decision = { allow: false, code: result.code, reason };
  return result;
}

/**
 * The context one target of a command passes the interceptors with, once the command's handler has found it:
 * its own request (a broadcast's target is a `send` to it), target and decision; the command's policy, claim
 * and records (what the target's interceptors write joins the command's). Pure.
 */
export function targetContext(
  ctx: CommandContext,
  of: { request?: CommandRequest; session?: SessionRecord; host?: { hostId: string; facts: TargetFacts } },
): CommandContext {
  return {
    ...ctx,
    request: of.request ?? ctx.request,
    target: of.session ?? null,
    decision: null,
    targetLookup: null,
    admitted: null,
    parent: ctx,
    ...(of.host ? { host: of.host } : {}),
  };
}

/** The target session a verb names, if it names one. Pure. */
export function targetOf(request: CommandRequest): { sessionId: string; hostId?: string | undefined } | null {
  return "target" in request.args ? request.args.target : null;
}
