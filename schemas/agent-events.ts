/**
 * The event kinds a host agent adds to the app-server's own notifications on `codex.evt.<hostId>.<threadId>`.
 * App-server notifications travel with `type` = their method and `payload` = their (redacted) params;
 * the kinds below carry what the protocol does not say by itself.
 */
import { z } from "zod";
import { ThreadStatus } from "./codex/thread.js";
import { Disposition, Handoff, PendingAsk, Progress } from "./registry.js";

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
  /** The agent answered an approval request of an autonomous session, by policy. */
  approval: "agent/approval",
  /** The supervisor marked, assigned or handed off the thread (recorded by the agent so the log orders it). */
  annotation: "agent/annotation",
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

/** Payload of `agent/approval`: how the agent answered one approval request of an autonomous session. */
export const ApprovalPayload = z.object({
  method: z.string(),
  requestId: z.union([z.string(), z.number()]),
  allow: z.boolean(),
  reason: z.string(),
});
export type ApprovalPayload = z.infer<typeof ApprovalPayload>;

/** Payload of `agent/annotation`: a supervisor-set fact about the session (`mark`, `assign`, `handoff`, or a `progress` report and an `ask` from the session itself). */
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
]);
export type AnnotationPayload = z.infer<typeof AnnotationPayload>;
