/**
 * Host RPC: what the policy service sends on `codex.rpc.<hostId>` (request/reply) once a command is approved.
 * The gateway instance holding that host's WebSocket forwards it as an `rpc` frame; the host agent executes it
 * on its local app-server and answers with an `rpcResult` frame. Only the policy service may publish here.
 */
import { z } from "zod";
import { AnnotationPayload } from "./agent-events.js";
import { CommandFailure, MAX_COMMAND_TEXT, SendMode } from "./commands.js";

/** What an autonomous session's approvals may be allowed by; everything else is declined. */
export const ApprovalRules = z.strictObject({
  /** A command is allowed when its text starts with one of these (after trimming), e.g. `"git status"`. */
  commandPrefixes: z.array(z.string().min(1).max(1_000)).max(200).default([]),
  /** A file change is allowed when every path it touches is under one of these absolute folders. */
  pathPrefixes: z.array(z.string().min(1).max(4_096)).max(200).default([]),
  /** Dynamic tool calls and MCP elicitations allowed by tool or server name. */
  tools: z.array(z.string().min(1).max(200)).max(200).default([]),
});
export type ApprovalRules = z.infer<typeof ApprovalRules>;

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
/** Anything the policy service may ask a host agent. */
export const HostRpcRequest = z.discriminatedUnion("op", [
  HostReadRequest,
  HostSendRequest,
  HostInterruptRequest,
  HostSpawnRequest,
  HostAnnotateRequest,
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
export const hostRpcResults = {
  read: HostReadResult,
  send: HostSendResult,
  interrupt: HostInterruptResult,
  spawn: HostSpawnResult,
  annotate: HostAnnotateResult,
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
