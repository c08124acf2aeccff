/**
 * Host RPC: what the policy service sends on `codex.rpc.<hostId>` (request/reply) once a command is approved.
 * The gateway instance holding that host's WebSocket forwards it as an `rpc` frame; the host agent executes it
 * on its local app-server and answers with an `rpcResult` frame. Only the policy service may publish here.
 */
import { z } from "zod";
import { AnnotationPayload } from "./agent-events.js";
import { Caller, CommandFailure, MAX_COMMAND_TEXT, SendMode } from "./commands.js";

const grantFields = {
  /** A command matches when its text starts with one of these (after trimming), e.g. `"git status"`. */
  commandPrefixes: z.array(z.string().min(1).max(1_000)).max(200).default([]),
  /** A file change matches when every path it touches is under one of these absolute folders. */
  pathPrefixes: z.array(z.string().min(1).max(4_096)).max(200).default([]),
  /** Dynamic tool calls and MCP elicitations matched by tool or server name. */
  tools: z.array(z.string().min(1).max(200)).max(200).default([]),
};

/** What an autonomous session's approvals may be allowed by (an `approvals` entry's `allow`). */
export const ApprovalGrant = z.strictObject(grantFields);
export type ApprovalGrant = z.infer<typeof ApprovalGrant>;

/** The kinds of request an `ask` rule can hold for a person or the Claw: the ones accept/decline answers. */
export const AskableKind = z.enum(["command", "network", "fileChange"]);
export type AskableKind = z.infer<typeof AskableKind>;

/** How long a held approval waits for an answer by default before the host agent declines it: 10 minutes. */
export const DEFAULT_ASK_DEADLINE_MS = 600_000;

/**
 * An `ask` rule: a request it matches (and no allow rule allows) is held by the host agent until an operator or
 * the Claw answers it (`approve`/`decline`), or declined at `deadlineMs`. Commands match by prefix (shell control
 * text after the prefix is fine here: a person reads the whole command), file changes by path, elicitations by
 * server; `kinds` matches every request of those kinds (file changes in codex 0.169 carry no paths, so
 * `kinds: ["fileChange"]` is how to ask for them; `network` is a command that needs network access).
 */
export const ApprovalAsk = z.strictObject({
  ...grantFields,
  kinds: z.array(AskableKind).max(3).default([]),
  deadlineMs: z.number().int().min(1_000).max(86_400_000).default(DEFAULT_ASK_DEADLINE_MS),
});
export type ApprovalAsk = z.infer<typeof ApprovalAsk>;

/**
 * A thread's approval rules: what is allowed, and the `ask` rules (in policy order, each with its deadline).
 * Precedence: allowed when an allow matches; else held when an ask rule matches; else declined.
 */
export const ApprovalRules = z.strictObject({
  ...grantFields,
  /** Absent (rules written before `ask` existed) means none. */
  ask: z.array(ApprovalAsk).max(200).optional(),
});
export type ApprovalRules = z.infer<typeof ApprovalRules>;
/** Rules as written: defaults (empty lists, the 10-minute deadline) not filled in yet. */
export type ApprovalRulesInput = z.input<typeof ApprovalRules>;

const threadId = z.string().min(1).max(200);

