/**
 * Commands: what a caller (CLI, MCP edge, Claw plugin, dashboard) asks on `codex.cmd.<verb>`, and the typed
 * result it gets back. The policy service is the only reader; it decides, audits, and forwards the host part
 * on `codex.rpc.<hostId>` (schemas/host-rpc.ts). A command either does exactly what was asked or fails with
 * one of the `ResultCode`s and does nothing.
 */
import { z } from "zod";
import { BudgetArgs, BudgetLiftArgs } from "./budget.js";
import { Disposition, SessionFilter } from "./registry.js";

/** Who may call: the Claw, a person at the CLI or dashboard, a Codex session (MCP edge), a host agent. */
export const CallerRole = z.enum(["claw", "operator", "session", "host", "viewer"]);
export type CallerRole = z.infer<typeof CallerRole>;

/** The caller's identity; for role `session` the id is the calling session's thread id. */
export const Caller = z.strictObject({
  id: z.string().min(1).max(200),
  role: CallerRole,
});
export type Caller = z.infer<typeof Caller>;

/** The verbs, each on its own subject `codex.cmd.<verb>`. */
export const CommandVerb = z.enum([
  "list",
  "read",
  "send",
  "interrupt",
  "spawn",
  "handoff",
  "broadcast",
  "mark",
  "assign",
  "reply",
  "progress",
  "ask",
  "probe",
  "approve",
  /** Claw groups, their Claws and who owns which session (issue 18). */
  "claws",
  /** Hand a session (and a question about it) up to the parent Claw group; at the root, to people (issue 18). */
  "escalate",
  /** A Claw of the group a session was escalated to takes it over; its lease moves to that Claw (issue 18). */
  "accept",
  /** Use against the budgets: by limit, and by group and day (issue 19). */
  "budget",
  /** An operator lets a session stopped by a budget go on (audited) (issue 19). */
  "budget-lift",
]);
export type CommandVerb = z.infer<typeof CommandVerb>;

/** Why a command failed; the closed set every caller maps to exit codes or tool errors. */
export const ResultCode = z.enum([
  "not_found",
  "denied",
  "rate_limited",
  "conflict",
  "host_offline",
  "timeout",
  "invalid",
  /** A budget stopped the target (or a spawn's group): `budget lift` lets it go on (issue 19). */
  "budget_exceeded",
]);
export type ResultCode = z.infer<typeof ResultCode>;

/** One session: its thread id, and its host when the caller knows it (else the registry finds it). */
export const SessionTarget = z.strictObject({
  sessionId: z.string().min(1).max(200),
  hostId: z.string().min(1).max(200).optional(),
});
export type SessionTarget = z.infer<typeof SessionTarget>;

/** Largest text a send, reply or broadcast carries, in characters. */
export const MAX_COMMAND_TEXT = 100_000;
const text = z.string().min(1, "text must not be empty").max(MAX_COMMAND_TEXT);

/** How `send` enters the session: `auto` starts a turn when idle and steers the running one otherwise. */
export const SendMode = z.enum(["auto", "start", "steer"]);
export type SendMode = z.infer<typeof SendMode>;

/** `list`: the sessions a filter matches that the caller may see (policy capability `list`, per session). */
export const ListArgs = z.strictObject({
  filter: z.strictObject({ ...SessionFilter.shape, group: z.string().min(1).optional() }).default({}),
  limit: z.number().int().min(1).max(1_000).default(100),
  cursor: z.string().min(1).nullish(),
});
export const ReadArgs = z.strictObject({
  target: SessionTarget,
  /** Turns per page, newest first. */
  limit: z.number().int().min(1).max(50).default(10),
  cursor: z.string().min(1).nullish(),
  /** `summary`: user and agent messages only; `raw`: every item (needs `readRaw`). */
  view: z.enum(["summary", "raw"]).default("summary"),
});
export const SendArgs = z.strictObject({
  target: SessionTarget,
  text,
  mode: SendMode.default("auto"),
  /** Steer only this turn: a different running turn is a `conflict`. */
  expectedTurnId: z.string().min(1).optional(),
});
export const InterruptArgs = z.strictObject({ target: SessionTarget, turnId: z.string().min(1).optional() });
/** Where to spawn: an explicit host, or the least-loaded online host matching the selector. */
export const HostSelector = z.strictObject({
  hostId: z.string().min(1).optional(),
  repo: z.string().min(1).optional(),
});
export const SpawnArgs = z.strictObject({
  host: HostSelector.default({}),
  cwd: z
    .string()
    .min(1)
    .max(4096)
    .refine((p) => p.startsWith("/"), "cwd must be an absolute path"),
  task: text,
  group: z.string().min(1).max(200).optional(),
});
export const HandoffArgs = z.strictObject({
  target: SessionTarget,
  to: z.discriminatedUnion("kind", [
    z.strictObject({ kind: z.literal("human"), who: z.string().min(1).max(200).optional() }),
    z.strictObject({ kind: z.literal("session"), sessionId: z.string().min(1).max(200) }),
  ]),
  note: z.string().max(10_000).default(""),
});
/** Most sessions one broadcast may reach. */
export const MAX_BROADCAST_TARGETS = 100;
export const BroadcastArgs = z.strictObject({
  filter: z
    .strictObject({ ...SessionFilter.shape, group: z.string().min(1).optional() })
    .refine((f) => Object.values(f).some((v) => v !== undefined), "broadcast needs a filter: at least one field"),
  maxTargets: z.number().int().min(1).max(MAX_BROADCAST_TARGETS),
  text,
  mode: SendMode.default("auto"),
});
export const MarkArgs = z.strictObject({ target: SessionTarget, disposition: Disposition.nullable() });
export const AssignArgs = z
  .strictObject({
    target: SessionTarget,
    group: z.string().min(1).max(200).nullable().optional(),
    owner: z.string().min(1).max(200).nullable().optional(),
  })
  .refine((a) => a.group !== undefined || a.owner !== undefined, "assign needs a group or an owner (null clears it)");
