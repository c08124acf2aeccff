/**
 * The event kinds a host agent adds to the app-server's own notifications on `codex.evt.<hostId>.<threadId>`.
 * App-server notifications travel with `type` = their method and `payload` = their (redacted) params;
 * the kinds below carry what the protocol does not say by itself.
 */
import { z } from "zod";
import { BudgetMark } from "./budget.js";
import { ThreadStatus } from "./codex/thread.js";
import { Caller } from "./commands.js";
import { Disposition, Escalation, Handoff, PendingAsk, Progress } from "./registry.js";

/** `threadId` used for events about the host rather than one thread (e.g. a buffer gap). */
export const HOST_THREAD_ID = "_host";

/** Event types the host agent originates. */
export const agentEventTypes = {
  /** A full snapshot of one thread: sent on discovery and after every re-sync. */
  threadSynced: "agent/thread.synced",
  /** A human attached to (or left) a thread through `claw-supervisor launch`. */
  presence: "agent/presence",
  /** Events were dropped from the agent's offline buffer. */
  gap: "agent/gap",
  /** The agent answered an approval request of an autonomous session (by policy, at a deadline, or as a caller said), or holds one for an answer. */
  approval: "agent/approval",
  /** The supervisor marked, assigned or handed off the thread (recorded by the agent so the log orders it). */
  annotation: "agent/annotation",
  /** The agent lost or regained its app-server (sent with `threadId` = HOST_THREAD_ID): about every session of the host. */
  appServer: "agent/app-server",
} as const;

/** What the agent knows of a thread at a sync. `createdAt`/`updatedAt` are unix seconds, as Codex sends them. */
export const ThreadSnapshot = z.object({
  id: z.string(),
  status: ThreadStatus,
  cwd: z.string(),
  preview: z.string(),
  name: z.string().nullable(),
  ephemeral: z.boolean(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
  source: z.string().nullable(),
  /** `Thread.model`; absent from agents older than issue 19. */
  model: z.string().nullable().optional(),
});
export type ThreadSnapshot = z.infer<typeof ThreadSnapshot>;

/** Payload of `agent/thread.synced`. */
export const ThreadSyncedPayload = z.object({
  thread: ThreadSnapshot,
  /** The in-progress turn, learnt from turn events or `thread/turns/list`; null when none. */
  activeTurnId: z.string().nullable(),
  workspace: z.string(),
  /** The git repository: the origin URL when there is one, else the repository folder's name. */
  repo: z.string().nullable(),
  branch: z.string().nullable(),
  humanAttached: z.boolean(),
  /** True for sessions the supervisor started (spawn); set by the host agent that started them. */
  autonomous: z.boolean(),
});
export type ThreadSyncedPayload = z.infer<typeof ThreadSyncedPayload>;

/** Payload of `agent/presence`: a person's TUI attached to or left the thread. */
export const PresencePayload = z.object({
  humanAttached: z.boolean(),
  pid: z.number().int().positive().nullable(),
  tty: z.string().nullable(),
});
export type PresencePayload = z.infer<typeof PresencePayload>;

/** Payload of `agent/gap` (sent with `threadId` = HOST_THREAD_ID): events `firstSeq..lastSeq` were dropped. */
export const GapPayload = z.object({
  dropped: z.number().int().positive(),
  firstSeq: z.number().int().nonnegative(),
  lastSeq: z.number().int().nonnegative(),
});
export type GapPayload = z.infer<typeof GapPayload>;

/** Most thread ids an `agent/app-server` `connected` event lists; with more loaded, it sends `loaded: null`. */
export const MAX_LOADED_THREAD_IDS = 2_000;

/**
 * Payload of `agent/app-server` (sent with `threadId` = HOST_THREAD_ID). `disconnected`: the agent has no
 * app-server (it went away, or could not be reached when the agent started): its sessions' statuses are
 * unknown until it is back. `connected`: the agent reached the app-server again; `loaded` lists the threads
 * it has loaded (the others are not loaded: closed), null when too many to list; each loaded one is re-synced.
 */
export const AppServerPayload = z.discriminatedUnion("state", [
  z.object({ state: z.literal("disconnected"), reason: z.string().max(500) }),
  z.object({
    state: z.literal("connected"),
    loaded: z.array(z.string()).max(MAX_LOADED_THREAD_IDS).nullable(),
  }),
]);
export type AppServerPayload = z.infer<typeof AppServerPayload>;

/** Who answered an approval the host agent owned: the thread's rules, the deadline of a held one, or a caller. */
export const ApprovalAnswerer = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("rule") }),
  z.object({ kind: z.literal("deadline") }),
  /** An operator or the Claw, through the policy service (`approve`). */
  z.object({ kind: z.literal("caller"), caller: Caller }),
]);
export type ApprovalAnswerer = z.infer<typeof ApprovalAnswerer>;

