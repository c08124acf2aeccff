/** The watcher's options: what it reports to its owner, and the hook that answers the server requests it owns. */
import type { Logger } from "pino";
import type { RequestId, ServerRequestMethod, ServerRequestReply } from "../../schemas/codex/index.js";
import type { Endpoint, leaveToOwner, RawNotification } from "../codex-rpc/index.js";
import type { BackoffOptions } from "./backoff.js";
import type { TrackedThread } from "./thread-state.js";

/** What the watcher reports; calls are synchronous and in the order things happened. */
export interface WatcherListener {
  /** A notification about a tracked thread (or one recovered for it, see catch-up.ts). */
  notification(threadId: string, n: RawNotification): void;
  /** The thread's state was (re)read: the agent sends a snapshot. */
  synced(thread: TrackedThread): void;
  /** A non-ephemeral thread is now tracked (started, or found loaded). */
  threadTracked(thread: TrackedThread): void;
  /** A tracked thread was closed, or is no longer loaded after a reconnect. */
  threadGone(thread: TrackedThread): void;
  /**
   * The app-server connection came up (after initialize) or went down; down is also said once when it cannot
   * be reached at all (at start), never twice in a row.
   */
  connection(connected: boolean, detail: string): void;
  /** After each (re)connection: the threads the app-server has loaded, before any of them is synced. */
  loadedThreads(threadIds: readonly string[]): void;
}

/**
 * Decides one server→client request (raw params): the reply to send, `leaveToOwner` to stay silent, or a
 * promise of either (a request held for an answer; only when `ctx.canHold` is not false: a request whose params
 * fail their schema must be answered at once). Must not throw.
 */
export type ServerRequestHook = (
  method: ServerRequestMethod,
  params: unknown,
  ctx: { id: RequestId; canHold?: boolean },
) => HookReply | Promise<HookReply>;
type HookReply = ServerRequestReply<ServerRequestMethod> | typeof leaveToOwner;

/** Options of the watcher. */
export interface AppServerWatcherOptions {
  endpoint: Endpoint;
  listener: WatcherListener;
  clientInfo: { name: string; title?: string; version: string };
  logger?: Logger;
  /** Reconnect back-off (default 250 ms doubling to 10 s). */
  backoff?: BackoffOptions;
  /** Retry back-off for a thread whose resume said "no rollout found" (default 1 s doubling to 30 s). */
  pendingRetry?: BackoffOptions;
  /** Per-request timeout in ms (default 10 000). */
  requestTimeoutMs?: number;
  now?: () => number;
  /** Answers the server requests this agent owns; without it every request is left to its owner. */
  approvals?: ServerRequestHook;
}
