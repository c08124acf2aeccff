/**
 * The registry's view: one record per session (Codex thread) in KV `codex-sessions` (key
 * `<hostId>.<threadId>`), one per host in KV `codex-hosts` (key `<hostId>`), and the request/reply
 * queries over them.
 */
import { z } from "zod";
import { BudgetState, SessionUsage } from "./budget.js";

/** A session's status as the fleet sees it. `unknown` is never shown as idle. */
export const SessionStatus = z.enum([
  "idle",
  "active",
  "steering",
  "interrupted",
  "stale",
  "closed",
  "error",
  "unknown",
]);
export type SessionStatus = z.infer<typeof SessionStatus>;

/** Supervisor-set marks. */
export const Disposition = z.enum(["blocked", "done", "abandoned"]);
export type Disposition = z.infer<typeof Disposition>;

/** Who a session was handed to, by whom, with what note; `atMs` is when (unix ms). */
export const Handoff = z.object({
  to: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("human"), who: z.string().nullable() }),
    z.object({ kind: z.literal("session"), sessionId: z.string() }),
  ]),
  note: z.string(),
  by: z.string(),
  atMs: z.number().int().nonnegative(),
});
export type Handoff = z.infer<typeof Handoff>;

/** The latest progress a session reported (`claw_report_progress`); `atMs` is when (unix ms). */
export const Progress = z.object({
  /** Percent done, 0-100, when the session gave one. */
  percent: z.number().int().min(0).max(100).nullable(),
  /** The step it is on, in a few words, when given. */
  step: z.string().nullable(),
  atMs: z.number().int().nonnegative(),
});
export type Progress = z.infer<typeof Progress>;

/** The latest question a session asked the Claw (`claw_ask`), answered later by `reply` with the same correlation id. */
export const PendingAsk = z.object({
  correlationId: z.string(),
  /** `help`, `delegate` or `decision`: what the session wants from the Claw. */
  kind: z.string(),
  question: z.string(),
  atMs: z.number().int().nonnegative(),
});
export type PendingAsk = z.infer<typeof PendingAsk>;

/**
 * An approval the supervisor holds for a person or the Claw to answer (an `approvals` rule said `ask`):
 * `approve`/`decline` answer it by `requestId`; at `deadlineAtMs` the host agent declines it.
 */
export const PendingApproval = z.object({
  /** The hold's own random id (never the app-server's, which restarts with it): what `approve <session> <request>` names. */
  requestId: z.string(),
  /** `command`, `fileChange`, `permissions`, ... : what the session asks to do. */
  kind: z.string(),
  /** What it asks, in one line (the command, the files), redacted. */
  summary: z.string(),
  atMs: z.number().int().nonnegative(),
  deadlineAtMs: z.number().int().nonnegative(),
});
export type PendingApproval = z.infer<typeof PendingApproval>;

/**
 * A session (or a question about it) handed up the Claw groups (issue 18): by a Claw (`escalate`) or on its own
 * when an ask or a held approval went unanswered. `toGroup` null: it reached people (`attention`). The lease
 * moves only when a Claw of `toGroup` accepts (`accept`): `acceptedBy`.
 */
export const Escalation = z.object({
  id: z.string(),
  fromGroup: z.string().nullable(),
  toGroup: z.string().nullable(),
  reason: z.string(),
  question: z.string().nullable(),
  /** `claw:<id>` for a Claw's escalation, `deadline` for one the supervisor made. */
  by: z.string(),
  atMs: z.number().int().nonnegative(),
  acceptedBy: z.string().nullable(),
  acceptedAtMs: z.number().int().nonnegative().nullable(),
});
export type Escalation = z.infer<typeof Escalation>;

/** One session. Times are unix ms. */
export const SessionRecord = z.object({
  /** The Codex thread id. */
  sessionId: z.string(),
  /** The app-server the thread lives on: `<hostId>` (one daemon per host). */
  endpointId: z.string(),
  host: z.string(),
  workspace: z.string().nullable(),
  repo: z.string().nullable(),
  branch: z.string().nullable(),
  source: z.string().nullable(),
  status: SessionStatus,
  /** While active: what it waits on. */
  waitingOn: z.enum(["approval", "userInput"]).nullable(),
  humanAttached: z.boolean(),
  autonomous: z.boolean(),
  activeTurnId: z.string().nullable(),
  lastSeenAt: z.number().int().nonnegative(),
  /** Progress summary reported by the session or the supervisor. */
  summary: z.string().nullable(),
  /** The first user message of the thread, as Codex shows it. */
  preview: z.string().nullable(),
  group: z.string().nullable(),
  disposition: Disposition.nullable(),
  /** Who is responsible for the session (set by `assign`); records written before it existed read as null. */
  owner: z.string().nullable().default(null),
  /** The latest handoff request (set by `handoff`); null when none. */
  handoff: Handoff.nullable().default(null),
  /** The latest progress report (with `summary`); null when none. */
  progress: Progress.nullable().default(null),
  /** The latest `claw_ask`; null when none. */
  ask: PendingAsk.nullable().default(null),
  /** The approval the supervisor holds for an answer; null when none (a TUI's own approvals are never here). */
  approval: PendingApproval.nullable().default(null),
  /** The latest escalation up the Claw groups; null when none. */
  escalation: Escalation.nullable().default(null),
  /** The model Codex reports for the thread (`Thread.model`); null when unknown. */
  model: z.string().nullable().default(null),
  /** Tokens used and their cost (issue 19); null before the first token usage. */
  usage: SessionUsage.nullable().default(null),
  /** The latest budget warning, stop or lift (issue 19); null when none. */
  budget: BudgetState.nullable().default(null),
});
export type SessionRecord = z.infer<typeof SessionRecord>;

