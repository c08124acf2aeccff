/**
 * What a session machine holds and hears: its input, its context (the registry record plus what the machine
 * decides with), its events, and what each event writes into the context. Pure: the machine in `session.ts`
 * wires these into its transitions.
 */
import { assign } from "xstate";
import type { ThreadSyncedPayload } from "../schemas/agent-events.js";
import type { BudgetMark, TokenCounts } from "../schemas/budget.js";
import type { ThreadActiveFlag, ThreadStatus, TurnStatus } from "../schemas/codex/thread.js";
import type {
  Disposition,
  Escalation,
  Handoff,
  PendingApproval,
  PendingAsk,
  Progress,
  SessionRecord,
  SessionStatus,
} from "../schemas/registry.js";
import { addUsage, foldBudget, isTokenCounts, tokenDelta, usageDayOf, usageWithModel } from "./session-spend.js";
import { activeFlagsOf, isDisposition, seenAt } from "./session-status.js";

/** Which session the actor tracks. */
export interface SessionInput {
  hostId: string;
  threadId: string;
}

/** The registry record plus what the machine needs to decide: kept in a persisted snapshot. */
export interface SessionContext extends Omit<SessionRecord, "status" | "waitingOn"> {
  /** The status the session had when it went stale; null when not stale. */
  preStaleStatus: SessionStatus | null;
  /** The flags of the last `active` thread status, so a steer can return to the right substate. */
  activeFlags: ThreadActiveFlag[];
  /** True once the active turn produced an item other than a user message: a later user message is a steer. */
  turnHasAgentWork: boolean;
  /** Whether Codex marks the thread ephemeral (title generation and the like); null until a sync says. */
  ephemeral: boolean | null;
  /**
   * Codex's last cumulative token total for the thread (`thread/tokenUsage/updated`'s `total`), to take the
   * next one's delta from; null before the first. Not in the record. Absent from snapshots before issue 19.
   */
  tokenTotal: TokenCounts | null;
}

/** Everything a session actor accepts; all times are unix ms. */
export type SessionMachineEvent =
  | { type: "SYNCED"; snapshot: ThreadSyncedPayload; atMs: number }
  /** A thread status; from `thread/started` also the thread's model (`Thread.model`). */
  | { type: "STATUS"; status: ThreadStatus; atMs: number; model?: string }
  /** Codex's cumulative token usage of the thread (`thread/tokenUsage/updated`'s `total`). */
  | { type: "TOKEN_USAGE"; total: TokenCounts; atMs: number }
  /** A budget warned or stopped the session, or an operator lifted a stop (a `budget` annotation). */
  | { type: "BUDGET"; budget: BudgetMark }
  | { type: "TURN_STARTED"; turnId: string; atMs: number }
  | { type: "TURN_COMPLETED"; turnId: string; status: TurnStatus; atMs: number }
  | { type: "STEER_SENT"; turnId: string; atMs: number }
  | { type: "ITEM"; turnId: string; itemType: string; atMs: number }
  | { type: "PRESENCE"; humanAttached: boolean; atMs: number }
  | { type: "CLOSED"; atMs: number }
  | { type: "ACTIVITY"; atMs: number }
  | { type: "STALE"; atMs: number }
  | { type: "MARK"; disposition: Disposition | null }
  | { type: "ASSIGN"; group?: string | null; owner?: string | null }
  | { type: "HANDOFF"; handoff: Handoff }
  | { type: "SUMMARY"; summary: string | null }
  | { type: "PROGRESS"; summary: string; progress: Progress }
  | { type: "ASK"; ask: PendingAsk }
  /** The pending ask with this correlation id was answered (`reply --correlation`): it clears. */
  | { type: "ASK_ANSWERED"; correlationId: string }
  /** The session was escalated up the Claw groups. */
  | { type: "ESCALATE"; escalation: Escalation }
  /** The escalation with this id was accepted by a Claw of the group it went to. */
  | { type: "ESCALATION_ACCEPTED"; id: string; by: string; atMs: number }
  /** The host agent lost its app-server: the thread's status is unknown until a sync says. */
  | { type: "APP_SERVER_LOST"; atMs: number }
  /** The host agent holds this approval for an operator or the Claw to answer (an `ask` rule). */
  | { type: "APPROVAL_HELD"; approval: PendingApproval; atMs: number }
  /** The approval request with this id was answered (by anyone) or resolved: a held one with this id clears. */
  | { type: "APPROVAL_DONE"; requestId: string; atMs: number };

