/** The policy service's interceptors: see pipeline.ts for how they compose. */
import type { Logger } from "pino";
import {
  denial,
  failure,
  type CommandFailure,
  type CommandRequest,
  type CommandResult,
} from "../../schemas/commands.js";
import { redact } from "../../schemas/redact.js";
import { sessionKey } from "../../schemas/registry-entry.js";
import { leaseKeys, leaseView, type KvBucket, type LeaseView } from "../bus/index.js";
import type { AuditLog } from "./audit-log.js";
import type { BudgetWatcher } from "./budget-watcher.js";
import { CLAW_WRITE_VERBS, ownershipRefusal } from "./claws.js";
import { authorize, authorizeSomewhere, factsOfSession, refusalOf, requiredCapability } from "./decide.js";
import type { CommandLedger } from "./ledger.js";
import { loopOrigin } from "./loop-guard.js";
import {
  refuse,
  targetOf,
  type ClaimOutcome,
  type CommandContext,
  type Interceptor,
  type TargetLookup,
} from "./pipeline.js";
import type { BucketRequest, LoopJudgement, LoopMemory, RateLimiter, TakesResult } from "./shared-state.js";

const auditTarget = (ctx: CommandContext) => {
  const t = targetOf(ctx.request);
  return t ? { hostId: ctx.target?.host ?? t.hostId ?? null, sessionId: t.sessionId } : null;
};
/** How long after its reply a command's closing records (execution, result, ledger) are written, ms. */
const AFTER_REPLY_MS = 1;

const base = (ctx: CommandContext) => ({
  commandId: ctx.commandId,
  verb: ctx.request.verb,
  caller: ctx.request.caller,
  target: ctx.host ? { hostId: ctx.host.hostId, sessionId: null } : auditTarget(ctx),
});

/** Outermost: what a caller gets back passes the same secret redaction as everything leaving a host. */
export function redaction(): Interceptor {
  return async (ctx, next) => redact(await next(ctx));
}

/**
 * The request is audited before the command acts (unaudited commands do not act; an early read answers
 * nothing unaudited: see decisionRecorded), the result after; a
 * refusal that came before any decision is recorded as the decision. The records written after the command
 * acted are handed to `track` (the service waits for them on stop) instead of holding up the reply.
 */
export function auditTrail(audit: AuditLog, track: (writes: Promise<unknown>) => void): Interceptor {
  return async (ctx, next) => {
    const { args, originSessionId, hops } = ctx.request;
    // A repeated idempotency key is a new request (audited as such) for the same command: tell them apart.
    const { attempt } = ctx;
    // Awaited by `decisionRecorded` before the command acts; a refusal before then writes its records anyway.
    const requestWritten = audit.write(
      {
        ...base(ctx),
        kind: "request",
        decision: null,
        outcome: null,
        detail: { args, originSessionId: originSessionId ?? null, hops, attempt },
      },
      attempt,
    );
    requestWritten.catch(() => undefined); // handled where it is awaited; never an unhandled rejection meanwhile
    ctx.before.push(requestWritten);
    const result = await next(ctx);
    const d = ctx.decision;
    if (d === null || !d.allow) {
      const refusal = d ?? (result.ok ? null : { code: result.code, reason: result.message });
      if (refusal)
        ctx.after.push(() =>
          audit.writeLate(
            {
              ...base(ctx),
              kind: "decision",
              decision: { allow: false, code: refusal.code, reason: refusal.reason, ruleId: null },
              outcome: null,
              detail: { attempt },
            },
            attempt,
          ),
        );
    }
    const outcome = result.ok
      ? { ok: true, code: null, message: null }
      : { ok: false, code: result.code, message: result.message };
    ctx.after.push(() =>
      audit.writeLate({ ...base(ctx), kind: "result", decision: null, outcome, detail: { attempt } }, attempt),
    );
    // A request record that failed is logged; the command did not act (decisionRecorded refused it).
    // After the reply, on a timer rather than setImmediate: the caller's answer does not wait for the records
    // of what already happened, even when the caller shares this event loop (`up`), where work queued for
    // the check phase would run while the answer is still crossing nats-server.
    const afterReply = new Promise((resolve) => setTimeout(resolve, AFTER_REPLY_MS));
    track(
      afterReply.then(() =>
        Promise.all([...ctx.before.map((p) => p.catch(() => undefined)), ...ctx.after.map((write) => write())]),
      ),
    );
    return result;
  };
}

