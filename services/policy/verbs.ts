/**
 * The verb handlers: what runs once the interceptors have let a command through. Host work goes to the agent
 * on `codex.rpc.<hostId>` (through the gateway holding it), each call recorded as an `execution` in AUDIT.
 * The targets a handler finds itself (a list's or a broadcast's sessions, spawn's host) pass the interceptors
 * in `VerbDeps.eachTarget` before anything is done with them: no handler decides, checks loops or limits itself.
 */
import type { AnnotationPayload } from "../../schemas/agent-events.js";
import type { BudgetLiftResult, BudgetMark } from "../../schemas/budget.js";
import { denial, failure, type CommandRequest, type CommandResult } from "../../schemas/commands.js";
import type { HostRpcEnvelope, HostRpcRequest, HostRpcResult } from "../../schemas/host-rpc.js";
import type { HostRecord, SessionRecord } from "../../schemas/registry.js";
import { sessionKey } from "../../schemas/registry-entry.js";
import type { AuditLog } from "./audit-log.js";
import type { BudgetWatcher } from "./budget-watcher.js";
import { type ClawLeaseEntry, clawsVerb } from "./claws.js";
import { approvalRulesFor } from "./decide.js";
import { acceptVerb, escalateVerb } from "./escalation.js";
import { chain, refuse, targetContext, type CommandContext, type Interceptor } from "./pipeline.js";

/** How long an agent may take per op, in ms. */
export const HOST_OP_TIMEOUT_MS: Record<HostRpcRequest["op"], number> = {
  read: 10_000,
  send: 15_000,
  interrupt: 10_000,
  spawn: 30_000,
  annotate: 5_000,
  approve: 10_000,
};

/**
 * Extra `thread/start` config for spawned sessions (the supervisor MCP server): fixed, or built per spawn from
 * the spawn's command id (the ticket a spawned session's MCP token names until its thread id is known).
 */
export type SpawnConfig = Record<string, unknown> | ((spawnTicket: string) => Record<string, unknown>);

/** What handlers need from the service around them. */
export interface VerbDeps {
  audit: AuditLog;
  callHost(envelope: HostRpcEnvelope): Promise<HostRpcResult>;
  listSessions(
    filter: Record<string, unknown>,
    limit: number,
    cursor?: string | null,
  ): Promise<{ sessions: SessionRecord[]; total: number; nextCursor: string | null } | CommandResult>;
  listHosts(): Promise<HostRecord[] | CommandResult>;
  lookupSession(sessionId: string): Promise<SessionRecord | null | CommandResult>;
  /** The registry's own record of a session, past the policy service's copy (which may be a moment behind). */
  freshSession(sessionId: string, hostId: string): Promise<SessionRecord | null | CommandResult>;
  /**
   * The interceptors (instances of the command chain's own) that each target a handler finds passes: a list's
   * sessions (authorisation, as a filter), a broadcast's sessions (authorisation of a `send`, loops, the
   * target's rate) and spawn's host (authorisation, then the decision record before the spawn).
   */
  eachTarget: { list: readonly Interceptor[]; broadcast: readonly Interceptor[]; spawn: readonly Interceptor[] };
  /** Extra `thread/start` config for spawned sessions (the supervisor MCP server), if configured. */
  spawnConfig: SpawnConfig;
  /** The current `claw.*` and `claw-session.*` entries of `codex-leases` (for `claws`). */
  readClawLeases(): Promise<ClawLeaseEntry[]>;
  /** The budgets as this instance enforces them (for `budget` and `budget-lift`). */
  budgets: Pick<BudgetWatcher, "report" | "liftable" | "noteLifted" | "waitForLift">;
}

/** The command a person runs on the host to attach a TUI to a spawned session. Pure. */
export function attachCommand(threadId: string): string {
  return `claw-supervisor launch --resume ${threadId}`;
}