/**
 * Payload of `agent/approval`: one approval request of an autonomous session the agent owns. `answered` (the
 * default, as events from before holds existed are): how it was answered and by whom. `held`: an `ask` rule
 * matched, and the agent holds the request for an operator or the Claw until `deadlineAtMs` (`allow` is false:
 * nothing is allowed yet). `released`: a held request let go unanswered by the agent (resolved elsewhere, its
 * turn ended, a person's TUI attached, the app-server connection was lost, the agent stopped), why in `reason`.
 * A held request's `requestId` is the hold's own random id, which its `answered`/`released` event repeats; the
 * rules' answers carry the app-server's id. `kind` and `summary` say what it asks (redacted, like every payload).
 */
export const ApprovalPayload = z.object({
  method: z.string(),
  requestId: z.union([z.string(), z.number()]),
  allow: z.boolean(),
  reason: z.string(),
  state: z.enum(["held", "answered", "released"]).default("answered"),
  by: ApprovalAnswerer.default({ kind: "rule" }),
  kind: z.string().max(100).optional(),
  summary: z.string().max(2_000).optional(),
  /** For `held`: when it was held and when it will be declined unless answered, unix ms. */
  atMs: z.number().int().nonnegative().optional(),
  deadlineAtMs: z.number().int().nonnegative().optional(),
});
export type ApprovalPayload = z.infer<typeof ApprovalPayload>;
export type ApprovalPayloadInput = z.input<typeof ApprovalPayload>;

/** Payload of `agent/annotation`: a supervisor-set fact about the session (`mark`, `assign`, `handoff`, a `progress` report and an `ask` from the session itself, or an ask `answered`). */
export const AnnotationPayload = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("mark"), disposition: Disposition.nullable() }),
  z.object({
    kind: z.literal("assign"),
    group: z.string().nullable().optional(),
    owner: z.string().nullable().optional(),
  }),
  z.object({ kind: z.literal("handoff"), handoff: Handoff }),
  z.object({ kind: z.literal("progress"), summary: z.string(), progress: Progress }),
  z.object({ kind: z.literal("ask"), ask: PendingAsk }),
  /** The ask with this correlation id was answered (`reply --correlation`): the pending ask clears. */
  z.object({ kind: z.literal("answered"), correlationId: z.string().min(1).max(200) }),
  /** The session was escalated up the Claw groups (issue 18). */
  z.object({ kind: z.literal("escalate"), escalation: Escalation }),
  /** A Claw of the group it was escalated to accepted it (its lease moves to that Claw). */
  z.object({
    kind: z.literal("escalation-accepted"),
    id: z.string().min(1).max(200),
    by: z.string().min(1).max(200),
    atMs: z.number().int().nonnegative(),
  }),
  /** A budget warned or stopped the session, or an operator lifted a stop (issue 19). */
  z.object({ kind: z.literal("budget"), budget: BudgetMark }),
]);
export type AnnotationPayload = z.infer<typeof AnnotationPayload>;