/** Results this instance stored recently, for a repeat that arrives while the ledger write is still in flight. */
class RecentResults {
  private readonly map = new Map<string, CommandResult>();
  constructor(private readonly max = 10_000) {}
  get(id: string): CommandResult | undefined {
    return this.map.get(id);
  }
  set(id: string, result: CommandResult): void {
    this.map.set(id, result);
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }
}

/**
 * The same idempotency key never executes twice: the key is claimed in the ledger (overlapping the other
 * checks; the handler waits for it), a repeat gets the stored result, or `conflict` while the first runs. A
 * command refused before it could act releases its key, so the same key can be tried again.
 */
export function idempotency(ledger: CommandLedger, log: Logger): Interceptor {
  const recent = new RecentResults();
  return async (ctx, next) => {
    const id = ctx.commandId;
    const claim = ledger.claim(id).then(
      (c): ClaimOutcome => {
        if (c.claimed) return { claimed: true };
        if (c.entry.state === "done") return { claimed: false, result: c.entry.result };
        const stored = recent.get(id);
        return {
          claimed: false,
          result:
            stored ??
            failure(
              "conflict",
              "a command with this idempotency key is still running; wait for its result (repeat the same key later)",
            ),
        };
      },
      (err: Error): ClaimOutcome => ({
        claimed: false,
        result: failure("timeout", `could not record the idempotency key (${err.message}); nothing was run`),
      }),
    );
    ctx.claim = claim;
    const result = await next(ctx);
    const outcome = await claim;
    if (!outcome.claimed) {
      if (!ctx.decision?.allow)
        ctx.decision = {
          allow: false,
          code: outcome.result.ok ? "conflict" : outcome.result.code,
          reason: "repeated idempotency key: answered with the first attempt's result",
        };
      return outcome.result;
    }
    if (ctx.acting) recent.set(id, result);
    const done = (): Promise<void> => (ctx.acting ? ledger.complete(id, result) : ledger.release(id));
    ctx.after.push(() =>
      done().catch((err: Error) =>
        log.error({ commandId: id, err: err.message }, "could not update the command ledger"),
      ),
    );
    return result;
  };
}

/** Starts the registry look-up of the target, so it runs while the idempotency key is claimed. */
export function prefetchTarget(lookup: (sessionId: string, hostId: string | undefined) => TargetLookup): Interceptor {
  return async (ctx, next) => {
    const t = targetOf(ctx.request);
    if (t) ctx.targetLookup = lookup(t.sessionId, t.hostId);
    return next(ctx);
  };
}

/**
 * Resolves the target session (the look-up prefetchTarget started): `not_found` when the registry knows none.
 * A look-up already done is not awaited, so the decision record leaves in the same write as the request record
 * and the idempotency claim.
 */
export function resolveTarget(): Interceptor {
  return async (ctx, next) => {
    const t = targetOf(ctx.request);
    if (!t || !ctx.targetLookup) return next(ctx);
    const lookup = ctx.targetLookup;
    const found = "found" in lookup ? lookup.found : await lookup;
    if (found === null)
      return refuse(
        ctx,
        failure(
          "not_found",
          `no session ${t.sessionId}${t.hostId ? ` on host ${t.hostId}` : ""} is known to the registry`,
        ),
      );
    if ("ok" in found) return found.ok ? failure("invalid", "unexpected registry answer") : refuse(ctx, found);
    ctx.target = found;
    return next(ctx);
  };
}

/**
 * Agent-to-agent messages: self-echo, too many hops and A→B→A cycles are refused, judged on what every instance
 * remembers (shared-state.ts); a delivered one is remembered before it is answered, so the next hop, whichever
 * instance decides it, sees it. A memory that cannot be read refuses the message (`timeout`, nothing sent); one
 * that cannot be written after a delivery is logged.
 */
