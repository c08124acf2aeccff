/**
 * Client→server methods of the Codex app-server that the supervisor calls, with their params and results.
 * `clientMethods` maps each method to its schemas and to the names of the matching definitions in the
 * binary's generated JSON schema, which the conformance test compares them against.
 */
import { z } from "zod";
import { TextUserInput, Thread, Turn, TurnItemsView } from "./thread.js";

/** Sandbox modes a thread can be started with. */
export const SandboxMode = z.enum(["read-only", "workspace-write", "danger-full-access"]);
/** Approval policies in their simple (string) form. */
export const ApprovalPolicy = z.enum(["untrusted", "on-request", "never"]);
const SortDirection = z.enum(["asc", "desc"]);

/** `initialize` params; `optOutNotificationMethods` skips noisy notifications for this connection. */
export const InitializeParams = z.object({
  clientInfo: z.object({ name: z.string(), title: z.string().nullish(), version: z.string() }),
  capabilities: z
    .object({
      experimentalApi: z.boolean().optional(),
      optOutNotificationMethods: z.array(z.string()).nullish(),
    })
    .nullish(),
});
export type InitializeParams = z.infer<typeof InitializeParams>;

/** `initialize` result. */
export const InitializeResult = z.looseObject({
  userAgent: z.string(),
  codexHome: z.string(),
  platformFamily: z.string(),
  platformOs: z.string(),
});
export type InitializeResult = z.infer<typeof InitializeResult>;

const threadOverrides = {
  model: z.string().nullish(),
  modelProvider: z.string().nullish(),
  cwd: z.string().nullish(),
  approvalPolicy: ApprovalPolicy.nullish(),
  sandbox: SandboxMode.nullish(),
  config: z.record(z.string(), z.unknown()).nullish(),
  baseInstructions: z.string().nullish(),
  developerInstructions: z.string().nullish(),
};

/** `thread/start` params. */
export const ThreadStartParams = z.object({
  ...threadOverrides,
  ephemeral: z.boolean().nullish(),
  serviceName: z.string().nullish(),
});
/** `thread/start` and `thread/resume` result. */
export const ThreadStartResult = z.looseObject({
  thread: Thread,
  model: z.string(),
  modelProvider: z.string(),
  cwd: z.string(),
  approvalPolicy: z.unknown(),
  sandbox: z.unknown(),
});
/** `thread/resume` params: subscribes this connection to the thread's turn and item events. */
export const ThreadResumeParams = z.object({
  threadId: z.string(),
  ...threadOverrides,
  excludeTurns: z.boolean().optional(),
});
/** `thread/read` params. */
export const ThreadReadParams = z.object({ threadId: z.string(), includeTurns: z.boolean().optional() });
/** `thread/read` result. */
export const ThreadReadResult = z.looseObject({ thread: Thread });
/** `thread/list` params (stored threads, loaded or not). */
export const ThreadListParams = z.object({
  cursor: z.string().nullish(),
  limit: z.number().int().nullish(),
  sortDirection: SortDirection.nullish(),
  searchTerm: z.string().nullish(),
  archived: z.boolean().nullish(),
});
/** `thread/list` result. */
export const ThreadListResult = z.looseObject({
  data: z.array(Thread),
  nextCursor: z.string().nullish(),
  backwardsCursor: z.string().nullish(),
});
/** `thread/loaded/list` params. */
export const ThreadLoadedListParams = z.object({ cursor: z.string().nullish(), limit: z.number().int().nullish() });
/** `thread/loaded/list` result: ids of threads loaded in this server's memory. */
export const ThreadLoadedListResult = z.looseObject({ data: z.array(z.string()), nextCursor: z.string().nullish() });
/** `thread/turns/list` params; the server's default order is descending (newest first). */
export const ThreadTurnsListParams = z.object({
  threadId: z.string(),
  cursor: z.string().nullish(),
  limit: z.number().int().nonnegative().nullish(),
  sortDirection: SortDirection.nullish(),
  itemsView: TurnItemsView.nullish(),
});
/** `thread/turns/list` result. */
export const ThreadTurnsListResult = z.looseObject({
  data: z.array(Turn),
  nextCursor: z.string().nullish(),
  backwardsCursor: z.string().nullish(),
});
/** `thread/unsubscribe` params. */
export const ThreadUnsubscribeParams = z.object({ threadId: z.string() });
/** `thread/unsubscribe` result. */
export const ThreadUnsubscribeResult = z.looseObject({
  status: z.enum(["notLoaded", "notSubscribed", "unsubscribed"]),
});
/** `turn/start` params. */
export const TurnStartParams = z.object({
  threadId: z.string(),
  input: z.array(TextUserInput),
  clientUserMessageId: z.string().nullish(),
  cwd: z.string().nullish(),
  approvalPolicy: ApprovalPolicy.nullish(),
  model: z.string().nullish(),
});
/** `turn/start` result: the new turn, `inProgress`. */
export const TurnStartResult = z.looseObject({ turn: Turn });
/** `turn/steer` params: `expectedTurnId` is a precondition, the steer fails if another turn is active. */
export const TurnSteerParams = z.object({
  threadId: z.string(),
  input: z.array(TextUserInput),
  expectedTurnId: z.string(),
  clientUserMessageId: z.string().nullish(),
});
/** `turn/steer` result. */
export const TurnSteerResult = z.looseObject({ turnId: z.string() });
/** `turn/interrupt` params. */
export const TurnInterruptParams = z.object({ threadId: z.string(), turnId: z.string() });
/** `turn/interrupt` result (empty). */
export const TurnInterruptResult = z.looseObject({});
/** `model/list` params. */
export const ModelListParams = z.object({
  modelProvider: z.string().nullish(),
  cursor: z.string().nullish(),
  limit: z.number().int().nullish(),
  includeHidden: z.boolean().nullish(),
});
/** `model/list` result (the built-in catalog). */
export const ModelListResult = z.looseObject({
  data: z.array(z.looseObject({ id: z.string(), model: z.string(), displayName: z.string(), isDefault: z.boolean() })),
  nextCursor: z.string().nullish(),
});

