/**
 * Who answers a thread's approvals: the host agent for its autonomous sessions when no person is attached,
 * by policy (approval-policy.ts): allowed, declined, or (an `ask` rule) held in approval-holds.ts until an
 * operator or the Claw answers it or its deadline declines it; the connection that owns the thread (a person's
 * TUI) otherwise. Builds the watcher's `approvals` hook. Every request the agent owns is answered, unknown or
 * unreadable ones included.
 */
import type { Logger } from "pino";
import type { RequestId, ServerRequestMethod, ServerRequestReply } from "../../schemas/codex/index.js";
import { leaveToOwner } from "../codex-rpc/index.js";
import type { ApprovalAnswerer } from "../../schemas/agent-events.js";
import { failure } from "../../schemas/commands.js";
import { DEFAULT_ASK_DEADLINE_MS, type HostRpcRequest, type HostRpcResult } from "../../schemas/host-rpc.js";
import type { ApprovalHolds } from "./approval-holds.js";
import { approvalReply, judgeApproval, requestThreadId, type RuleVerdict } from "./approval-policy.js";
import type { AutonomousThreads } from "./autonomous.js";
import type { ServerRequestHook } from "./watcher.js";

/** One request the agent answered or holds, for the audit trail (the agent sends it as an `agent/approval` event). */
export interface ApprovalDecisionRecord {
  threadId: string;
  method: ServerRequestMethod;
  requestId: RequestId;
  allow: boolean;
  reason: string;
  /** `answered`, or `held` for an answer (an `ask` rule), or `released`: a held one let go unanswered (why in `reason`). */
  state: "held" | "answered" | "released";
  /** Who answered: the rules, the deadline, or a caller through the policy service. */
  by: ApprovalAnswerer;
  kind: string;
  summary: string;
  /** For `held`: when, and when the deadline declines it (unix ms). */
  atMs?: number;
  deadlineAtMs?: number;
}

/** What the hook needs to know. */
export interface ApprovalOwnerOptions {
  autonomous: AutonomousThreads;
  /** True while a person's TUI is attached to the thread: then its approvals are theirs. */
  humanAttached(threadId: string): boolean;
  /**
   * Where requests an `ask` rule matches are held for an answer. Without it (or when the request cannot be held,
   * see ServerRequestHook) an `ask` is declined.
   */
  holds?: ApprovalHolds;
  /** Called once per answered or newly held request, before any reply is sent; must not throw. */
  record?(decision: ApprovalDecisionRecord): void;
  logger?: Logger;
}

/** Builds the watcher's approvals hook; see the module comment. The hook never throws. */
export function createApprovalOwner(opts: ApprovalOwnerOptions): ServerRequestHook {
  const record = (d: ApprovalDecisionRecord): void => {
    try {
      opts.record?.(d);
    } catch (err) {
      opts.logger?.error({ err: (err as Error).message }, "recording an approval decision failed");
    }
  };
  return (method, params, ctx) => {
    const threadId = requestThreadId(params);
    if (!threadId || !opts.autonomous.isAutonomous(threadId) || safeHumanAttached(opts, threadId)) return leaveToOwner;
    const rules = opts.autonomous.rules(threadId);
    let verdict: RuleVerdict = rules
      ? safeJudge(opts.logger, method, () => judgeApproval(rules, method, params))
      : { outcome: "decline", reason: "the thread has no approval rules", kind: method, summary: method };
    if (approvalReply(method as ServerRequestMethod, false) === undefined) {
      // Kinds with no refusal shape (auth refresh, attestation) are not thread approvals: leave them to their owner.
      opts.logger?.warn({ threadId, method }, "no reply shape for a request of an autonomous thread; leaving it");
      return leaveToOwner;
    }
    if (
      verdict.outcome === "ask" &&
      (!opts.holds || ctx.canHold === false || approvalReply(method, true) === undefined)
    )
      verdict = {
        ...verdict,
        outcome: "decline",
        reason: `${verdict.reason}; but it cannot be held for an answer here (its params do not match the app-server schema, or it has no accept reply), so it is declined`,
      };
    if (verdict.outcome === "ask" && opts.holds) {
      const { outcome, held, fresh } = opts.holds.hold(
        { threadId, rawId: ctx.id, method, kind: verdict.kind, summary: verdict.summary },
        verdict.deadlineMs ?? DEFAULT_ASK_DEADLINE_MS,
      );
      if (fresh)
        record({
          threadId,
          method,
          // The hold's own id, not the app-server's: what `approve <session> <request>` names.
          requestId: held.requestId,
          allow: false,
          reason: verdict.reason,
          state: "held",
          by: { kind: "rule" },
          kind: held.kind,
          summary: held.summary,
          atMs: held.atMs,
          deadlineAtMs: held.deadlineAtMs,
        });
      return outcome;
    }
    const allow = verdict.outcome === "allow";
    const reply: ServerRequestReply<ServerRequestMethod> | undefined = approvalReply(method, allow);
    if (reply === undefined) return leaveToOwner;
    record({
      threadId,
      method,
      requestId: ctx.id,
      allow,
      reason: verdict.reason,
      state: "answered",
      by: { kind: "rule" },
      kind: verdict.kind,
      summary: verdict.summary,
    });
    return reply;
  };
}

/** What answering a held approval (`approve`) needs to know. */
export interface AnswerHeldOptions {
  hostId: string;
  autonomous: Pick<AutonomousThreads, "isAutonomous">;
  /** True while a person's TUI is attached to the thread (may throw: then a person is taken to be there). */
  humanAttached(threadId: string): boolean;
  /** True while the app-server connection is up. */
  connected(): boolean;
  holds: ApprovalHolds;
  logger?: Logger;
}

/**
 * `approve`: answers a held approval of an autonomous session nobody's TUI owns. A session the agent did not
 * start is `not_found` (`denied` should it hold one); a person's TUI attached (or unknown) is `denied`; no
 * app-server connection is `host_offline`; else the holds answer it. Never throws.
 */
export function answerHeld(
  opts: AnswerHeldOptions,
  request: Extract<HostRpcRequest, { op: "approve" }>,
): HostRpcResult {
  const { threadId } = request;
  if (!opts.autonomous.isAutonomous(threadId))
    return failure(
      opts.holds.list(threadId).length ? "denied" : "not_found",
      `session ${threadId} was not started by the supervisor on host ${opts.hostId}: its approvals are answered by its own client; nothing was answered`,
    );
  if (safeHumanAttached(opts, threadId))
    return failure(
      "denied",
      `a person's TUI is attached to session ${threadId}: its approvals are theirs to answer there; nothing was answered`,
    );
  if (!opts.connected())
    return failure(
      "host_offline",
      "the host agent has no connection to its app-server, so the answer could not reach it; nothing was answered",
    );
  return opts.holds.answer(threadId, request.requestId, request.decision, request.by);
}

function safeHumanAttached(opts: Pick<ApprovalOwnerOptions, "humanAttached" | "logger">, threadId: string): boolean {
  try {
    return opts.humanAttached(threadId);
  } catch (err) {
    // Unknown means a person may be there: their TUI answers.
    opts.logger?.error(
      { threadId, err: (err as Error).message },
      "humanAttached failed; leaving the request to its owner",
    );
    return true;
  }
}

function safeJudge(log: Logger | undefined, method: string, judge: () => RuleVerdict): RuleVerdict {
  try {
    return judge();
  } catch (err) {
    log?.error({ err: (err as Error).message }, "the approval policy threw; declining");
    return {
      outcome: "decline",
      reason: `the approval policy failed: ${(err as Error).message}`,
      kind: method,
      summary: method,
    };
  }
}