/** A host's connection state. */
export const HostStatus = z.enum(["connecting", "online", "degraded", "offline", "stale"]);
export type HostStatus = z.infer<typeof HostStatus>;

/** One host. Times are unix ms. */
export const HostRecord = z.object({
  hostId: z.string(),
  status: HostStatus,
  hostname: z.string().nullable(),
  agentVersion: z.string().nullable(),
  appServer: z.enum(["connected", "disconnected"]).nullable(),
  lastHeartbeatAt: z.number().int().nonnegative().nullable(),
  connectedAt: z.number().int().nonnegative().nullable(),
  sessions: z.number().int().nonnegative(),
});
export type HostRecord = z.infer<typeof HostRecord>;

/** Filters for listing sessions; every given field must match. */
export const SessionFilter = z.object({
  host: z.string().optional(),
  repo: z.string().optional(),
  status: SessionStatus.optional(),
  disposition: Disposition.optional(),
  humanAttached: z.boolean().optional(),
  autonomous: z.boolean().optional(),
  group: z.string().optional(),
  owner: z.string().optional(),
  /** true: only sessions waiting on an approval or input, or holding an unanswered ask (false: only the others). */
  waiting: z.boolean().optional(),
  /** true: only sessions that need a person (services/clients/attention.ts; false: only the others). */
  attention: z.boolean().optional(),
});
export type SessionFilter = z.infer<typeof SessionFilter>;

/** `codex.registry.sessions.list` request: a filter and a page (cursor from the previous reply). */
export const ListSessionsRequest = z.object({
  filter: SessionFilter.default({}),
  limit: z.number().int().min(1).max(1000).default(100),
  cursor: z.string().nullish(),
});
/**
 * Each listed session's short id (services/clients/session-ref.ts), keyed by session id: unique over every session
 * the registry knows, not only those in the reply, so a copied short id names one session fleet-wide. Empty from
 * a registry older than it.
 */
export const ShortIds = z.record(z.string(), z.string()).default({});
/** `codex.registry.sessions.list` reply. */
export const ListSessionsReply = z.object({
  sessions: z.array(SessionRecord),
  nextCursor: z.string().nullable(),
  total: z.number().int(),
  shortIds: ShortIds,
});
/** `codex.registry.sessions.get` request. */
export const GetSessionRequest = z.object({ host: z.string().optional(), sessionId: z.string() });
/** `codex.registry.sessions.get` reply. */
export const GetSessionReply = z.object({
  session: SessionRecord.nullable(),
  /** The session's short id, unique fleet-wide (see ShortIds); null without a session or from an older registry. */
  shortId: z.string().nullable().default(null),
});
/** Most sessions a `codex.registry.sessions.resolve` reply lists (its `total` counts them all). */
export const MAX_RESOLVE_MATCHES = 20;
/**
 * `codex.registry.sessions.resolve` request: the sessions a typed reference names (the whole id, a prefix of
 * it, or a prefix of its last UUID group, see services/clients/session-ref.ts), on `host` when given.
 */
export const ResolveSessionRequest = z.object({ ref: z.string().min(1).max(200), host: z.string().min(1).optional() });
/** `codex.registry.sessions.resolve` reply: at most MAX_RESOLVE_MATCHES matches, in registry order, and how many there are. */
export const ResolveSessionReply = z.object({
  matches: z.array(SessionRecord),
  total: z.number().int().nonnegative(),
  shortIds: ShortIds,
});
/** `codex.registry.hosts.list` reply. */
export const ListHostsReply = z.object({ hosts: z.array(HostRecord) });
/** An error reply to any registry query. */
export const RegistryErrorReply = z.object({
  error: z.object({ code: z.enum(["invalid", "not_found", "internal"]), message: z.string() }),
});
