/**
 * The session machine: one Codex thread as the fleet sees it. Pure XState v5, no I/O and no timers: time only
 * enters through the `atMs` of events, so a fold with `transition()` over a recorded log, a live actor, and an
 * actor restored from a persisted snapshot all agree.
 */
import { and, assign, initialTransition, setup, transition, type SnapshotFrom, type StateValue } from "xstate";
import type { ThreadStatus } from "../schemas/codex/thread.js";
import type { SessionRecord, SessionStatus } from "../schemas/registry.js";
import {
  adoptStatus,
  adoptSteeredTurn,
  acceptEscalation,
  applyBudget,
  answerAsk,
  approvalDone,
  applySnapshot,
  assignTo,
  beginTurn,
  countTokens,
  escalate,
  handOff,
  holdApproval,
  loseAppServer,
  mark,
  presence,
  recordAsk,
  reportProgress,
  startTurn,
  summarize,
  type SessionContext,
  type SessionInput,
  type SessionMachineEvent,
} from "./session-context.js";
import { isSyncedPayload, seenAt, statusTarget, type StatusTarget } from "./session-status.js";

export type { SessionContext, SessionInput, SessionMachineEvent } from "./session-context.js";

/** The sweeper's STALE from a state whose status is `status`: go stale, remembering it. */
const staleFrom = (status: SessionStatus) =>
  ({ target: "#session.stale", actions: { type: "rememberStatus", params: { status } } }) as const;
/** The host agent lost its app-server: a state that says what the thread is doing becomes `unknown`. */
const lostAppServer = { target: "#session.unknown", actions: loseAppServer } as const;
const leadsTo = (target: StatusTarget) => ({ type: "leadsTo", params: { target } }) as const;
const statusTargets: readonly StatusTarget[] = [
  "idle",
  "closed",
  "error",
  "working",
  "waitingOnApproval",
  "waitingOnUserInput",
];
const targetPath: Record<StatusTarget, string> = {
  idle: "#session.idle",
  closed: "#session.closed",
  error: "#session.error",
  working: "#session.active.working",
  waitingOnApproval: "#session.active.waitingOnApproval",
  waitingOnUserInput: "#session.active.waitingOnUserInput",
};

