/**
 * What the registry publishes on `codex.fleet.<kind>` (stream FLEET): the transitions a Claw must know about.
 * Each notice carries a deterministic `id`, also sent as its `Nats-Msg-Id`, so a redelivered session event
 * never stores the same notice twice (within the stream's duplicate window) and a reader can dedupe beyond it.
 */
import { z } from "zod";
import { ApprovalAnswerer } from "./agent-events.js";
import { HostRecord, SessionRecord } from "./registry.js";

/** Notice kinds; each is also the last token of the subject `codex.fleet.<kind>`. */
export const FleetKind = z.enum([
  /** A session the registry had never seen. */
  "session-new",
  /** A session now waits on an approval. */
  "session-waiting-approval",
  /** A session now waits on user input. */
  "session-waiting-input",
  /** A running turn ended and the session is idle again. */
  "session-idle",
  /** A session went stale (its host was lost); its history is kept. */
  "session-stale",
  /** A session entered the error state (app-server `systemError`). */
  "session-error",
  /** The app-server unloaded the thread. */
  "session-closed",
  /** The supervisor marked the session `done`, `blocked` or `abandoned`. */
  "session-marked",
  /** The supervisor recorded a handoff of the session to a person or a peer session. */
  "session-handoff",
  /** The session's group or owner changed. */
  "session-assigned",
  /** A session reported its progress (summary, percent, step) through the MCP edge. */
  "session-progress",
  /** A session asked the Claw for help, delegation or a decision (`claw_ask`); answer with `reply` and its correlation id. */
  "session-ask",
  /** A host went stale: no heartbeat for longer than the stale threshold. */
  "host-stale",
  /**
   * Two live agents claimed one host id: the newer connection holds it and the displaced agent stopped (it does
   * not reconnect); `conflict` names both. Published by the gateway that closed the displaced connection.
   */
  "host-conflict",
  /**
   * The host agent holds an autonomous session's approval (an `ask` rule) until an operator or the Claw answers
   * it (`approve`/`decline`, `fleet_approve`) or its deadline declines it: `session.approval` says what it asks.
   */
  "approval-requested",
  /**
   * The host agent answered an approval it owned: by the thread's rules, at a deadline, or as a caller said; or
   * let a held one go unanswered (`answer.decision` `released`: resolved elsewhere, turn ended, TUI attached,
   * app-server lost, agent stopped) (`answer`).
   */
  "approval-answered",
  /**
   * A Claw took over a session's lease (issue 18): `adoption` says who, from whom, and which notices about the
   * session came after the previous owner's last renewal (they may not have reached it); `session` is the record
   * with what waits on it (an ask, an approval, a handoff). Published by the adopting Claw's plugin service.
   */
  "session-adopted",
  /**
   * A session was escalated up the Claw groups (issue 18): `session.escalation` says to which group (null:
   * people), why, and by whom. Delivered to the Claws of that group; `accept` (fleet_accept) takes it over.
   */
  "session-escalated",
  /** A session (or its group) reached a budget's warning threshold, or a person's session went over (issue 19): `session.budget`. */
  "budget-warning",
  /** A budget stopped an autonomous session: turn interrupted, marked `blocked` (`session.budget` says why) (issue 19). */
  "budget-stopped",
]);
export type FleetKind = z.infer<typeof FleetKind>;

/** `high` notices should wake a Claw; `normal` ones can wait for its next summary. */
export const FleetPriority = z.enum(["high", "normal"]);
export type FleetPriority = z.infer<typeof FleetPriority>;

/** Priority of each kind. */
export const fleetPriorityOf: Readonly<Record<FleetKind, FleetPriority>> = {
  "session-new": "high",
  "session-waiting-approval": "high",
  "session-waiting-input": "high",
  "session-idle": "normal",
  "session-stale": "high",
  "session-error": "high",
  "session-closed": "normal",
  "session-marked": "normal",
  "session-handoff": "high",
  "session-assigned": "normal",
  "session-progress": "normal",
  "session-ask": "high",
  "host-stale": "high",
  "host-conflict": "high",
  "approval-requested": "high",
  "approval-answered": "normal",
  "session-adopted": "high",
  "session-escalated": "high",
  "budget-warning": "high",
  "budget-stopped": "high",
};