export const ReplyArgs = z.strictObject({
  target: SessionTarget,
  text,
  /** The `claw_ask` this answers, when there was one. */
  correlationId: z.string().min(1).max(200).optional(),
});

/** Longest progress summary a session may report, in characters. */
export const MAX_SUMMARY_TEXT = 2_000;
/** Longest question a session may ask the Claw, in characters. */
export const MAX_ASK_TEXT = 10_000;
/** `progress`: a session reports its own summary and progress (a session caller may name only itself). */
export const ProgressArgs = z.strictObject({
  target: SessionTarget,
  summary: z.string().min(1, "summary must not be empty").max(MAX_SUMMARY_TEXT),
  percent: z.number().int().min(0).max(100).optional(),
  step: z.string().min(1).max(200).optional(),
});
/** What a session wants from the Claw. */
export const AskKind = z.enum(["help", "delegate", "decision"]);
/** `ask`: a session asks the Claw; the answer comes later as a `reply` carrying the returned correlation id. */
export const AskArgs = z.strictObject({
  target: SessionTarget,
  question: z.string().min(1, "question must not be empty").max(MAX_ASK_TEXT),
  kind: AskKind.default("help"),
});
/** `probe`: the state of the Codex endpoint (host agent and app-server) a session lives on. */
export const ProbeArgs = z.strictObject({ target: SessionTarget });
/**
 * `approve`: answer an approval the host agent holds for an autonomous session (an `ask` rule held it):
 * `accept` lets the request run, `decline` refuses it. `requestId` may be left out when exactly one is held.
 * The first answer wins: a second is a `conflict`; an unknown request is `not_found`; a person's TUI session's
 * approvals are theirs (`denied`).
 */
export const ApproveArgs = z.strictObject({
  target: SessionTarget,
  requestId: z.string().min(1).max(200).optional(),
  decision: z.enum(["accept", "decline"]),
});

/** `claws`: the Claw groups, their Claws and session ownership; `group` narrows it to one group. */
export const ClawsArgs = z.strictObject({ group: z.string().min(1).max(63).optional() });

/** Longest reason an escalation gives, in characters. */
export const MAX_ESCALATION_REASON = 2_000;
/** `escalate`: the session goes up one Claw group (from the group it is with now) with a reason and a question. */
export const EscalateArgs = z.strictObject({
  target: SessionTarget,
  reason: z.string().min(1, "reason must not be empty").max(MAX_ESCALATION_REASON),
  question: z.string().min(1).max(MAX_ASK_TEXT).optional(),
});
/** `accept`: take over a session escalated to the caller's group; `escalationId` guards against a newer one. */
export const AcceptArgs = z.strictObject({
  target: SessionTarget,
  escalationId: z.string().min(1).max(200).optional(),
});

/** Each verb's arguments. */
export const commandArgs = {
  list: ListArgs,
  read: ReadArgs,
  send: SendArgs,
  interrupt: InterruptArgs,
  spawn: SpawnArgs,
  handoff: HandoffArgs,
  broadcast: BroadcastArgs,
  mark: MarkArgs,
  assign: AssignArgs,
  reply: ReplyArgs,
  progress: ProgressArgs,
  ask: AskArgs,
  probe: ProbeArgs,
  approve: ApproveArgs,
  claws: ClawsArgs,
  escalate: EscalateArgs,
  accept: AcceptArgs,
  budget: BudgetArgs,
  "budget-lift": BudgetLiftArgs,
} as const;
export type CommandArgs<V extends CommandVerb> = z.infer<(typeof commandArgs)[V]>;