/** The events of one type. */
export type EventOf<T extends SessionMachineEvent["type"]> = Extract<SessionMachineEvent, { type: T }>;

/**
 * An assign for `T` events only. TypeScript accepts it only in a transition on `T`, so the update reads the
 * event's fields with no runtime check of its type: the machine is on the registry's hot path.
 */
export const assignOn = <T extends SessionMachineEvent["type"]>(
  update: (context: SessionContext, event: EventOf<T>) => Partial<SessionContext>,
) =>
  assign<SessionContext, EventOf<T>, undefined, SessionMachineEvent, never>(({ context, event }) =>
    update(context, event),
  );

// The event-specific actions, each typed by its event (see assignOn). Those that keep a value the event carries
// still check the value: an event may reach an actor without passing from-bus.ts's zod schemas (the robustness
// tests send junk straight to it), and a bad one must leave the record valid.
export const adoptStatus = assignOn<"STATUS">((context, event) => {
  const kind = event.status?.type;
  const ended = kind === "idle" || kind === "notLoaded";
  return {
    lastSeenAt: seenAt(context.lastSeenAt, event),
    activeFlags: activeFlagsOf(event.status),
    activeTurnId: ended ? null : context.activeTurnId,
    turnHasAgentWork: ended ? false : context.turnHasAgentWork,
    // A turn that ended took its held approval with it.
    approval: ended ? null : (context.approval ?? null),
    model: typeof event.model === "string" ? event.model : (context.model ?? null),
  };
});
export const applySnapshot = assignOn<"SYNCED">((context, event) => {
  const { snapshot } = event;
  // An agent from before issue 19 sends no model: the one known stays.
  const model = typeof snapshot.thread.model === "string" ? snapshot.thread.model : (context.model ?? null);
  return {
    lastSeenAt: seenAt(context.lastSeenAt, event),
    workspace: snapshot.workspace,
    repo: snapshot.repo,
    branch: snapshot.branch,
    preview: snapshot.thread.preview === "" ? null : snapshot.thread.preview,
    source: snapshot.thread.source,
    humanAttached: snapshot.humanAttached,
    autonomous: snapshot.autonomous,
    activeTurnId: snapshot.activeTurnId,
    ephemeral: snapshot.thread.ephemeral,
    activeFlags: activeFlagsOf(snapshot.thread.status),
    turnHasAgentWork: snapshot.activeTurnId === context.activeTurnId && context.turnHasAgentWork,
    model,
    usage: usageWithModel(context.usage ?? null, model),
  };
});
/** A turn starts from outside `active`: its flags start empty. */
export const beginTurn = assignOn<"TURN_STARTED">((context, event) => ({
  lastSeenAt: seenAt(context.lastSeenAt, event),
  activeTurnId: event.turnId,
  turnHasAgentWork: false,
  activeFlags: [],
}));
/** A turn starts while already active (a new turn id): the flags stay. */
export const startTurn = assignOn<"TURN_STARTED">((context, event) => ({
  lastSeenAt: seenAt(context.lastSeenAt, event),
  activeTurnId: event.turnId,
  turnHasAgentWork: false,
}));
export const adoptSteeredTurn = assignOn<"STEER_SENT">((context, event) => ({
  lastSeenAt: seenAt(context.lastSeenAt, event),
  activeTurnId: event.turnId,
}));
/** A person's TUI attaching takes over the thread's approvals: one the supervisor held is theirs now. */
export const presence = assignOn<"PRESENCE">((context, event) =>
  typeof event.humanAttached === "boolean"
    ? {
        lastSeenAt: seenAt(context.lastSeenAt, event),
        humanAttached: event.humanAttached,
        approval: event.humanAttached ? null : (context.approval ?? null),
      }
    : { lastSeenAt: seenAt(context.lastSeenAt, event) },
);
export const mark = assignOn<"MARK">((_, event) =>
  event.disposition === null || isDisposition(event.disposition) ? { disposition: event.disposition } : {},
);
/** Group and owner: a field the event leaves out stays as it is; null clears it. */
export const assignTo = assignOn<"ASSIGN">((context, event) => ({
  group:
    event.group === undefined || (event.group !== null && typeof event.group !== "string")
      ? context.group
      : event.group,
  owner:
    event.owner === undefined || (event.owner !== null && typeof event.owner !== "string")
      ? context.owner
      : event.owner,
}));
export const handOff = assignOn<"HANDOFF">((_, event) =>
  typeof event.handoff === "object" && event.handoff !== null ? { handoff: event.handoff } : {},
);
export const summarize = assignOn<"SUMMARY">((_, event) =>
  event.summary === null || typeof event.summary === "string" ? { summary: event.summary } : {},
);
export const reportProgress = assignOn<"PROGRESS">((_, event) =>
  typeof event.summary === "string" ? { summary: event.summary, progress: event.progress } : {},
);
export const recordAsk = assignOn<"ASK">((_, event) =>
  typeof event.ask === "object" && event.ask !== null ? { ask: event.ask } : {},
);
/** Clears the pending ask when it is the one answered; an answer to an older or unknown ask changes nothing. */
export const answerAsk = assignOn<"ASK_ANSWERED">((context, event) =>
  context.ask !== null && context.ask !== undefined && context.ask.correlationId === event.correlationId
    ? { ask: null }
    : {},
);
export const escalate = assignOn<"ESCALATE">((_, event) =>
  typeof event.escalation === "object" && event.escalation !== null ? { escalation: event.escalation } : {},
);
/** Marks the current escalation accepted when it is the one named; an older or unknown id changes nothing. */
export const acceptEscalation = assignOn<"ESCALATION_ACCEPTED">((context, event) =>
  context.escalation !== null &&
  context.escalation !== undefined &&
  context.escalation.id === event.id &&
  context.escalation.acceptedBy === null
    ? { escalation: { ...context.escalation, acceptedBy: event.by, acceptedAtMs: event.atMs } }
    : {},
);
/**
 * The app-server is gone: no turn is known to run, no flag holds, and an approval it asked for went with it
 * (a sync after it is back says what is true).
 */