async function onHost(
  deps: VerbDeps,
  ctx: CommandContext,
  hostId: string,
  request: HostRpcRequest,
  part?: string,
): Promise<HostRpcResult> {
  const result = await deps.callHost({
    id: part ? `${ctx.commandId}:${part}` : ctx.commandId,
    hostId,
    request,
    timeoutMs: HOST_OP_TIMEOUT_MS[request.op],
  });
  const { text: _text, task: _task, ...op } = request as HostRpcRequest & { text?: string; task?: string };
  // A read that ran early and was withheld (its key was lost, or its records could not be stored) is its own
  // execution, not the first attempt's: recorded under this attempt, and marked.
  ctx.after.push(() =>
    deps.audit.writeLate(
      {
        kind: "execution",
        commandId: ctx.commandId,
        verb: ctx.request.verb,
        caller: ctx.request.caller,
        target: {
          hostId,
          sessionId:
            "threadId" in request
              ? request.threadId
              : result.ok
                ? ((result.data as { threadId?: string }).threadId ?? null)
                : null,
        },
        decision: null,
        outcome: result.ok
          ? { ok: true, code: null, message: null }
          : { ok: false, code: result.code, message: result.message },
        detail: ctx.acting ? op : { ...op, resultWithheld: true },
      },
      ctx.acting ? part : [part, ctx.attempt].filter(Boolean).join(":"),
    ),
  );
  return result;
}

const sendOp = (
  threadId: string,
  args: { text: string; mode?: "auto" | "start" | "steer"; expectedTurnId?: string | undefined },
): HostRpcRequest => ({
  op: "send",
  threadId,
  text: args.text,
  mode: args.mode ?? "auto",
  ...(args.expectedTurnId ? { expectedTurnId: args.expectedTurnId } : {}),
});

/** Runs the command; the interceptors have resolved `ctx.target` for verbs that name one. */
export async function runVerb(ctx: CommandContext, deps: VerbDeps): Promise<CommandResult> {
  const r = ctx.request;
  const t = ctx.target;
  switch (r.verb) {
    case "list":
      return list(ctx, r, deps);
    case "read":
      return onHost(deps, ctx, t!.host, {
        op: "read",
        threadId: t!.sessionId,
        limit: r.args.limit,
        cursor: r.args.cursor ?? null,
        view: r.args.view,
      });
    case "send":
      return onHost(deps, ctx, t!.host, sendOp(t!.sessionId, r.args));
    case "reply":
      return reply(ctx, r, deps);
    case "interrupt":
      return onHost(deps, ctx, t!.host, {
        op: "interrupt",
        threadId: t!.sessionId,
        ...(r.args.turnId ? { turnId: r.args.turnId } : {}),
      });
    case "spawn":
      return spawn(ctx, r, deps);
    case "broadcast":
      return broadcast(ctx, r, deps);
    case "mark":
      return annotate(deps, ctx, t!, { kind: "mark", disposition: r.args.disposition });
    case "assign":
      return annotate(deps, ctx, t!, {
        kind: "assign",
        ...(r.args.group === undefined ? {} : { group: r.args.group }),
        ...(r.args.owner === undefined ? {} : { owner: r.args.owner }),
      });
    case "handoff":
      return handoff(ctx, r, deps);
    case "progress":
    case "ask":
    case "probe":
      return selfReport(ctx, r, deps);
    case "approve":
      return approve(ctx, r, deps);
    case "claws":
      return clawsVerb(ctx.policy, r.args, deps);
    case "escalate":
      return escalateVerb(ctx, r, (target, annotation) => annotate(deps, ctx, target, annotation));
    case "accept":
      return acceptVerb(ctx, r, (target, annotation) => annotate(deps, ctx, target, annotation));
    case "budget":
      return { ok: true, data: deps.budgets.report(r.args) };
    case "budget-lift":
      return budgetLift(ctx, r, deps);
  }
}

/**
 * Answers an approval the session's host agent holds: the agent checks it holds one (by id, or the only one),
 * that nobody answered it first and that no person's TUI owns it; it records the answer with the caller.
 */
async function approve(
  ctx: CommandContext,
  r: Extract<CommandRequest, { verb: "approve" }>,
  deps: VerbDeps,
): Promise<CommandResult> {
  const t = ctx.target!;
  if (t.humanAttached)
    return failure(
      "denied",
      `session ${t.sessionId} has a person's TUI attached: its approvals are theirs to answer there; nothing was answered`,
    );
  const result = await onHost(deps, ctx, t.host, {
    op: "approve",
    threadId: t.sessionId,
    ...(r.args.requestId ? { requestId: r.args.requestId } : {}),
    decision: r.args.decision,
    by: r.caller,
  });
  return result.ok
    ? { ok: true, data: { hostId: t.host, sessionId: t.sessionId, ...(result.data as object) } }
    : result;
}