/** The session machine; input `{ hostId, threadId }`, starts in `unknown` until the first status or sync. */
export const sessionMachine = setup({
  types: {} as { context: SessionContext; events: SessionMachineEvent; input: SessionInput },
  guards: {
    leadsTo: ({ context, event }, params: { target: StatusTarget }) =>
      statusTarget(statusCarried(event, context)) === params.target,
    validSync: ({ context, event }) =>
      event.type === "SYNCED" && isSyncedPayload(event.snapshot) && event.snapshot.thread.id === context.sessionId,
    namesTurn: ({ event }) => namesTurn(event),
    otherTurn: ({ context, event }) =>
      !namesTurn(event) || (context.activeTurnId !== null && event.turnId !== context.activeTurnId),
    userMessage: ({ event }) => event.type === "ITEM" && event.itemType === "userMessage",
    steerByOther: ({ context, event }) =>
      event.type === "ITEM" && event.itemType === "userMessage" && context.turnHasAgentWork,
    interruptedTurn: ({ event }) => event.type === "TURN_COMPLETED" && event.status === "interrupted",
    idleStatus: ({ event }) => event.type === "STATUS" && event.status?.type === "idle",
    idleSync: ({ context, event }) =>
      event.type === "SYNCED" &&
      isSyncedPayload(event.snapshot) &&
      event.snapshot.thread.id === context.sessionId &&
      event.snapshot.thread.status.type === "idle",
  },
  // One assign per transition (each assign copies the context): every action that records an event also
  // moves lastSeenAt, so none is paired with a separate `touch`.
  actions: {
    touch: assign(({ context, event }) => ({ lastSeenAt: seenAt(context.lastSeenAt, event) })),
    /** The turn is over and the thread leaves `active`. */
    finishTurn: assign(({ context, event }) => ({
      lastSeenAt: seenAt(context.lastSeenAt, event),
      activeTurnId: null,
      turnHasAgentWork: false,
      activeFlags: [],
      approval: null,
    })),
    endTurn: assign(({ context, event }) => ({
      lastSeenAt: seenAt(context.lastSeenAt, event),
      activeTurnId: null,
      turnHasAgentWork: false,
      approval: null,
    })),
    noteAgentWork: assign(({ context, event }) => ({
      lastSeenAt: seenAt(context.lastSeenAt, event),
      turnHasAgentWork: true,
    })),
    rememberStatus: assign((_, params: { status: SessionStatus }) => ({ preStaleStatus: params.status })),
    forgetStaleness: assign({ preStaleStatus: null }),
  },
}).createMachine({
  id: "session",
  initial: "unknown",
  context: ({ input }) => ({
    sessionId: input.threadId,
    endpointId: input.hostId,
    host: input.hostId,
    workspace: null,
    repo: null,
    branch: null,
    source: null,
    humanAttached: false,
    autonomous: false,
    activeTurnId: null,
    lastSeenAt: 0,
    summary: null,
    preview: null,
    group: null,
    disposition: null,
    owner: null,
    handoff: null,
    progress: null,
    ask: null,
    approval: null,
    escalation: null,
    model: null,
    usage: null,
    budget: null,
    preStaleStatus: null,
    activeFlags: [],
    turnHasAgentWork: false,
    ephemeral: null,
    tokenTotal: null,
  }),
  on: {
    SYNCED: statusTargets.map((t) => ({
      guard: and(["validSync", leadsTo(t)]),
      target: targetPath[t],
      actions: applySnapshot,
    })),
    STATUS: [
      ...statusTargets.map((t) => ({ guard: leadsTo(t), target: targetPath[t], actions: adoptStatus })),
      { actions: "touch" },
    ],
    TURN_STARTED: [{ guard: "namesTurn", target: ".active", actions: beginTurn }, { actions: "touch" }],
    TURN_COMPLETED: [
      { guard: "otherTurn", actions: "touch" },
      { guard: "interruptedTurn", target: ".interrupted", actions: "finishTurn" },
      { target: ".idle", actions: "finishTurn" },
    ],
    STEER_SENT: { actions: "touch" },
    ITEM: { actions: "touch" },
    PRESENCE: { actions: presence },
    CLOSED: { target: ".closed", actions: "finishTurn" },
    ACTIVITY: { actions: "touch" },
    MARK: { actions: mark },
    ASSIGN: { actions: assignTo },
    HANDOFF: { actions: handOff },
    SUMMARY: { actions: summarize },
    PROGRESS: { actions: reportProgress },
    ASK: { actions: recordAsk },
    ASK_ANSWERED: { actions: answerAsk },
    ESCALATE: { actions: escalate },
    ESCALATION_ACCEPTED: { actions: acceptEscalation },
    APPROVAL_HELD: { actions: holdApproval },
    APPROVAL_DONE: { actions: approvalDone },
    TOKEN_USAGE: { actions: countTokens },
    BUDGET: { actions: applyBudget },
  },
  // The status a state stands for is its own name (`active.*` is `active`); `sessionRecordOf` reads it from
  // the state value, and each state remembers it when the sweeper makes the session stale.
  states: {
    unknown: { on: { STALE: staleFrom("unknown") } },
    idle: { on: { STALE: staleFrom("idle"), APP_SERVER_LOST: lostAppServer } },
    active: {
      initial: "working",
      states: {
        working: {},
        waitingOnApproval: {},
        waitingOnUserInput: {},
      },
      on: {
        TURN_STARTED: { guard: "namesTurn", actions: startTurn },
        STEER_SENT: { guard: "namesTurn", target: "steering", actions: adoptSteeredTurn },
        ITEM: [
          { guard: "otherTurn", actions: "touch" },
          { guard: "steerByOther", target: "steering", actions: "touch" },
          { guard: "userMessage", actions: "touch" },
          { actions: "noteAgentWork" },
        ],
        STALE: staleFrom("active"),
        APP_SERVER_LOST: lostAppServer,
      },
    },
    steering: {
      on: {
        STEER_SENT: { guard: "namesTurn", actions: adoptSteeredTurn },
        ITEM: [
          { guard: "otherTurn", actions: "touch" },
          { guard: "userMessage", actions: "touch" },
          ...statusTargets.map((t) => ({
            guard: leadsTo(t),
            target: targetPath[t],
            actions: "noteAgentWork" as const,
          })),
        ],
        STALE: staleFrom("steering"),
        APP_SERVER_LOST: lostAppServer,
      },
    },
    interrupted: {
      on: {
        STATUS: { guard: "idleStatus", actions: adoptStatus },
        SYNCED: { guard: "idleSync", actions: applySnapshot },
        STALE: staleFrom("interrupted"),
        APP_SERVER_LOST: lostAppServer,
      },
    },
    // A repeated STALE changes nothing: the status before the first one stays remembered. A lost app-server
    // leaves `stale`, `closed` and `unknown` as they are: none of them claims the thread is doing anything.
    stale: { exit: "forgetStaleness" },
    closed: { on: { TURN_COMPLETED: { actions: "endTurn" }, STALE: staleFrom("closed") } },
    error: {
      on: { TURN_COMPLETED: { actions: "endTurn" }, STALE: staleFrom("error"), APP_SERVER_LOST: lostAppServer },
    },
  },
});

