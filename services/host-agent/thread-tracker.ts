/**
 * The watcher's threads on one app-server connection: which are tracked (non-ephemeral, loaded), the subscription
 * of each (`thread/resume`, retried with back-off while codex has no rollout for it), notifications held while a
 * thread is looked up or recovers what it missed, and the listener calls for all of it. Every step carries the
 * connection generation it belongs to and stops when that is no longer the current one (see watcher.ts).
 */
import type { Logger } from "pino";
import { Thread, type Turn } from "../../schemas/codex/index.js";
import { type CodexRpcClient, findActiveTurnId, isCodexRpcError, type RawNotification } from "../codex-rpc/index.js";
import { isNoRolloutError } from "./app-server-errors.js";
import { loadedThreadIds, turnsSince } from "./app-server-queries.js";
import { type BackoffOptions, RetryTimers } from "./backoff.js";
import { missedTurnNotifications } from "./catch-up.js";
import { applyNotification, newTrackedThread, snapshotOf, type TrackedThread, threadIdOf } from "./thread-state.js";
import type { WatcherListener } from "./watcher-options.js";

/** What the tracker reports to and reads from its watcher. */
export interface ThreadTrackerDeps {
  listener: Omit<WatcherListener, "connection">;
  /** The current connection generation: work of an older one is dropped. */
  generation(): number;
  /** Retry back-off of a pending subscription. */
  pendingRetry: BackoffOptions;
  now(): number;
  logger?: Logger;
}

/** Tracks and subscribes to the threads of the watcher's connection; see the module comment. */
export class ThreadTracker {
  private readonly threads = new Map<string, TrackedThread>();
  private readonly ephemeral = new Set<string>();
  /** Notifications for threads being looked up (thread/read in flight). */
  private readonly discovering = new Map<string, RawNotification[]>();
  /** Notifications held while a late first subscription recovers what it missed. */
  private readonly holding = new Map<string, RawNotification[]>();
  private readonly retries: RetryTimers;
  /** Threads whose preview is being read (thread/read in flight). */
  private readonly previewReads = new Set<string>();
  /** Threads first seen through `thread/started` whose first successful resume must recover missed turns. */
  private readonly needsCatchUp = new Set<string>();
  private readonly listener: ThreadTrackerDeps["listener"];
  private readonly log: Logger | undefined;
  private readonly now: () => number;

  constructor(private readonly deps: ThreadTrackerDeps) {
    this.listener = deps.listener;
    this.log = deps.logger;
    this.now = deps.now;
    this.retries = new RetryTimers(deps.pendingRetry);
  }

  private get gen(): number {
    return this.deps.generation();
  }

  /** One tracked thread, or undefined when it is not tracked. */
  thread(threadId: string): TrackedThread | undefined {
    return this.threads.get(threadId);
  }

  /** Every tracked thread. */
  tracked(): TrackedThread[] {
    return [...this.threads.values()];
  }

  /** True when the thread is subscribed, caught up, and nothing of it is held back. */
  settled(threadId: string): boolean {
    const t = this.threads.get(threadId);
    return t?.subscription === "subscribed" && !this.holding.has(threadId) && !this.needsCatchUp.has(threadId);
  }

  /** Cancels every scheduled subscription retry. */
  cancelRetries(): void {
    this.retries.clearAll();
  }

  /**
   * The connection is gone: held notifications are applied and reported (the listener sees nothing lost), the
   * look-ups and retries of that connection are dropped, and every thread waits for the next subscription.
   */
  disconnected(): void {
    for (const [threadId, held] of this.holding) {
      const t = this.threads.get(threadId);
      if (t) for (const n of held) this.listener.notification(threadId, applyNotificationAndReturn(t, n));
    }
    this.holding.clear();
    this.discovering.clear();
    this.ephemeral.clear();
    this.retries.clearAll();
    for (const t of this.threads.values()) t.subscription = "none";
  }