/** Records a supervisor-set fact in the session's own event log, through its host agent (so replay sees it in order). */
async function annotate(
  deps: VerbDeps,
  ctx: CommandContext,
  t: SessionRecord,
  annotation: AnnotationPayload,
): Promise<CommandResult> {
  const result = await onHost(deps, ctx, t.host, { op: "annotate", threadId: t.sessionId, annotation });
  return result.ok ? { ok: true, data: { hostId: t.host, sessionId: t.sessionId, ...annotation } } : result;
}

/** Longest a `budget-lift` waits for the registry view to show the lift before it answers, ms. */
const LIFT_SEEN_MS = 3_000;

/**
 * `budget-lift`: an operator lets a session a budget stopped go on. The stop lifted is the one its record shows, or
 * the one the budget watcher has due (with `limitId`, that limit's); it is written to the session's own log as a
 * `budget` annotation of state `lifted`, by the caller (the registry's fold unblocks the session and remembers the
 * lift, so that stop never comes back). `conflict` when the session is not stopped (by that limit): nothing written.
 */
async function budgetLift(
  ctx: CommandContext,
  r: Extract<CommandRequest, { verb: "budget-lift" }>,
  deps: VerbDeps,
): Promise<CommandResult> {
  let t = ctx.target!;
  const { limitId } = r.args;
  let stop = deps.budgets.liftable(t, limitId);
  if (stop === null) {
    // The copy the target came from may not show a stop recorded a moment ago: the registry decides.
    const fresh = await deps.freshSession(t.sessionId, t.host);
    if (fresh !== null && "sessionId" in fresh) {
      t = fresh;
      stop = deps.budgets.liftable(t, limitId);
    }
  }
  if (stop === null)
    return failure(
      "conflict",
      `session ${t.sessionId} is not stopped by ${limitId === undefined ? "a budget" : `budget '${limitId}'`}${t.budget?.state === "lifted" ? ` (its stop ${t.budget.id} was lifted already)` : ""}; nothing was lifted`,
    );
  const mark: BudgetMark = {
    state: "lifted",
    id: stop.id,
    limitId: stop.limitId,
    periodKey: stop.periodKey,
    reason: `lifted by ${r.caller.role} ${r.caller.id}; it was stopped: ${stop.reason}`,
    by: r.caller.id,
    atMs: Date.now(),
  };
  const result = await onHost(deps, ctx, t.host, {
    op: "annotate",
    threadId: t.sessionId,
    annotation: { kind: "budget", budget: mark },
  });
  if (!result.ok) return result;
  deps.budgets.noteLifted(t, stop.id);
  // Answered once the registry view shows the lift (so a send right after passes on every instance), or after
  // LIFT_SEEN_MS: the lift is written either way, and this instance lets the session go on at once.
  await deps.budgets.waitForLift(t, stop.id, LIFT_SEEN_MS);
  const data: BudgetLiftResult = { hostId: t.host, sessionId: t.sessionId, lifted: stop.id };
  return { ok: true, data };
}

/**
 * `reply`: a message to the session; with `correlationId`, the answer to its unanswered `claw_ask`, which then
 * clears through an `answered` annotation in the session's own log (as the ask was recorded, so replay clears it
 * too). A correlation id that is not the session's unanswered ask is `not_found`: nothing is sent.
 */
async function reply(
  ctx: CommandContext,
  r: Extract<CommandRequest, { verb: "reply" }>,
  deps: VerbDeps,
): Promise<CommandResult> {
  let t = ctx.target!;
  const correlationId = r.args.correlationId;
  if (correlationId !== undefined && t.ask?.correlationId !== correlationId) {
    // The copy the target came from may not hold an ask recorded a moment ago: the registry decides.
    const fresh = await deps.freshSession(t.sessionId, t.host);
    if (fresh !== null && "sessionId" in fresh) t = fresh;
  }
  if (correlationId !== undefined && t.ask?.correlationId !== correlationId) {
    return failure(
      "not_found",
      t.ask
        ? `session ${t.sessionId}'s unanswered ask is ${t.ask.correlationId}, not ${correlationId}; nothing was sent`
        : `session ${t.sessionId} has no unanswered ask ${correlationId}; nothing was sent`,
    );
  }
  const sent = await onHost(deps, ctx, t.host, sendOp(t.sessionId, { text: r.args.text }));
  if (!sent.ok || correlationId === undefined) return sent;
  const annotation: AnnotationPayload = { kind: "answered", correlationId };
  const cleared = await onHost(deps, ctx, t.host, { op: "annotate", threadId: t.sessionId, annotation }, "answered");
  return { ok: true, data: { ...(sent.data as object), correlationId, askCleared: cleared.ok } };
}