/** A snapshot of the session machine (live, folded, or restored). */
export type SessionSnapshot = SnapshotFrom<typeof sessionMachine>;

/** True when the event names its turn with a string id (TURN_*, STEER_SENT, ITEM as typed). */
function namesTurn(event: SessionMachineEvent): event is Extract<SessionMachineEvent, { turnId: string }> {
  return "turnId" in event && typeof event.turnId === "string";
}

/** The thread status an event carries: a STATUS's, a SYNCED's thread status, else the remembered active flags. */
function statusCarried(event: SessionMachineEvent, context: SessionContext): ThreadStatus | undefined {
  if (event.type === "STATUS") return event.status;
  if (event.type === "SYNCED") return event.snapshot?.thread?.status;
  return { type: "active", activeFlags: context.activeFlags };
}

/** The record the registry writes to KV: `status` from the state value, `waitingOn` from the active substate. */
export function sessionRecordOf(snapshot: SessionSnapshot): SessionRecord {
  const c = snapshot.context;
  const value: StateValue = snapshot.value;
  const status = (typeof value === "string" ? value : Object.keys(value)[0]) as SessionStatus;
  const substate = typeof value === "string" ? undefined : value.active;
  const waitingOn =
    substate === "waitingOnApproval" ? "approval" : substate === "waitingOnUserInput" ? "userInput" : null;
  return {
    sessionId: c.sessionId,
    endpointId: c.endpointId,
    host: c.host,
    workspace: c.workspace,
    repo: c.repo,
    branch: c.branch,
    source: c.source,
    status,
    waitingOn,
    humanAttached: c.humanAttached,
    autonomous: c.autonomous,
    activeTurnId: c.activeTurnId,
    lastSeenAt: c.lastSeenAt,
    summary: c.summary,
    preview: c.preview,
    group: c.group,
    disposition: c.disposition,
    // Snapshots persisted before these fields existed have none.
    owner: c.owner ?? null,
    handoff: c.handoff ?? null,
    progress: c.progress ?? null,
    ask: c.ask ?? null,
    approval: c.approval ?? null,
    escalation: c.escalation ?? null,
    model: c.model ?? null,
    usage: c.usage ?? null,
    budget: c.budget ?? null,
  };
}

/** Pure fold of `events` from the initial state for `input`; `visit` sees each snapshot after its event. */
export function foldSession(
  events: Iterable<SessionMachineEvent>,
  input: SessionInput,
  visit?: (snapshot: SessionSnapshot, event: SessionMachineEvent) => void,
): SessionSnapshot {
  let [snapshot] = initialTransition(sessionMachine, input);
  for (const event of events) {
    [snapshot] = transition(sessionMachine, snapshot, event);
    visit?.(snapshot, event);
  }
  return snapshot;
}
