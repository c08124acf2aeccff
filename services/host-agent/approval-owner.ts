/**
 * Who answers a thread's approvals: the host agent for its autonomous sessions when no person is attached,
 * by policy (approval-policy.ts); the connection that owns the thread (a person's TUI) otherwise. Builds the
 * watcher's `approvals` hook. Every request the agent owns is answered, unknown or unreadable ones included.
 */
import type { Logger } from "pino";
import type { RequestId, ServerRequestMethod, ServerRequestReply } from "../../schemas/codex/index.js";
import { leaveToOwner } from "../codex-rpc/index.js";
import { approvalReply, decideApproval, requestThreadId } from "./approval-policy.js";
import type { AutonomousThreads } from "./autonomous.js";
import type { ServerRequestHook } from "./watcher.js";

/** One answered request, for the audit trail. */
export interface ApprovalDecisionRecord {
  threadId: string;
  method: ServerRequestMethod;
  requestId: RequestId;
  allow: boolean;
  reason: string;
}

/** What the hook needs to know. */
export interface ApprovalOwnerOptions {
  autonomous: AutonomousThreads;
  /** True while a person's TUI is attached to the thread: then its approvals are theirs. */
  humanAttached(threadId: string): boolean;
  /** Called once per answered request, after the decision and before the reply is sent; must not throw. */
  record?(decision: ApprovalDecisionRecord): void;
  logger?: Logger;
}

/** Builds the watcher's approvals hook; see the module comment. The hook never throws. */
export function createApprovalOwner(opts: ApprovalOwnerOptions): ServerRequestHook {
  return (method, params, ctx) => {
    const threadId = requestThreadId(params);
    if (!threadId || !opts.autonomous.isAutonomous(threadId) || safeHumanAttached(opts, threadId)) return leaveToOwner;
    const rules = opts.autonomous.rules(threadId);
    const verdict = rules
      ? safeDecide(opts.logger, () => decideApproval(rules, method, params))
      : { allow: false, reason: "the thread has no approval rules" };
    const reply: ServerRequestReply<ServerRequestMethod> | undefined = approvalReply(method, verdict.allow);
    if (reply === undefined) {
      // Kinds with no refusal shape (auth refresh, attestation) are not thread approvals: leave them to their owner.
      opts.logger?.warn({ threadId, method }, "no reply shape for a request of an autonomous thread; leaving it");
      return leaveToOwner;
    }
    try {
      opts.record?.({ threadId, method, requestId: ctx.id, allow: verdict.allow, reason: verdict.reason });
    } catch (err) {
      opts.logger?.error({ err: (err as Error).message }, "recording an approval decision failed");
    }
    return reply;
  };
}

function safeHumanAttached(opts: ApprovalOwnerOptions, threadId: string): boolean {
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

function safeDecide(
  log: Logger | undefined,
  decide: () => { allow: boolean; reason: string },
): { allow: boolean; reason: string } {
  try {
    return decide();
  } catch (err) {
    log?.error({ err: (err as Error).message }, "the approval policy threw; declining");
    return { allow: false, reason: `the approval policy failed: ${(err as Error).message}` };
  }
}