/** `progress`, `ask` and `probe`: about the caller's own session when the caller is a session. */
async function selfReport(
  ctx: CommandContext,
  r: Extract<CommandRequest, { verb: "progress" | "ask" | "probe" }>,
  deps: VerbDeps,
): Promise<CommandResult> {
  const t = ctx.target!;
  if (r.caller.role === "session" && r.verb !== "probe" && t.sessionId !== r.caller.id) {
    return denial(
      "not_own_session",
      `a session may ${r.verb === "ask" ? "ask" : "report progress"} only for itself (caller ${r.caller.id}, target ${t.sessionId}); nothing was recorded`,
    );
  }
  const atMs = Date.now();
  if (r.verb === "progress") {
    const progress = { percent: r.args.percent ?? null, step: r.args.step ?? null, atMs };
    return annotate(deps, ctx, t, { kind: "progress", summary: r.args.summary, progress });
  }
  if (r.verb === "ask") {
    // Derived from the command id: a repeat of the same idempotency key names the same question.
    const ask = {
      correlationId: `ask-${ctx.commandId.slice(0, 20)}`,
      kind: r.args.kind,
      question: r.args.question,
      atMs,
    };
    const result = await annotate(deps, ctx, t, { kind: "ask", ask });
    return result.ok
      ? { ok: true, data: { hostId: t.host, sessionId: t.sessionId, correlationId: ask.correlationId, kind: ask.kind } }
      : result;
  }
  const hosts = await deps.listHosts();
  if (!Array.isArray(hosts)) return hosts;
  const host = hosts.find((h) => h.hostId === t.host) ?? null;
  return {
    ok: true,
    data: {
      hostId: t.host,
      sessionId: t.sessionId,
      hostStatus: host?.status ?? "unknown",
      appServer: host?.appServer ?? null,
      agentVersion: host?.agentVersion ?? null,
      lastHeartbeatAt: host?.lastHeartbeatAt ?? null,
      sessionStatus: t.status,
      activeTurnId: t.activeTurnId,
    },
  };
}

async function handoff(
  ctx: CommandContext,
  r: Extract<CommandRequest, { verb: "handoff" }>,
  deps: VerbDeps,
): Promise<CommandResult> {
  const t = ctx.target!;
  const to =
    r.args.to.kind === "human"
      ? { kind: "human" as const, who: r.args.to.who ?? null }
      : { kind: "session" as const, sessionId: r.args.to.sessionId };
  if (to.kind === "session") {
    if (to.sessionId === t.sessionId) return failure("invalid", "a session cannot be handed off to itself");
    const peer = await deps.lookupSession(to.sessionId);
    if (peer === null)
      return failure("not_found", `no session ${to.sessionId} to hand off to is known to the registry`);
    if ("ok" in peer) return peer;
  }
  const result = await annotate(deps, ctx, t, {
    kind: "handoff",
    handoff: { to, note: r.args.note, by: `${r.caller.role}:${r.caller.id}`, atMs: Date.now() },
  });
  // A person takes over with the launcher's resume form, on the session's host.
  return result.ok
    ? { ok: true, data: { ...(result.data as object), attachCommand: attachCommand(t.sessionId) } }
    : result;
}