/**
 * What an `approval-answered` notice reports: the request, the answer, who gave it and why. `released`: the host
 * agent let a held request go without answering it (`reason` says why; `by` is the rules' default then).
 */
export const ApprovalAnswer = z.object({
  requestId: z.string(),
  method: z.string(),
  decision: z.enum(["accept", "decline", "released"]),
  by: ApprovalAnswerer,
  reason: z.string(),
  kind: z.string().nullable(),
  summary: z.string().nullable(),
});
export type ApprovalAnswer = z.infer<typeof ApprovalAnswer>;

/**
 * One agent claiming a host id: its run (hello epoch), host name, the gateway it came through and from where, and
 * the id of the host token it used (never the token; absent from older gateways, null when unknown).
 */
export const HostClaimant = z.object({
  agentEpoch: z.string().nullable(),
  hostname: z.string().nullable(),
  gatewayId: z.string().nullable(),
  remoteAddress: z.string().nullable(),
  tokenId: z.string().nullable().optional(),
});
export type HostClaimant = z.infer<typeof HostClaimant>;
/**
 * What a `host-conflict` notice reports: who holds the host now (at `leaseEpoch`) and who was displaced.
 * `copiedToken`: both used the same host token (copied to a second machine, or stolen); `summary`: the notice in
 * one paragraph, naming both sides and saying so. Both absent from older gateways.
 */
export const HostConflict = z.object({
  holder: HostClaimant,
  displaced: HostClaimant,
  leaseEpoch: z.number().int().positive(),
  copiedToken: z.boolean().optional(),
  summary: z.string().max(1_000).optional(),
});
export type HostConflict = z.infer<typeof HostConflict>;

/** What a `session-adopted` notice reports. */
export const Adoption = z.object({
  /** The Claw that holds the session now, its group and the lease's epoch. */
  clawId: z.string(),
  group: z.string().nullable(),
  leaseEpoch: z.number().int().positive(),
  /** The Claw that held it before (null: nobody had). */
  previousClawId: z.string().nullable(),
  /** Why: the previous owner's lease lapsed or was released, the session was new to every Claw, or escalation. */
  why: z.enum(["lapsed", "released", "unowned", "accepted"]),
  /** Ids of the session's notices published after the previous owner's last renewal, oldest first (at most 100). */
  replayed: z.array(z.string()).max(100).default([]),
});
export type Adoption = z.infer<typeof Adoption>;

/** One fleet notice. `atMs` is the time of what caused it (the event's `emittedAtMs` or the sweep time), unix ms. */
export const FleetEvent = z.object({
  /** Deterministic id, equal to the `Nats-Msg-Id` it was published with. */
  id: z.string().min(1),
  kind: FleetKind,
  priority: FleetPriority,
  hostId: z.string(),
  /** The session (Codex thread id); null for host notices. */
  sessionId: z.string().nullable(),
  atMs: z.number().int().nonnegative(),
  /** The session's status before this transition; null for a new session and for host notices. */
  previousStatus: z.string().nullable(),
  /** The session as it is after the transition (workspace, humanAttached, preview, ...); null for host notices. */
  session: SessionRecord.nullable(),
  /** The host as it is after the transition; null for session notices. */
  host: HostRecord.nullable(),
  /** On `approval-answered`: the answer (absent on every other kind). */
  answer: ApprovalAnswer.optional(),
  /** On `host-conflict`: the two claimants (absent on every other kind). */
  conflict: HostConflict.optional(),
  /** On `session-adopted`: the new owner and what it may have missed (absent on every other kind). */
  adoption: Adoption.optional(),
});
export type FleetEvent = z.infer<typeof FleetEvent>;