export const HostReadRequest = z.strictObject({
  op: z.literal("read"),
  threadId,
  limit: z.number().int().min(1).max(50),
  cursor: z.string().min(1).nullish(),
  view: z.enum(["summary", "raw"]),
});
export const HostSendRequest = z.strictObject({
  op: z.literal("send"),
  threadId,
  text: z.string().min(1).max(MAX_COMMAND_TEXT),
  mode: SendMode,
  expectedTurnId: z.string().min(1).optional(),
});
export const HostInterruptRequest = z.strictObject({
  op: z.literal("interrupt"),
  threadId,
  turnId: z.string().min(1).optional(),
});
export const HostSpawnRequest = z.strictObject({
  op: z.literal("spawn"),
  cwd: z.string().min(1),
  task: z.string().min(1).max(MAX_COMMAND_TEXT),
  model: z.string().min(1).optional(),
  sandbox: z.enum(["read-only", "workspace-write", "danger-full-access"]),
  approvalPolicy: z.enum(["untrusted", "on-failure", "on-request", "never"]),
  /** Extra `thread/start` config (the supervisor MCP server goes here). */
  config: z.record(z.string(), z.unknown()).default({}),
  approvals: ApprovalRules,
});
/** Record a supervisor-set fact about a thread in its event log (no app-server call). */
export const HostAnnotateRequest = z.strictObject({
  op: z.literal("annotate"),
  threadId,
  annotation: AnnotationPayload,
});
/** Answer an approval the host agent holds for the thread (one `ask` rule held it); `requestId` may be left out when exactly one is held. */
export const HostApproveRequest = z.strictObject({
  op: z.literal("approve"),
  threadId,
  requestId: z.string().min(1).max(200).optional(),
  decision: z.enum(["accept", "decline"]),
  /** Who answers, as the policy service authenticated them: recorded in the answer event. */
  by: Caller,
});
/** Anything the policy service may ask a host agent. */
export const HostRpcRequest = z.discriminatedUnion("op", [
  HostReadRequest,
  HostSendRequest,
  HostInterruptRequest,
  HostSpawnRequest,
  HostAnnotateRequest,
  HostApproveRequest,
]);
export type HostRpcRequest = z.infer<typeof HostRpcRequest>;
export type HostRpcOp = HostRpcRequest["op"];

/** One message of a transcript's summary view. */
export const TranscriptMessage = z.strictObject({ role: z.enum(["user", "agent"]), text: z.string() });
/** One turn as `read` returns it: messages in the summary view, every item (redacted) in the raw view. */
export const TranscriptTurn = z.strictObject({
  id: z.string(),
  status: z.string(),
  startedAt: z.number().nullable(),
  completedAt: z.number().nullable(),
  messages: z.array(TranscriptMessage),
  items: z.array(z.unknown()).optional(),
});
export type TranscriptTurn = z.infer<typeof TranscriptTurn>;

export const HostReadResult = z.strictObject({ turns: z.array(TranscriptTurn), nextCursor: z.string().nullable() });
export const HostSendResult = z.strictObject({ action: z.enum(["started", "steered"]), turnId: z.string() });
export const HostInterruptResult = z.strictObject({ turnId: z.string() });
export const HostSpawnResult = z.strictObject({ threadId: z.string(), turnId: z.string(), cwd: z.string() });
export const HostAnnotateResult = z.strictObject({ recorded: z.literal(true) });
export const HostApproveResult = z.strictObject({
  requestId: z.string(),
  decision: z.enum(["accept", "decline"]),
  /** The app-server method of the request (`item/commandExecution/requestApproval`, ...). */
  method: z.string(),
  /** What it asked, one line, redacted. */
  summary: z.string(),
});
export const hostRpcResults = {
  read: HostReadResult,
  send: HostSendResult,
  interrupt: HostInterruptResult,
  spawn: HostSpawnResult,
  annotate: HostAnnotateResult,
  approve: HostApproveResult,
} as const;

/** A host agent's answer: `data` is the op's result, or a typed failure. */
export const HostRpcResult = z.discriminatedUnion("ok", [
  z.strictObject({ ok: z.literal(true), data: z.unknown() }),
  CommandFailure,
]);
export type HostRpcResult = z.infer<typeof HostRpcResult>;

/** What the gateway receives on `codex.rpc.<hostId>` and answers on the request's reply subject. */
export const HostRpcEnvelope = z.strictObject({
  /** The command's idempotency key: an agent that sees the same id twice answers the first result. */
  id: z.string().min(1).max(200),
  hostId: z.string().min(1),
  request: HostRpcRequest,
  /** How long the agent may take, in ms. */
  timeoutMs: z.number().int().min(1).max(600_000),
});
export type HostRpcEnvelope = z.infer<typeof HostRpcEnvelope>;