export function loopPrevention(memory: LoopMemory, log: Logger): Interceptor {
  return async (ctx, next) => {
    const { verb } = ctx.request;
    const to = ctx.target?.sessionId;
    if (!to || (verb !== "send" && verb !== "reply")) return next(ctx);
    const from = loopOrigin(ctx.request);
    let judged: LoopJudgement;
    try {
      // Judged at once when nothing needs reading (an operator's message): no await, so the writes the
      // command started so far and its rate-limit takes leave in one write to nats-server.
      const judging = memory.check({ from, to, hops: ctx.request.hops }, ctx.policy.loops);
      judged = judging instanceof Promise ? await judging : judging;
    } catch (err) {
      return refuse(
        ctx,
        failure("timeout", `could not read the loop-prevention memory (${(err as Error).message}); nothing was sent`),
      );
    }
    const { check } = judged;
    if (!check.ok) return refuse(ctx, denial("loop", `loop prevention (${check.kind}): ${check.reason}`));
    const result = await next(ctx);
    if (result.ok && from !== null)
      await memory
        .record(from, to, judged.hops)
        .catch((err: Error) =>
          log.error({ commandId: ctx.commandId, from, to, err: err.message }, "could not remember a delivered message"),
        );
    return result;
  };
}

/**
 * The policy decision for the command's capability on its target. Spawn is decided on its host, once its handler
 * has chosen one (a context with `host`).
 */
export function authorization(): Interceptor {
  return async (ctx, next) => {
    if (ctx.request.verb === "spawn" && !ctx.host) return next(ctx);
    const facts = ctx.target ? factsOfSession(ctx.target) : (ctx.host?.facts ?? {});
    // A list as a whole has no one target: the gate is any rule granting `list`; then each listed session
    // passes this interceptor as a target of its own. `claws` (who owns which session) and `budget` (spend against
    // the budgets) have the same gate.
    const d =
      UNTARGETED_LIST_VERBS.has(ctx.request.verb) && !ctx.target
        ? authorizeSomewhere(ctx.policy, ctx.request.caller, "list")
        : authorize(ctx.policy, ctx.request.caller, requiredCapability(ctx.request), facts, ctx.request.verb);
    if (!d.allow) return refuse(ctx, refusalOf(d));
    ctx.decision = { allow: true, ruleId: d.ruleId };
    return next(ctx);
  };
}

/** Verbs about the fleet as a whole, shown to whoever may list some session (`list` filters its sessions after). */
const UNTARGETED_LIST_VERBS: ReadonlySet<CommandRequest["verb"]> = new Set(["list", "claws", "budget"]);

/**
 * Budgets (issue 19): a `send` or `reply` to a session a budget stopped (its record shows the stop, or the budget
 * watcher's evaluation has it over a stopping limit, not lifted) is refused with `budget_exceeded`, and so is a
 * `spawn` into a group over a group-scope limit that would cover the spawned session (decided on the chosen host,
 * like its authorisation). Operators are not exempt: the point is to stop the spend; `budget lift` lets it go on.
 */
export function budgetStops(budgets: Pick<BudgetWatcher, "stopOf" | "spawnStop">): Interceptor {
  return async (ctx, next) => {
    const { verb } = ctx.request;
    const t = ctx.target;
    if ((verb === "send" || verb === "reply") && t) {
      const stop = budgets.stopOf(t);
      if (stop)
        return refuse(
          ctx,
          failure(
            "budget_exceeded",
            `session ${t.sessionId} is stopped: ${stop.reason}; nothing was sent; an operator can lift it with 'claw-supervisor budget lift ${t.sessionId}'`,
          ),
        );
    }
    if (verb === "spawn" && ctx.host) {
      const group = ctx.host.facts.group ?? null;
      const stop = budgets.spawnStop(group, ctx.host.hostId);
      if (stop)
        return refuse(
          ctx,
          failure(
            "budget_exceeded",
            `no session is spawned into ${group === null ? "the sessions without a group" : `group ${group}`}: ${stop.reason}; an operator can lift it with 'claw-supervisor budget lift <session>' on one of the group's stopped sessions`,
          ),
        );
    }
    return next(ctx);
  };
}

