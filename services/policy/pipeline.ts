/**
 * A command's path through the policy service as an interceptor chain `(ctx, next) => next(ctx)`: auditing,
 * idempotency, target resolution, loop prevention, authorisation and rate limits each wrap the verb handler,
 * so no handler carries its own copy of them. Each interceptor either refuses (a typed failure, and nothing
 * further runs) or passes the context on.
 */
import type { CommandFailure, CommandRequest, CommandResult, ResultCode } from "../../schemas/commands.js";
import type { PolicyDocument } from "../../schemas/policy.js";
import type { SessionRecord } from "../../schemas/registry.js";

/** What interceptors know about one command as it passes. */
export interface CommandContext {
  readonly request: CommandRequest;
  /** Derived from the caller and idempotency key: ties the command's audit records together. */
  readonly commandId: string;
  /** The policy document in force when the command arrived. */
  readonly policy: PolicyDocument;
  /** The target session's registry record, once resolved. */
  target: SessionRecord | null;
  /** The policy decision, once made (refusals before a decision leave it null). */
  decision: { allow: true; ruleId: string } | { allow: false; code: ResultCode; reason: string } | null;
}

/** The rest of the chain. */
export type Next = (ctx: CommandContext) => Promise<CommandResult>;
/** One cross-cutting concern around the handler. */
export type Interceptor = (ctx: CommandContext, next: Next) => Promise<CommandResult>;

/** Composes interceptors (outermost first) around the handler. Pure. */
export function chain(interceptors: readonly Interceptor[], handler: Next): Next {
  return interceptors.reduceRight<Next>((next, interceptor) => (ctx) => interceptor(ctx, next), handler);
}

/** Records a refusal as the command's decision and returns it. */
export function refuse(ctx: CommandContext, result: CommandFailure): CommandFailure {
  ctx.decision = { allow: false, code: result.code, reason: result.message };
  return result;
}

/** The target session a verb names, if it names one. Pure. */
export function targetOf(request: CommandRequest): { sessionId: string; hostId?: string | undefined } | null {
  return "target" in request.args ? request.args.target : null;
}