export const loseAppServer = assignOn<"APP_SERVER_LOST">(() => ({
  activeTurnId: null,
  turnHasAgentWork: false,
  activeFlags: [],
  approval: null,
}));
/** An approval the host agent now holds for an answer (the latest one, should a turn hold several). */
export const holdApproval = assignOn<"APPROVAL_HELD">((context, event) =>
  typeof event.approval === "object" && event.approval !== null && typeof event.approval.requestId === "string"
    ? { lastSeenAt: seenAt(context.lastSeenAt, event), approval: event.approval }
    : { lastSeenAt: seenAt(context.lastSeenAt, event) },
);
/** Clears the held approval when it is the one answered or resolved; another request's answer changes nothing. */
export const approvalDone = assignOn<"APPROVAL_DONE">((context, event) =>
  context.approval?.requestId === event.requestId
    ? { lastSeenAt: seenAt(context.lastSeenAt, event), approval: null }
    : { lastSeenAt: seenAt(context.lastSeenAt, event) },
);
/**
 * Codex's cumulative token total: what it adds to the last one (session-spend.ts `tokenDelta`) goes into the
 * usage and its UTC day (by the event's time), under the session's model. A malformed total only moves lastSeenAt.
 */
export const countTokens = assignOn<"TOKEN_USAGE">((context, event) => {
  const lastSeenAt = seenAt(context.lastSeenAt, event);
  if (!isTokenCounts(event.total)) return { lastSeenAt };
  const delta = tokenDelta(context.tokenTotal ?? null, event.total);
  return {
    lastSeenAt,
    tokenTotal: event.total,
    usage: addUsage(context.usage ?? null, context.model ?? null, delta, usageDayOf(event.atMs, lastSeenAt)),
  };
});
/** A budget annotation: the budget state and disposition it leads to (session-spend.ts `foldBudget`). */
export const applyBudget = assignOn<"BUDGET">(
  (context, event) => foldBudget(context.budget ?? null, context.disposition, event.budget) ?? {},
);
