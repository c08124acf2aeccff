/**
 * TypeBox parameter schemas of the `fleet_*` tools (what the model sees); the command schemas re-check them.
 * Every closed list of values is derived from its zod schema in `schemas/` (typebox-from-zod.ts).
 */
import { Type } from "typebox";
import { ApproveArgs, SendMode } from "../../schemas/commands.js";
import { Disposition, SessionStatus } from "../../schemas/registry.js";
import { enumParam } from "./typebox-from-zod.js";

const ApprovalDecision = ApproveArgs.shape.decision;

const sessionId = Type.String({
  minLength: 1,
  description: "The session's id (its Codex thread id), or '<hostId>/<threadId>', as fleet_sessions shows it.",
});
const status = enumParam(SessionStatus, { description: "Session status." });
const filter = {
  host: Type.Optional(Type.String({ minLength: 1, description: "Only sessions on this host id." })),
  repo: Type.Optional(Type.String({ minLength: 1, description: "Only sessions in this repository." })),
  group: Type.Optional(
    Type.String({ minLength: 1, description: "Only sessions in this group (set with fleet_assign)." }),
  ),
  status: Type.Optional(status),
  humanAttached: Type.Optional(Type.Boolean({ description: "true: a person's TUI is attached; false: none is." })),
  autonomous: Type.Optional(Type.Boolean({ description: "true: started by the supervisor (fleet_spawn)." })),
};
const sendMode = Type.Optional(
  enumParam(SendMode, {
    description: "auto (default): start a turn when idle, steer the running one otherwise; start or steer only.",
  }),
);

export const SessionsParams = Type.Object({
  ...filter,
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, description: "Sessions per page (default 50)." })),
  cursor: Type.Optional(Type.String({ minLength: 1, description: "nextCursor from the previous page." })),
});
export const HostsParams = Type.Object({});
export const ReadParams = Type.Object({
  sessionId,
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 20, description: "Turns to read, newest first (default 5)." }),
  ),
  cursor: Type.Optional(
    Type.String({ minLength: 1, description: "nextCursor from the previous read, for older turns." }),
  ),
});
export const SendParams = Type.Object({
  sessionId,
  text: Type.String({ minLength: 1, description: "What to tell the session's agent." }),
  mode: sendMode,
});
export const InterruptParams = Type.Object({ sessionId });
export const SpawnParams = Type.Object({
  task: Type.String({ minLength: 1, description: "The task for the new Codex session, as its first message." }),
  cwd: Type.String({ minLength: 1, description: "Absolute path of the workspace on the host." }),
  hostId: Type.Optional(
    Type.String({ minLength: 1, description: "The host to run on (default: the least-loaded online host)." }),
  ),
  repo: Type.Optional(Type.String({ minLength: 1, description: "Pick a host that has sessions in this repository." })),
  group: Type.Optional(Type.String({ minLength: 1, description: "Group to put the session in." })),
});
export const HandoffParams = Type.Object({
  sessionId,
  toHuman: Type.Optional(Type.String({ minLength: 1, description: "Hand the session to this person." })),
  toSessionId: Type.Optional(
    Type.String({ minLength: 1, description: "Hand the session's work to this other session." }),
  ),
  note: Type.Optional(Type.String({ description: "What the receiver needs to know." })),
});
export const BroadcastParams = Type.Object({
  ...filter,
  text: Type.String({ minLength: 1, description: "The message for every matching session." }),
  maxTargets: Type.Integer({
    minimum: 1,
    maximum: 100,
    description: "The most sessions it may reach; more matching sessions refuse the whole broadcast.",
  }),
  mode: sendMode,
});
export const MarkParams = Type.Object({
  sessionId,
  disposition: enumParam(Disposition, { extra: ["none"], description: "The mark; none clears it." }),
});
export const AssignParams = Type.Object({
  sessionId,
  group: Type.Optional(Type.String({ description: "Group to put the session in; empty string clears it." })),
  owner: Type.Optional(Type.String({ description: "Who is responsible for it; empty string clears it." })),
});
export const ReplyParams = Type.Object({
  sessionId,
  text: Type.String({ minLength: 1, description: "The answer." }),
  correlationId: Type.Optional(
    Type.String({ minLength: 1, description: "The ask's correlation id (from the ask event or fleet_read)." }),
  ),
});
export const SummarizeParams = Type.Object({
  ...filter,
  maxSessions: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 50, description: "Most sessions listed (default 20)." }),
  ),
  maxChars: Type.Optional(
    Type.Integer({ minimum: 200, maximum: 8000, description: "Longest summary in characters (default 2000)." }),
  ),
});
export const EventsParams = Type.Object({
  max: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, description: "Most events to take (default 20)." })),
});
export const ApproveParams = Type.Object({
  sessionId,
  decision: enumParam(ApprovalDecision, {
    description: "accept: let the held request run; decline: refuse it.",
  }),
  requestId: Type.Optional(
    Type.String({
      minLength: 1,
      description:
        "The held request's id (from the approval-requested event or the session's approval); may be left out when the session holds exactly one.",
    }),
  ),
});
export const EscalateParams = Type.Object({
  sessionId,
  reason: Type.String({
    minLength: 1,
    maxLength: 2_000,
    description: "Why this session needs the group above you (or, at the top, a person).",
  }),
  question: Type.Optional(
    Type.String({ minLength: 1, description: "The question to answer, when there is one (e.g. the session's ask)." }),
  ),
});
export const AcceptParams = Type.Object({
  sessionId,
  escalationId: Type.Optional(
    Type.String({
      minLength: 1,
      description: "The escalation's id from the session-escalated event: refused if a newer one came since.",
    }),
  ),
});
export const ClawsParams = Type.Object({
  group: Type.Optional(Type.String({ minLength: 1, description: "Only this group (its Claws and sessions)." })),
});
export const BudgetParams = Type.Object({
  group: Type.Optional(
    Type.String({ minLength: 1, maxLength: 200, description: "Only this group's limits and spend." }),
  ),
  day: Type.Optional(
    Type.String({
      pattern: "^\\d{4}-\\d{2}-\\d{2}$",
      description: "The UTC day (YYYY-MM-DD) to total spend by group for; default today.",
    }),
  ),
});