/** Most agent-to-agent hops a message may have travelled (a policy may set a lower bound). */
export const MAX_HOPS = 16;

/** The envelope common to every verb; `args` is checked against the verb's schema separately. */
export const CommandEnvelope = z.strictObject({
  verb: CommandVerb,
  caller: Caller,
  /** The same key never executes twice: a repeat gets the first result back. */
  idempotencyKey: z.string().min(8).max(200),
  /** For messages between agents: the session the message came from, and how many agent hops it made. */
  originSessionId: z.string().min(1).max(200).optional(),
  hops: z.number().int().min(0).max(MAX_HOPS).default(0),
  /**
   * A Claw's session lease for the target (issue 18), when Claw groups are configured: the policy refuses a
   * write command from a Claw that does not hold the target's lease at this epoch.
   */
  lease: z.strictObject({ epoch: z.number().int().positive() }).optional(),
  args: z.unknown(),
});
export type CommandEnvelope = z.infer<typeof CommandEnvelope>;

/** A command whose arguments match its verb. */
export type CommandRequest = {
  [V in CommandVerb]: Omit<CommandEnvelope, "verb" | "args"> & { verb: V; args: CommandArgs<V> };
}[CommandVerb];

/**
 * Why a `denied` command was refused, for callers to act on without reading the message: `no_rule` (no policy
 * rule grants the capability on the target), `loop` (loop prevention: self-echo, too many hops, a cycle),
 * `over_bound` (a broadcast matching more sessions than its bound), `not_own_session` (a session reporting for
 * another one), `not_owner` (Claw groups: a Claw's write command on a session another Claw, or no Claw, owns; the
 * message names the owner), `stale_lease` (a Claw's command carrying a lease epoch from before the lease moved).
 */
export const DenialReason = z.enum(["no_rule", "loop", "over_bound", "not_own_session", "not_owner", "stale_lease"]);
export type DenialReason = z.infer<typeof DenialReason>;

/** A failure: the typed code and one line saying what was wrong and what to do. */
export const CommandFailure = z.strictObject({
  ok: z.literal(false),
  code: ResultCode,
  message: z.string(),
  /** True when the same command may succeed later (rate limits, timeouts, an offline host). */
  retryable: z.boolean(),
  /** On a `denied` failure from the policy service: why (absent from older services and from hosts). */
  reason: DenialReason.optional(),
});
export type CommandFailure = z.infer<typeof CommandFailure>;

/** A success; `data` is the verb's result (schemas/command-results.ts). */
export const CommandSuccess = z.strictObject({ ok: z.literal(true), data: z.unknown() });
export type CommandSuccess = z.infer<typeof CommandSuccess>;

/** What every `codex.cmd.<verb>` request gets back. */
export const CommandResult = z.discriminatedUnion("ok", [CommandSuccess, CommandFailure]);
export type CommandResult = z.infer<typeof CommandResult>;

const retryableCodes: ReadonlySet<ResultCode> = new Set(["rate_limited", "timeout", "host_offline"]);

/** A failure result with the code's retryable flag. Pure. */
export function failure(code: ResultCode, message: string): CommandFailure {
  return { ok: false, code, message, retryable: retryableCodes.has(code) };
}

/** A `denied` failure with why it was refused. Pure. */
export function denial(reason: DenialReason, message: string): CommandFailure {
  return { ok: false, code: "denied", message, retryable: false, reason };
}

/**
 * Parses a whole command: the envelope, then the verb's arguments. Returns the request or an `invalid`
 * failure naming every bad field. Pure.
 */
export function parseCommand(
  input: unknown,
): { ok: true; request: CommandRequest } | { ok: false; failure: CommandFailure } {
  const env = CommandEnvelope.safeParse(input);
  if (!env.success) return { ok: false, failure: failure("invalid", `invalid command: ${issuesText(env.error)}`) };
  const args = commandArgs[env.data.verb].safeParse(env.data.args ?? {});
  if (!args.success)
    return { ok: false, failure: failure("invalid", `invalid ${env.data.verb} arguments: ${issuesText(args.error)}`) };
  return { ok: true, request: { ...env.data, args: args.data } as CommandRequest };
}

/** Every issue of a zod error as `path: message`, joined. Pure. */
export function issuesText(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join(".") : "value"}: ${i.message}`).join("; ");
}
