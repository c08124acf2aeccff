/**
 * Thread, turn and item shapes of the Codex app-server (codex-cli 0.169.0) that the supervisor reads.
 * Objects are loose: unknown fields pass through untouched; the fields named here are the ones we rely on,
 * and the conformance test (conformance.test.ts) checks each against the pinned binary's JSON schema.
 */
import { z } from "zod";

/** A flag inside an `active` thread status. */
export const ThreadActiveFlag = z.enum(["waitingOnApproval", "waitingOnUserInput"]);
export type ThreadActiveFlag = z.infer<typeof ThreadActiveFlag>;

/** Thread status: the only truthful source of running / waiting / idle / error for a session. */
export const ThreadStatus = z.discriminatedUnion("type", [
  z.looseObject({ type: z.literal("notLoaded") }),
  z.looseObject({ type: z.literal("idle") }),
  z.looseObject({ type: z.literal("systemError") }),
  z.looseObject({ type: z.literal("active"), activeFlags: z.array(ThreadActiveFlag) }),
]);
export type ThreadStatus = z.infer<typeof ThreadStatus>;

/** Turn status; `inProgress` is the only one a steer or interrupt can target. */
export const TurnStatus = z.enum(["completed", "interrupted", "failed", "inProgress"]);
export type TurnStatus = z.infer<typeof TurnStatus>;

/** How much of `Turn.items` a response carries. */
export const TurnItemsView = z.enum(["notLoaded", "summary", "full"]);
export type TurnItemsView = z.infer<typeof TurnItemsView>;

/** The text form of a user input; the only form the supervisor sends. */
export const TextUserInput = z.looseObject({
  type: z.literal("text"),
  text: z.string(),
  text_elements: z.array(z.unknown()).optional(),
});
export type TextUserInput = z.infer<typeof TextUserInput>;

/** A user input as read back from history: text is understood, other kinds are kept opaque. */
export const UserInput = z.union([
  TextUserInput,
  z.looseObject({ type: z.string().refine((t) => t !== "text", "a text input must carry text") }),
]);
export type UserInput = z.infer<typeof UserInput>;

/** Builds the `UserInput[]` for a plain text message. */
export function textInput(text: string): TextUserInput[] {
  return [{ type: "text", text, text_elements: [] }];
}

const userMessage = z.looseObject({
  type: z.literal("userMessage"),
  id: z.string(),
  content: z.array(UserInput),
});
const agentMessage = z.looseObject({ type: z.literal("agentMessage"), id: z.string(), text: z.string() });
const reasoning = z.looseObject({
  type: z.literal("reasoning"),
  id: z.string(),
  summary: z.array(z.string()).optional(),
});
const commandExecution = z.looseObject({
  type: z.literal("commandExecution"),
  id: z.string(),
  command: z.string(),
  cwd: z.string(),
  status: z.enum(["inProgress", "completed", "failed", "declined"]),
  exitCode: z.number().int().nullish(),
  aggregatedOutput: z.string().nullish(),
});
const fileChange = z.looseObject({
  type: z.literal("fileChange"),
  id: z.string(),
  changes: z.array(z.unknown()),
  status: z.enum(["inProgress", "completed", "failed", "declined"]),
});
const mcpToolCall = z.looseObject({
  type: z.literal("mcpToolCall"),
  id: z.string(),
  server: z.string(),
  tool: z.string(),
  status: z.enum(["inProgress", "completed", "failed"]),
  arguments: z.unknown(),
});
const plan = z.looseObject({ type: z.literal("plan"), id: z.string(), text: z.string() });
const webSearch = z.looseObject({ type: z.literal("webSearch"), id: z.string(), query: z.string() });
const contextCompaction = z.looseObject({ type: z.literal("contextCompaction"), id: z.string() });

/** The item kinds the supervisor reads, tagged by `type`. */
export const KnownThreadItem = z.discriminatedUnion("type", [
  userMessage,
  agentMessage,
  reasoning,
  commandExecution,
  fileChange,
  mcpToolCall,
  plan,
  webSearch,
  contextCompaction,
]);
export type KnownThreadItem = z.infer<typeof KnownThreadItem>;

const knownItemTypes: ReadonlySet<string> = new Set(KnownThreadItem.options.map((o) => o.shape.type.value));

/** Any item: a known kind must match its schema; an unknown kind is kept with its `type` and `id`. */
export const ThreadItem = z.union([
  KnownThreadItem,
  z.looseObject({
    type: z.string().refine((t) => !knownItemTypes.has(t), "a known item kind did not match its schema"),
    id: z.string(),
  }),
]);
export type ThreadItem = z.infer<typeof ThreadItem>;

/** Error attached to a failed or interrupted turn. */
export const TurnError = z.looseObject({ message: z.string() });

/** A turn; `startedAt`/`completedAt` are unix seconds. */
export const Turn = z.looseObject({
  id: z.string(),
  items: z.array(ThreadItem),
  itemsView: TurnItemsView.optional(),
  status: TurnStatus,
  error: TurnError.nullish(),
  startedAt: z.number().int().nullish(),
  completedAt: z.number().int().nullish(),
  durationMs: z.number().int().nullish(),
});
export type Turn = z.infer<typeof Turn>;

/** Git facts Codex recorded for the thread's workspace. */
export const GitInfo = z.looseObject({
  branch: z.string().nullish(),
  originUrl: z.string().nullish(),
  sha: z.string().nullish(),
});

/** A thread (a Codex session); `createdAt`/`updatedAt` are unix seconds. It has no active-turn field. */
export const Thread = z.looseObject({
  id: z.string(),
  sessionId: z.string(),
  preview: z.string(),
  ephemeral: z.boolean(),
  createdAt: z.number().int(),
  updatedAt: z.number().int(),
  status: ThreadStatus,
  cwd: z.string(),
  cliVersion: z.string(),
  modelProvider: z.string(),
  /** The model configured for the thread when loaded, else the latest persisted one; null when unavailable. */
  model: z.string().nullish(),
  source: z.unknown(),
  turns: z.array(Turn),
  path: z.string().nullish(),
  name: z.string().nullish(),
  originator: z.string().nullish(),
  gitInfo: GitInfo.nullish(),
  parentThreadId: z.string().nullish(),
  forkedFromId: z.string().nullish(),
});
export type Thread = z.infer<typeof Thread>;

/**
 * Token counts of one model call or of a thread so far, as `thread/tokenUsage/updated` reports them. Codex
 * counts `cachedInputTokens` inside `inputTokens` and `reasoningOutputTokens` inside `outputTokens`;
 * `totalTokens` is input + output.
 */
export const TokenUsageBreakdown = z.looseObject({
  inputTokens: z.number().int(),
  cachedInputTokens: z.number().int(),
  outputTokens: z.number().int(),
  reasoningOutputTokens: z.number().int(),
  totalTokens: z.number().int(),
  /** Optional in codex's schema (default 0); not priced apart. */
  cacheWriteInputTokens: z.number().int().optional(),
});
export type TokenUsageBreakdown = z.infer<typeof TokenUsageBreakdown>;

/** A thread's token usage: `total` is cumulative since Codex began counting (a restarted app-server may begin again), `last` the latest call's. */
export const ThreadTokenUsage = z.looseObject({
  total: TokenUsageBreakdown,
  last: TokenUsageBreakdown,
  modelContextWindow: z.number().int().nullish(),
});
export type ThreadTokenUsage = z.infer<typeof ThreadTokenUsage>;