/**
 * Claw groups (issue 18): when the policy document has `clawGroups`, a Claw's write command on a session (send,
 * interrupt, handoff, mark, assign, reply, approve; each target of a broadcast) goes on only when the session's
 * lease record in `codex-leases` (read afresh for every command: no cache, since fencing is the point) names the
 * calling Claw, not released, at the epoch the command carries (`lease.epoch`); otherwise it is `denied`,
 * `not_owner` (naming the owner) or `stale_lease` (ownershipRefusal). A broadcast's target is checked for its
 * holder only: the broadcast's one envelope cannot carry each target's epoch. A lease that cannot be read refuses
 * the command (`timeout`, nothing run). Reads, operators and sessions pass unchecked, and so does everything
 * without `clawGroups`.
 */
export function clawOwnership(leases: Pick<KvBucket, "get">): Interceptor {
  return async (ctx, next) => {
    const doc = ctx.policy.clawGroups;
    const t = ctx.target;
    const { caller, verb } = ctx.request;
    if (doc === undefined || caller.role !== "claw" || t === null || !CLAW_WRITE_VERBS.has(verb)) return next(ctx);
    let view: LeaseView | null;
    try {
      view = leaseView(await leases.get(leaseKeys.clawSession(t.sessionId)));
    } catch (err) {
      return refuse(
        ctx,
        failure(
          "timeout",
          `could not read session ${t.sessionId}'s lease (${(err as Error).message}); nothing was run`,
        ),
      );
    }
    const claimed = ctx.parent?.request.verb === "broadcast" ? "holder" : (ctx.request.lease ?? null);
    const refusal = ownershipRefusal(doc, caller.id, t.sessionId, view, claimed);
    return refusal ? refuse(ctx, refusal) : next(ctx);
  };
}

/**
 * Token buckets per caller and per target session, shared by every instance (shared-state.ts): `rate_limited`
 * with when to retry. The caller's token is taken once per command: not again for each target its handler found
 * (a context with `parent`). Buckets that cannot be reached refuse the command (`timeout`, nothing run).
 *
 * A read (which changes nothing) is not held up by its takes: when the buckets as this instance knows them admit
 * it, it goes on at once with its takes out (`ctx.admitted`), and decisionRecorded answers its result only once
 * they were taken (otherwise the refusal, the result withheld). A bucket this instance knows to refuse refuses it
 * before anything is asked, so a flood of reads over the limit does not reach the host.
 */
export function rateLimits(limiter: RateLimiter): Interceptor {
  return async (ctx, next) => {
    const { caller } = ctx.request;
    const { perCaller, perTarget } = ctx.policy.rateLimits;
    const takes: BucketRequest[] = [];
    if (!ctx.parent) takes.push({ kind: "caller", id: `${caller.role}:${caller.id}`, spec: perCaller });
    if (ctx.target)
      takes.push({ kind: "target", id: sessionKey(ctx.target.host, ctx.target.sessionId), spec: perTarget });
    if (takes.length === 0) return next(ctx);
    const early = READ_ONLY_VERBS.has(ctx.request.verb) && !ctx.parent;
    const overLimit = (taken: Extract<TakesResult, { ok: false }>): CommandFailure => {
      const { refused, retryAfterMs } = taken;
      return failure(
        "rate_limited",
        refused.kind === "caller"
          ? `caller ${caller.id} is over its rate limit; retry in ${retryAfterMs} ms`
          : `session ${ctx.target?.sessionId} is over its rate limit; retry in ${retryAfterMs} ms`,
      );
    };
    const unreachable = (err: Error): CommandFailure =>
      failure(
        "timeout",
        `could not take a rate-limit token (${err.message}); ${early ? "the read's result is withheld" : "nothing was run"}`,
      );
    if (early) {
      const known = limiter.refusedNow(takes);
      if (known) return refuse(ctx, overLimit(known));
      ctx.admitted = limiter.take(takes).then(
        (taken) => (taken.ok ? null : overLimit(taken)),
        (err: Error) => unreachable(err),
      );
      return next(ctx);
    }
    let taken: TakesResult;
    try {
      taken = await limiter.take(takes);
    } catch (err) {
      return refuse(ctx, unreachable(err as Error));
    }
    return taken.ok ? next(ctx) : refuse(ctx, overLimit(taken));
  };
}