  /** One notification of connection generation `gen` (the watcher drops those of an older one). */
  onNotification(client: CodexRpcClient, gen: number, n: RawNotification): void {
    const threadId = threadIdOf(n.params);
    if (!threadId) return;
    const queued = this.discovering.get(threadId);
    if (queued) {
      queued.push(n);
      return;
    }
    if (n.method === "thread/started" && !this.threads.has(threadId)) {
      const parsed = Thread.safeParse((n.params as { thread?: unknown }).thread);
      if (!parsed.success) return void this.discoverOne(client, gen, threadId, [n]);
      if (parsed.data.ephemeral) return void this.ephemeral.add(threadId);
      const t = newTrackedThread(parsed.data, this.now());
      this.threads.set(threadId, t);
      this.needsCatchUp.add(threadId);
      this.listener.threadTracked(t);
      this.deliver(client, gen, t, n);
      void this.subscribe(client, gen, t);
      return;
    }
    if (this.ephemeral.has(threadId)) {
      if (n.method === "thread/closed") this.ephemeral.delete(threadId);
      return;
    }
    const t = this.threads.get(threadId);
    if (!t) return void this.discoverOne(client, gen, threadId, [n]);
    const held = this.holding.get(threadId);
    if (held) held.push(n);
    else this.deliver(client, gen, t, n);
  }

  private deliver(client: CodexRpcClient, gen: number, t: TrackedThread, n: RawNotification): void {
    applyNotification(t, n.method, n.params);
    this.listener.notification(t.id, n);
    if (n.method === "thread/closed") {
      this.untrack(t);
      this.listener.threadGone(t);
    } else if (n.method === "thread/status/changed" && t.subscription === "pending") {
      void this.subscribe(client, gen, t);
    } else if (t.thread.preview === "" && mayHavePreview(n)) {
      void this.readPreview(client, gen, t);
    }
  }

  /**
   * A thread that had no preview (no user message yet) when it was last read may have one now: read it, and
   * sync the thread when it has, so a session started while the agent runs shows its first message at once
   * (without this only a later re-read, at the agent's next connection, would carry it).
   */
  private async readPreview(client: CodexRpcClient, gen: number, t: TrackedThread): Promise<void> {
    if (this.previewReads.has(t.id)) return;
    this.previewReads.add(t.id);
    try {
      const { thread } = await client.request("thread/read", { threadId: t.id });
      if (gen !== this.gen || this.threads.get(t.id) !== t || t.thread.preview !== "" || thread.preview === "") return;
      t.thread = { ...t.thread, preview: thread.preview };
      this.listener.synced(t);
    } catch (err) {
      this.log?.debug({ threadId: t.id, err: (err as Error).message }, "thread/read for the preview failed");
    } finally {
      this.previewReads.delete(t.id);
    }
  }

  private untrack(t: TrackedThread): void {
    this.threads.delete(t.id);
    this.needsCatchUp.delete(t.id);
    this.holding.delete(t.id);
    this.retries.clear(t.id);
  }

  /** Looks a thread up with thread/read, then tracks and subscribes to it unless it is ephemeral. */
  private async discoverOne(
    client: CodexRpcClient,
    gen: number,
    threadId: string,
    queued: RawNotification[],
  ): Promise<void> {
    this.discovering.set(threadId, queued);
    let thread: Thread;
    try {
      thread = (await client.request("thread/read", { threadId })).thread;
    } catch (err) {
      if (gen === this.gen) this.discovering.delete(threadId);
      this.log?.debug({ threadId, err: (err as Error).message }, "thread/read failed; not tracking the thread");
      return;
    }
    if (gen !== this.gen) return;
    const pending = this.discovering.get(threadId) ?? [];
    this.discovering.delete(threadId);
    if (thread.ephemeral) return void this.ephemeral.add(threadId);
    let t = this.threads.get(threadId);
    if (t) t.thread = snapshotOf(thread);
    else {
      t = newTrackedThread(thread, thread.createdAt * 1000);
      this.threads.set(threadId, t);
      this.listener.threadTracked(t);
    }
    for (const n of pending) if (this.threads.has(threadId)) this.deliver(client, gen, t, n);
    if (this.threads.has(threadId)) await this.subscribe(client, gen, t);
  }

