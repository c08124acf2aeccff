/** The policy service's interceptors: see pipeline.ts for how they compose. */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { failure, type CommandResult } from "../../schemas/commands.js";
import { redact } from "../../schemas/redact.js";
import type { AuditLog } from "./audit-log.js";
import { authorize, factsOfSession, requiredCapability } from "./decide.js";
import type { CommandLedger } from "./ledger.js";
import { loopOrigin, type LoopGuard } from "./loop-guard.js";
import { refuse, targetOf, type CommandContext, type Interceptor } from "./pipeline.js";
import type { TokenBuckets } from "./rate-limit.js";

const auditTarget = (ctx: CommandContext) => {
  const t = targetOf(ctx.request);
  return t ? { hostId: ctx.target?.host ?? t.hostId ?? null, sessionId: t.sessionId } : null;
};
const base = (ctx: CommandContext) => ({ commandId: ctx.commandId, verb: ctx.request.verb, caller: ctx.request.caller, target: auditTarget(ctx) });

/**
 * Outermost: the request is audited before anything happens (unaudited commands do not run), the result
 * after; a refusal that came before any decision is recorded as the decision. The result is redacted.
 */
export function auditTrail(audit: AuditLog): Interceptor {
  return async (ctx, next) => {
    const { args, originSessionId, hops } = ctx.request;
    // A repeated idempotency key is a new request (audited as such) for the same command: tell them apart.
    const attempt = randomBytes(6).toString("hex");
    try {
      await audit.write({ ...base(ctx), kind: "request", decision: null, outcome: null, detail: { args, originSessionId: originSessionId ?? null, hops, attempt } }, attempt);
    } catch (err) {
      return failure("timeout", `could not write the audit record (${(err as Error).message}); nothing was run`);
    }
    const result = redact(await next(ctx)) as CommandResult;
    const d = ctx.decision;
    if (d === null || !d.allow) {
      const refusal = d ?? (result.ok ? null : { code: result.code, reason: result.message });
      if (refusal) await audit.writeLate({ ...base(ctx), kind: "decision", decision: { allow: false, code: refusal.code, reason: refusal.reason, ruleId: null }, outcome: null, detail: { attempt } }, attempt);
    }
    const outcome = result.ok ? { ok: true, code: null, message: null } : { ok: false, code: result.code, message: result.message };
    await audit.writeLate({ ...base(ctx), kind: "result", decision: null, outcome, detail: { attempt } }, attempt);
    return result;
  };
}

/** The same idempotency key never executes twice: a repeat gets the stored result, or `conflict` while the first runs. */
export function idempotency(ledger: CommandLedger, log: Logger): Interceptor {
  return async (ctx, next) => {
    let claim;
    try {
      claim = await ledger.claim(ctx.commandId);
    } catch (err) {
      return failure("timeout", `could not record the idempotency key (${(err as Error).message}); nothing was run`);
    }
    if (!claim.claimed) {
      if (claim.entry.state === "done") return claim.entry.result;
      return refuse(ctx, failure("conflict", "a command with this idempotency key is still running; wait for its result (repeat the same key later)"));
    }
    const result = await next(ctx);
    await ledger.complete(ctx.commandId, result).catch((err: Error) => log.error({ commandId: ctx.commandId, err: err.message }, "could not store a command's result"));
    return result;
  };
}

/** Resolves the target session through the registry: `not_found` when it knows none. */
export function resolveTarget(lookup: (sessionId: string, hostId: string | undefined) => Promise<CommandContext["target"] | CommandResult>): Interceptor {
  return async (ctx, next) => {
    const t = targetOf(ctx.request);
    if (!t) return next(ctx);
    const found = await lookup(t.sessionId, t.hostId);
    if (found === null) return refuse(ctx, failure("not_found", `no session ${t.sessionId}${t.hostId ? ` on host ${t.hostId}` : ""} is known to the registry`));
    if ("ok" in found) return found.ok ? failure("invalid", "unexpected registry answer") : refuse(ctx, found);
    ctx.target = found;
    return next(ctx);
  };
}

/** Agent-to-agent messages: self-echo, too many hops and A→B→A cycles are refused; delivered ones remembered. */
export function loopPrevention(guard: LoopGuard): Interceptor {
  return async (ctx, next) => {
    const { verb } = ctx.request;
    const to = ctx.target?.sessionId;
    if (!to || (verb !== "send" && verb !== "reply")) return next(ctx);
    const from = loopOrigin(ctx.request);
    const check = guard.check({ from, to, hops: ctx.request.hops }, ctx.policy.loops);
    if (!check.ok) return refuse(ctx, failure("denied", `loop prevention (${check.kind}): ${check.reason}`));
    const result = await next(ctx);
    if (result.ok && from !== null) guard.record(from, to);
    return result;
  };
}

/** The policy decision for the command's capability on its target (spawn decides on its host, in its handler). */
export function authorization(): Interceptor {
  return async (ctx, next) => {
    if (ctx.request.verb === "spawn") return next(ctx);
    const facts = ctx.target ? factsOfSession(ctx.target) : {};
    const d = authorize(ctx.policy, ctx.request.caller, requiredCapability(ctx.request), facts);
    if (!d.allow) return refuse(ctx, failure("denied", d.reason));
    ctx.decision = { allow: true, ruleId: d.ruleId };
    return next(ctx);
  };
}

/** Token buckets per caller and per target session: `rate_limited` with when to retry. */
export function rateLimits(perCaller: TokenBuckets, perTarget: TokenBuckets): Interceptor {
  return async (ctx, next) => {
    const { caller } = ctx.request;
    const c = perCaller.take(`${caller.role}:${caller.id}`);
    if (!c.ok) return refuse(ctx, failure("rate_limited", `caller ${caller.id} is over its rate limit; retry in ${c.retryAfterMs} ms`));
    if (ctx.target) {
      const t = perTarget.take(`${ctx.target.host}.${ctx.target.sessionId}`);
      if (!t.ok) return refuse(ctx, failure("rate_limited", `session ${ctx.target.sessionId} is over its rate limit; retry in ${t.retryAfterMs} ms`));
    }
    return next(ctx);
  };
}

/** Innermost: an allowed decision is in AUDIT before the command runs (or it does not run). */
export function decisionRecorded(audit: AuditLog): Interceptor {
  return async (ctx, next) => {
    const d = ctx.decision;
    if (d?.allow) {
      try {
        await audit.write({ ...base(ctx), kind: "decision", decision: { allow: true, code: null, reason: null, ruleId: d.ruleId }, outcome: null, detail: null });
      } catch (err) {
        return failure("timeout", `could not write the audit record (${(err as Error).message}); nothing was run`);
      }
    }
    return next(ctx);
  };
}