/** Chooses spawn's host, then runs the spawn on it through the host's interceptors (which decide and record). */
async function spawn(
  ctx: CommandContext,
  r: Extract<CommandRequest, { verb: "spawn" }>,
  deps: VerbDeps,
): Promise<CommandResult> {
  const hosts = await deps.listHosts();
  if (!Array.isArray(hosts)) return hosts;
  let candidates = hosts;
  if (r.args.host.hostId) {
    const host = hosts.find((h) => h.hostId === r.args.host.hostId);
    if (!host) return refuse(ctx, failure("not_found", `no host ${r.args.host.hostId} is known to the registry`));
    candidates = [host];
  }
  if (r.args.host.repo) {
    const inRepo = await deps.listSessions({ repo: r.args.host.repo }, 1000);
    if (!("sessions" in inRepo)) return inRepo;
    const withRepo = new Set(inRepo.sessions.map((s) => s.host));
    candidates = candidates.filter((h) => withRepo.has(h.hostId));
    if (candidates.length === 0)
      return refuse(ctx, failure("not_found", `no known host has a session in repo ${r.args.host.repo}`));
  }
  const online = candidates
    .filter((h) => h.status === "online")
    .sort((a, b) => a.sessions - b.sessions || a.hostId.localeCompare(b.hostId));
  const host = online[0];
  if (!host)
    return refuse(
      ctx,
      failure(
        "host_offline",
        `no chosen host is online (${candidates.map((h) => `${h.hostId}: ${h.status}`).join(", ") || "none known"})`,
      ),
    );
  const facts = { host: host.hostId, autonomous: true, humanAttached: false, group: r.args.group ?? null };
  const s = ctx.policy.spawn;
  const onChosenHost = targetContext(ctx, { host: { hostId: host.hostId, facts } });
  const result = await chain(deps.eachTarget.spawn, () =>
    onHost(deps, ctx, host.hostId, {
      op: "spawn",
      cwd: r.args.cwd,
      task: r.args.task,
      ...(s.model ? { model: s.model } : {}),
      sandbox: s.sandbox,
      approvalPolicy: s.approvalPolicy,
      config: typeof deps.spawnConfig === "function" ? deps.spawnConfig(ctx.commandId) : deps.spawnConfig,
      approvals: approvalRulesFor(ctx.policy, facts),
    }),
  )(onChosenHost);
  // The host's decision is the command's.
  ctx.decision = onChosenHost.decision;
  if (!result.ok) return result;
  const data = result.data as { threadId: string; turnId: string; cwd: string };
  return {
    ok: true,
    data: {
      hostId: host.hostId,
      sessionId: data.threadId,
      turnId: data.turnId,
      cwd: data.cwd,
      attachCommand: attachCommand(data.threadId),
    },
  };
}

/** What a listed session passes its interceptors to: nothing runs, it is only shown. */
const shown = async (): Promise<CommandResult> => ({ ok: true, data: null });

/** A page of sessions, each shown only when the caller may list it (the others are counted as hidden). */
async function list(
  ctx: CommandContext,
  r: Extract<CommandRequest, { verb: "list" }>,
  deps: VerbDeps,
): Promise<CommandResult> {
  const { group, ...registryFilter } = r.args.filter;
  const page = await deps.listSessions(registryFilter, r.args.limit, r.args.cursor ?? null);
  if (!("sessions" in page)) return page;
  const inGroup = page.sessions.filter((s) => group === undefined || s.group === group);
  const each = chain(deps.eachTarget.list, shown);
  const allowed = await Promise.all(inGroup.map((s) => each(targetContext(ctx, { session: s }))));
  const visible = inGroup.filter((_, i) => allowed[i]!.ok);
  return {
    ok: true,
    data: { sessions: visible, nextCursor: page.nextCursor, hidden: page.sessions.length - visible.length },
  };
}

/** A send to every session the filter matches, within the bound; each target decided, checked and sent on its own. */
async function broadcast(
  ctx: CommandContext,
  r: Extract<CommandRequest, { verb: "broadcast" }>,
  deps: VerbDeps,
): Promise<CommandResult> {
  const { group, ...registryFilter } = r.args.filter;
  const bound = Math.min(r.args.maxTargets, ctx.policy.broadcast.maxTargets);
  const found = await deps.listSessions(registryFilter, 1000);
  if (!("sessions" in found)) return found;
  const targets = found.sessions.filter((s) => group === undefined || s.group === group);
  if (targets.length > bound || found.total > 1000)
    return refuse(
      ctx,
      denial(
        "over_bound",
        `the filter matches ${Math.max(targets.length, found.total)} sessions, over the bound of ${bound} (the request's maxTargets ${r.args.maxTargets}, the policy's ${ctx.policy.broadcast.maxTargets}); narrow the filter; nothing was sent`,
      ),
      "over the broadcast bound",
    );
  const results = [];
  for (const s of targets) {
    const key = sessionKey(s.host, s.sessionId);
    // Each target is a send to it, from the broadcast's caller and origin.
    const send: Extract<CommandRequest, { verb: "send" }> = {
      ...r,
      verb: "send",
      args: { target: { sessionId: s.sessionId, hostId: s.host }, text: r.args.text, mode: r.args.mode },
    };
    const result = await chain(deps.eachTarget.broadcast, () =>
      onHost(deps, ctx, s.host, sendOp(s.sessionId, r.args), key),
    )(targetContext(ctx, { request: send, session: s }));
    results.push({ hostId: s.host, sessionId: s.sessionId, result });
  }
  return { ok: true, data: { targets: results.length, sent: results.filter((x) => x.result.ok).length, results } };
}
