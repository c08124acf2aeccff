/**
 * Server→client requests (approvals, user input, elicitation, tool calls) and the replies each accepts.
 * The app-server sends each one to every subscribed connection; the first answer wins. The supervisor
 * answers only the ones it owns, and never by default: see services/codex-rpc.
 */
import { z } from "zod";

const turnScoped = { threadId: z.string(), turnId: z.string(), itemId: z.string() };

/** Reply to a command or file-change approval. */
export const ApprovalDecision = z.enum(["accept", "acceptForSession", "decline", "cancel"]);
/** Reply to a legacy (v1) approval; a denial is an object carrying the reason the agent is shown. */
export const LegacyReviewDecision = z.union([
  z.enum(["approved", "approved_for_session", "abort"]),
  z.object({ denied: z.object({ rejection: z.string() }) }),
]);
const legacyDenial = { denied: { rejection: "declined by the supervisor's policy" } };

/** Every server→client request kind, its params, the reply shape, and the generated definitions. */
export const serverRequests = {
  "item/commandExecution/requestApproval": {
    params: z.looseObject({ ...turnScoped, command: z.string().nullish(), reason: z.string().nullish() }),
    reply: z.object({ decision: ApprovalDecision }),
    generated: { params: "CommandExecutionRequestApprovalParams", reply: "CommandExecutionRequestApprovalResponse" },
  },
  "item/fileChange/requestApproval": {
    params: z.looseObject({ ...turnScoped, reason: z.string().nullish() }),
    reply: z.object({ decision: ApprovalDecision }),
    generated: { params: "FileChangeRequestApprovalParams", reply: "FileChangeRequestApprovalResponse" },
  },
  "item/permissions/requestApproval": {
    params: z.looseObject({ ...turnScoped, reason: z.string().nullish(), permissions: z.unknown() }),
    reply: z.object({ permissions: z.record(z.string(), z.unknown()), scope: z.enum(["turn", "session"]).optional() }),
    generated: { params: "PermissionsRequestApprovalParams", reply: "PermissionsRequestApprovalResponse" },
  },
  "item/tool/requestUserInput": {
    params: z.looseObject({ ...turnScoped, questions: z.array(z.unknown()) }),
    reply: z.object({ answers: z.record(z.string(), z.object({ answers: z.array(z.string()) })) }),
    generated: { params: "ToolRequestUserInputParams", reply: "ToolRequestUserInputResponse" },
  },
  "mcpServer/elicitation/request": {
    params: z.looseObject({ message: z.string().optional() }),
    reply: z.object({ action: z.enum(["accept", "decline", "cancel"]), content: z.unknown().optional() }),
    generated: { params: "McpServerElicitationRequestParams", reply: "McpServerElicitationRequestResponse" },
  },
  "item/tool/call": {
    params: z.looseObject({ threadId: z.string(), turnId: z.string(), callId: z.string(), tool: z.string() }),
    reply: z.object({ success: z.boolean(), contentItems: z.array(z.unknown()) }),
    generated: { params: "DynamicToolCallParams", reply: "DynamicToolCallResponse" },
  },
  "account/chatgptAuthTokens/refresh": {
    params: z.looseObject({}),
    reply: z.object({ accessToken: z.string(), chatgptAccountId: z.string() }),
    generated: { params: "ChatgptAuthTokensRefreshParams", reply: "ChatgptAuthTokensRefreshResponse" },
  },
  "attestation/generate": {
    params: z.looseObject({}),
    reply: z.object({ token: z.string() }),
    generated: { params: "AttestationGenerateParams", reply: "AttestationGenerateResponse" },
  },
  applyPatchApproval: {
    params: z.looseObject({ conversationId: z.string(), callId: z.string() }),
    reply: z.object({ decision: LegacyReviewDecision }),
    generated: { params: "ApplyPatchApprovalParams", reply: "ApplyPatchApprovalResponse" },
  },
  execCommandApproval: {
    params: z.looseObject({ conversationId: z.string(), callId: z.string(), command: z.array(z.string()) }),
    reply: z.object({ decision: LegacyReviewDecision }),
    generated: { params: "ExecCommandApprovalParams", reply: "ExecCommandApprovalResponse" },
  },
} as const;

/** A server→client request method. */
export type ServerRequestMethod = keyof typeof serverRequests;
/** Parsed params of a server request. */
export type ServerRequestParams<M extends ServerRequestMethod> = z.infer<(typeof serverRequests)[M]["params"]>;
/** The reply a server request accepts. */
export type ServerRequestReply<M extends ServerRequestMethod> = z.infer<(typeof serverRequests)[M]["reply"]>;

/** The reply that refuses each request kind: what an owner sends to deny (never sent without an owner). */
export const refusalReplies: { [M in ServerRequestMethod]?: ServerRequestReply<M> } = {
  "item/commandExecution/requestApproval": { decision: "decline" },
  "item/fileChange/requestApproval": { decision: "decline" },
  "item/permissions/requestApproval": { permissions: {}, scope: "turn" },
  "item/tool/requestUserInput": { answers: {} },
  "mcpServer/elicitation/request": { action: "decline" },
  applyPatchApproval: { decision: legacyDenial },
  execCommandApproval: { decision: legacyDenial },
};

/** True when `method` is a server request kind the supervisor knows. */
export function isKnownServerRequest(method: string): method is ServerRequestMethod {
  return Object.hasOwn(serverRequests, method);
}