/** Verbs that change nothing where they run: they may run while their records are written (see decisionRecorded). */
const READ_ONLY_VERBS: ReadonlySet<CommandRequest["verb"]> = new Set(["read"]);

/**
 * Innermost: the command acts only once its idempotency key is won and its request record is in AUDIT (the two
 * overlap); otherwise it does not act. An allowed decision's record is published just before the command is
 * forwarded, in the same write to nats-server on the same connection (so the server has the decision before
 * the host hears of the command), and the answer waits for its ack: a command answered is a command whose
 * decision is stored. Should that write fail after the command acted, the result stands and the decision is
 * written again after the reply (its message id is the same, so it is stored once).
 *
 * A read changes nothing on the session, so it runs alongside all of those writes instead of after them (its
 * app-server call hides the JetStream round trip); its result is still returned only once the key is won and
 * the request and decision records are stored, and is withheld otherwise.
 */
export function decisionRecorded(audit: AuditLog, log: Logger): Interceptor {
  return async (ctx, next) => {
    const d = ctx.decision;
    const decisionRecord = d?.allow
      ? {
          ...base(ctx),
          kind: "decision" as const,
          decision: { allow: true, code: null, reason: null, ruleId: d.ruleId },
          outcome: null,
          detail: null,
        }
      : null;
    const writeDecision = (): Promise<Error | null> =>
      decisionRecord
        ? audit.write(decisionRecord).then(
            () => null,
            (err: Error) => err,
          )
        : Promise.resolve(null);
    // A read: asked at once; its decision is recorded once its rate-limit tokens were taken (ctx.admitted).
    const readOnly = READ_ONLY_VERBS.has(ctx.request.verb);
    const early = readOnly ? next(ctx) : null;
    const earlyDecision = readOnly
      ? (ctx.admitted ?? Promise.resolve(null)).then<CommandFailure | Error | null>(
          (refusal) => refusal ?? writeDecision(),
        )
      : null;
    early?.catch(() => undefined); // awaited below; never an unhandled rejection while the writes are out
    const requestWritten = Promise.all(ctx.before).then(
      () => null,
      (err: Error) => err,
    );
    const [claim, requestError] = await Promise.all([
      ctx.claim ?? Promise.resolve<ClaimOutcome>({ claimed: true }),
      requestWritten,
    ]);
    // A withheld early read still finishes first, so that its execution is recorded with the command's records.
    if (early && (!claim.claimed || requestError)) await early.catch(() => undefined);
    // A lost claim: the idempotency interceptor answers with the first attempt's result.
    if (!claim.claimed) return claim.result;
    const unaudited = (err: Error): CommandResult => {
      ctx.decision = { allow: false, code: "timeout", reason: "the audit trail could not be written" };
      const what = early ? "the read's result is withheld" : "nothing was run";
      return failure("timeout", `could not write the audit record (${err.message}); ${what}`);
    };
    if (requestError) return unaudited(requestError);
    if (early) {
      const refused = await earlyDecision;
      if (refused) {
        await early.catch(() => undefined);
        return refused instanceof Error ? unaudited(refused) : refuse(ctx, refused);
      }
      ctx.acting = true;
      return early;
    }
    // The decision goes out first, then the command (same tick, same connection: one write, in this order).
    const decisionWritten = writeDecision();
    ctx.acting = true;
    const [result, late] = await Promise.all([next(ctx), decisionWritten]);
    if (late && decisionRecord) {
      log.error(
        { commandId: ctx.commandId, err: late.message },
        "the decision record of a command that acted could not be written; writing it again after the reply",
      );
      ctx.after.push(() => audit.writeLate(decisionRecord));
    }
    return result;
  };
}
