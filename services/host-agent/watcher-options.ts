/** The watcher's options: what it reports to its owner, and the hook that answers the server requests it owns. */
import type { Logger } from "pino";
import type { Endpoint, InvalidServerRequestHandler, RawNotification } from "../codex-rpc/index.js";
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
  /** The app-server connection came up (after initialize) or went down. */
  connection(connected: boolean, detail: string): void;
}

/** Decides one server→client request (raw params): the reply to send, or `leaveToOwner` to stay silent. Must not throw. */
export type ServerRequestHook = InvalidServerRequestHandler;

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