interface MethodSpec<P extends z.ZodType, R extends z.ZodType> {
  params: P;
  result: R;
  /** Definition names in the generated JSON schema. */
  generated: { params: string; result: string };
}
const method = <P extends z.ZodType, R extends z.ZodType>(
  params: P,
  result: R,
  generated: { params: string; result: string },
): MethodSpec<P, R> => ({ params, result, generated });

/** Every client→server method the supervisor uses. */
export const clientMethods = {
  initialize: method(InitializeParams, InitializeResult, { params: "InitializeParams", result: "InitializeResponse" }),
  "thread/start": method(ThreadStartParams, ThreadStartResult, {
    params: "ThreadStartParams",
    result: "ThreadStartResponse",
  }),
  "thread/resume": method(ThreadResumeParams, ThreadStartResult, {
    params: "ThreadResumeParams",
    result: "ThreadResumeResponse",
  }),
  "thread/read": method(ThreadReadParams, ThreadReadResult, {
    params: "ThreadReadParams",
    result: "ThreadReadResponse",
  }),
  "thread/list": method(ThreadListParams, ThreadListResult, {
    params: "ThreadListParams",
    result: "ThreadListResponse",
  }),
  "thread/loaded/list": method(ThreadLoadedListParams, ThreadLoadedListResult, {
    params: "ThreadLoadedListParams",
    result: "ThreadLoadedListResponse",
  }),
  "thread/turns/list": method(ThreadTurnsListParams, ThreadTurnsListResult, {
    params: "ThreadTurnsListParams",
    result: "ThreadTurnsListResponse",
  }),
  "thread/unsubscribe": method(ThreadUnsubscribeParams, ThreadUnsubscribeResult, {
    params: "ThreadUnsubscribeParams",
    result: "ThreadUnsubscribeResponse",
  }),
  "turn/start": method(TurnStartParams, TurnStartResult, { params: "TurnStartParams", result: "TurnStartResponse" }),
  "turn/steer": method(TurnSteerParams, TurnSteerResult, { params: "TurnSteerParams", result: "TurnSteerResponse" }),
  "turn/interrupt": method(TurnInterruptParams, TurnInterruptResult, {
    params: "TurnInterruptParams",
    result: "TurnInterruptResponse",
  }),
  "model/list": method(ModelListParams, ModelListResult, { params: "ModelListParams", result: "ModelListResponse" }),
} as const;

/** A client→server method name the supervisor uses. */
export type ClientMethod = keyof typeof clientMethods;
/** The params a method takes (its input shape). */
export type ClientParams<M extends ClientMethod> = z.input<(typeof clientMethods)[M]["params"]>;
/** The parsed result of a method. */
export type ClientResult<M extends ClientMethod> = z.infer<(typeof clientMethods)[M]["result"]>;
