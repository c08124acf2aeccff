/**
 * The session machine: one Codex thread as the fleet sees it. Pure XState v5, no I/O and no timers: time only
 * enters through the `atMs` of events, so a fold with `transition()` over a recorded log, a live actor, and an
 * actor restored from a persisted snapshot all agree.
 */
import { and, assign, initialTransition, setup, transition, type SnapshotFrom, type StateValue } from "xstate";
import type { ThreadSyncedPayload } from "../schemas/agent-events.js";
import type { ThreadActiveFlag, ThreadStatus, TurnStatus } from "../schemas/codex/thread.js";
import type { Disposition, Handoff, PendingAsk, Progress, SessionRecord, SessionStatus } from "../schemas/registry.js";
import {
  activeFlagsOf,
  isDisposition,
  isSyncedPayload,
  seenAt,
  statusTarget,
  type StatusTarget,
} from "./session-status.js";

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
}

/** Everything a session actor accepts; all times are unix ms. */
export type SessionMachineEvent =
  | { type: "SYNCED"; snapshot: ThreadSyncedPayload; atMs: number }
  | { type: "STATUS"; status: ThreadStatus; atMs: number }
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
  | { type: "ASK"; ask: PendingAsk };

/** The events of one type. */
type EventOf<T extends SessionMachineEvent["type"]> = Extract<SessionMachineEvent, { type: T }>;

/**
 * An assign for `T` events only. TypeScript accepts it only in a transition on `T`, so the update reads the
 * event's fields with no runtime check of its type: the machine is on the registry's hot path.
 */
const assignOn = <T extends SessionMachineEvent["type"]>(
  update: (context: SessionContext, event: EventOf<T>) => Partial<SessionContext>,
) =>
  assign<SessionContext, EventOf<T>, undefined, SessionMachineEvent, never>(({ context, event }) =>
    update(context, event),
  );

// The event-specific actions, each typed by its event (see assignOn). Those that keep a value the event carries
// still check the value: an event may reach an actor without passing from-bus.ts's zod schemas (the robustness
// tests send junk straight to it), and a bad one must leave the record valid.
const adoptStatus = assignOn<"STATUS">((context, event) => {
  const kind = event.status?.type;
  const ended = kind === "idle" || kind === "notLoaded";
  return {
    lastSeenAt: seenAt(context.lastSeenAt, event),
    activeFlags: activeFlagsOf(event.status),
    activeTurnId: ended ? null : context.activeTurnId,
    turnHasAgentWork: ended ? false : context.turnHasAgentWork,
  };
});
const applySnapshot = assignOn<"SYNCED">((context, event) => {
  const { snapshot } = event;
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
  };
});
/** A turn starts from outside `active`: its flags start empty. */
const beginTurn = assignOn<"TURN_STARTED">((context, event) => ({
  lastSeenAt: seenAt(context.lastSeenAt, event),
  activeTurnId: event.turnId,
  turnHasAgentWork: false,
  activeFlags: [],
}));
/** A turn starts while already active (a new turn id): the flags stay. */
const startTurn = assignOn<"TURN_STARTED">((context, event) => ({
  lastSeenAt: seenAt(context.lastSeenAt, event),
  activeTurnId: event.turnId,
  turnHasAgentWork: false,
}));
const adoptSteeredTurn = assignOn<"STEER_SENT">((context, event) => ({
  lastSeenAt: seenAt(context.lastSeenAt, event),
  activeTurnId: event.turnId,
}));
const presence = assignOn<"PRESENCE">((context, event) =>
  typeof event.humanAttached === "boolean"
    ? { lastSeenAt: seenAt(context.lastSeenAt, event), humanAttached: event.humanAttached }
    : { lastSeenAt: seenAt(context.lastSeenAt, event) },
);
const mark = assignOn<"MARK">((_, event) =>
  event.disposition === null || isDisposition(event.disposition) ? { disposition: event.disposition } : {},
);
/** Group and owner: a field the event leaves out stays as it is; null clears it. */
const assignTo = assignOn<"ASSIGN">((context, event) => ({
  group:
    event.group === undefined || (event.group !== null && typeof event.group !== "string")
      ? context.group
      : event.group,
  owner:
    event.owner === undefined || (event.owner !== null && typeof event.owner !== "string")
      ? context.owner
      : event.owner,
}));
const handOff = assignOn<"HANDOFF">((_, event) =>
  typeof event.handoff === "object" && event.handoff !== null ? { handoff: event.handoff } : {},
);
const summarize = assignOn<"SUMMARY">((_, event) =>
  event.summary === null || typeof event.summary === "string" ? { summary: event.summary } : {},
);
const reportProgress = assignOn<"PROGRESS">((_, event) =>
  typeof event.summary === "string" ? { summary: event.summary, progress: event.progress } : {},
);
const recordAsk = assignOn<"ASK">((_, event) =>
  typeof event.ask === "object" && event.ask !== null ? { ask: event.ask } : {},
);

/** The sweeper's STALE from a state whose status is `status`: go stale, remembering it. */
const staleFrom = (status: SessionStatus) =>
  ({ target: "#session.stale", actions: { type: "rememberStatus", params: { status } } }) as const;
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
    })),
    endTurn: assign(({ context, event }) => ({
      lastSeenAt: seenAt(context.lastSeenAt, event),
      activeTurnId: null,
      turnHasAgentWork: false,
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
    preStaleStatus: null,
    activeFlags: [],
    turnHasAgentWork: false,
    ephemeral: null,
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
  },
  // The status a state stands for is its own name (`active.*` is `active`); `sessionRecordOf` reads it from
  // the state value, and each state remembers it when the sweeper makes the session stale.
  states: {
    unknown: { on: { STALE: staleFrom("unknown") } },
    idle: { on: { STALE: staleFrom("idle") } },
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
      },
    },
    interrupted: {
      on: {
        STATUS: { guard: "idleStatus", actions: adoptStatus },
        SYNCED: { guard: "idleSync", actions: applySnapshot },
        STALE: staleFrom("interrupted"),
      },
    },
    // A repeated STALE changes nothing: the status before the first one stays remembered.
    stale: { exit: "forgetStaleness" },
    closed: { on: { TURN_COMPLETED: { actions: "endTurn" }, STALE: staleFrom("closed") } },
    error: { on: { TURN_COMPLETED: { actions: "endTurn" }, STALE: staleFrom("error") } },
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