  /** After (re)connecting: forgets threads no longer loaded, then looks up and subscribes to every loaded one. */
  async discoverAll(client: CodexRpcClient, gen: number): Promise<void> {
    const ids = await loadedThreadIds(client);
    if (gen !== this.gen) return;
    this.listener.loadedThreads(ids);
    const loaded = new Set(ids);
    for (const t of [...this.threads.values()]) {
      if (loaded.has(t.id)) continue;
      // Not loaded on this server (it restarted, or unloaded the thread while we were away).
      this.untrack(t);
      t.thread = { ...t.thread, status: { type: "notLoaded" } };
      t.activeTurnId = null;
      this.listener.synced(t);
      this.listener.threadGone(t);
    }
    for (const id of ids) {
      if (gen !== this.gen) return;
      if (!this.ephemeral.has(id) && !this.discovering.has(id)) await this.discoverOne(client, gen, id, []);
    }
  }

  /** `thread/resume` (turn and item events start flowing), then a snapshot; "no rollout found" → pending, retried. */
  private async subscribe(client: CodexRpcClient, gen: number, t: TrackedThread): Promise<void> {
    if (t.subscription === "subscribing" || t.subscription === "subscribed") return;
    const wasPending = t.subscription === "pending";
    const catchUp = this.needsCatchUp.has(t.id);
    t.subscription = "subscribing";
    if (catchUp) this.holding.set(t.id, []);
    try {
      const resumed = await client.request("thread/resume", { threadId: t.id, excludeTurns: true });
      if (gen !== this.gen || !this.threads.has(t.id)) return;
      t.subscription = "subscribed";
      t.thread = { ...snapshotOf(resumed.thread), name: resumed.thread.name ?? t.thread.name };
      this.retries.clear(t.id);
      if (catchUp) {
        const turns = await this.recentTurns(client, t);
        if (gen !== this.gen || !this.threads.has(t.id)) return;
        this.needsCatchUp.delete(t.id);
        const held = this.holding.get(t.id) ?? [];
        this.holding.delete(t.id);
        for (const n of missedTurnNotifications(t.id, turns, held, this.now())) this.deliver(client, gen, t, n);
        for (const n of held) if (this.threads.has(t.id)) this.deliver(client, gen, t, n);
      }
      if (t.thread.status.type === "active" && t.activeTurnId === null) {
        const before = t.turnEvents;
        const turnId = await findActiveTurnId(client, t.id).catch(() => null);
        if (t.turnEvents === before) t.activeTurnId = turnId;
      }
      if (gen === this.gen && this.threads.has(t.id)) this.listener.synced(t);
    } catch (err) {
      if (gen !== this.gen || !this.threads.has(t.id)) return;
      if (isCodexRpcError(err, "closed")) return;
      t.subscription = "pending";
      // No rollout yet means no turn yet: once subscribed, every turn it lists is one this connection missed.
      if (isNoRolloutError(err)) this.needsCatchUp.add(t.id);
      else
        this.log?.warn({ threadId: t.id, err: (err as Error).message }, "could not subscribe to a thread; will retry");
      if (!wasPending) this.listener.synced(t);
      this.scheduleRetry(client, gen, t);
      const held = this.holding.get(t.id) ?? [];
      this.holding.delete(t.id);
      for (const n of held) if (this.threads.has(t.id)) this.deliver(client, gen, t, n);
    }
  }

  /** The thread's turns since the agent first saw it, oldest first; none (logged) when they cannot be listed. */
  private async recentTurns(client: CodexRpcClient, t: TrackedThread): Promise<Turn[]> {
    return turnsSince(client, t.id, t.startedAtMs).catch((err: Error) => {
      this.log?.warn(
        { threadId: t.id, err: err.message },
        "could not list a new thread's turns; its first events may be missing",
      );
      return [];
    });
  }

  private scheduleRetry(client: CodexRpcClient, gen: number, t: TrackedThread): void {
    this.retries.schedule(t.id, () => {
      if (gen === this.gen && t.subscription === "pending" && this.threads.get(t.id) === t)
        void this.subscribe(client, gen, t);
    });
  }
}

/** A notification after which Codex has the thread's first user message: a user message item, or a turn's end. */
function mayHavePreview(n: RawNotification): boolean {
  if (n.method === "turn/completed") return true;
  const item = (n.params as { item?: { type?: unknown } } | undefined)?.item;
  return n.method === "item/completed" && item?.type === "userMessage";
}

function applyNotificationAndReturn(t: TrackedThread, n: RawNotification): RawNotification {
  applyNotification(t, n.method, n.params);
  return n;
}
