/**
 * The watcher's threads on one app-server connection: which are tracked (non-ephemeral, loaded), notifications
 * queued while a thread is looked up, and the listener calls for all of it; the subscription of each thread
 * (`thread/resume`, idle release) is thread-subscriptions.ts's. Every step carries the connection generation it
 * belongs to and stops when that is no longer the current one (see watcher.ts). `ensureSubscribed` readies a
 * thread for a command: a released one is subscribed again, one codex unloaded is resumed, which loads it.
 */
import type { Logger } from "pino";
import { Thread } from "../../schemas/codex/index.js";
import type { CallOptions, CodexRpcClient, RawNotification } from "../codex-rpc/index.js";
import { loadedThreadIds } from "./app-server-queries.js";
import type { BackoffOptions } from "./backoff.js";
import { applyNotification, newTrackedThread, snapshotOf, type TrackedThread, threadIdOf } from "./thread-state.js";
import { ThreadSubscriptions } from "./thread-subscriptions.js";
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
  private readonly subs: ThreadSubscriptions;
  /** Threads whose preview is being read (thread/read in flight). */
  private readonly previewReads = new Set<string>();
  /** Look-ups in flight (discoverOne), so a command can wait for one. */
  private readonly lookups = new Map<string, Promise<void>>();
  private readonly listener: ThreadTrackerDeps["listener"];
  private readonly log: Logger | undefined;
  private readonly now: () => number;

  constructor(private readonly deps: ThreadTrackerDeps) {
    this.listener = deps.listener;
    this.log = deps.logger;
    this.now = deps.now;
    this.subs = new ThreadSubscriptions(
      {
        current: (gen, t) => gen === this.gen && this.threads.get(t.id) === t,
        deliver: (client, gen, t, n) => this.deliver(client, gen, t, n),
        synced: (t) => this.listener.synced(t),
        now: deps.now,
        logger: deps.logger,
      },
      deps.pendingRetry,
    );
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
    return t !== undefined && this.subs.settled(t);
  }

  /** Cancels every scheduled subscription retry. */
  cancelRetries(): void {
    this.subs.cancelRetries();
  }

  /**
   * The connection is gone: held notifications are applied and reported (the listener sees nothing lost), the
   * look-ups and retries of that connection are dropped, and every thread waits for the next subscription.
   */
  disconnected(): void {
    for (const [threadId, held] of this.subs.disconnected()) {
      const t = this.threads.get(threadId);
      if (t) for (const n of held) this.listener.notification(threadId, applyNotificationAndReturn(t, n));
    }
    this.discovering.clear();
    this.ephemeral.clear();
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
      if (!parsed.success) return void this.lookUp(client, gen, threadId, [n]);
      if (parsed.data.ephemeral) return void this.ephemeral.add(threadId);
      const t = newTrackedThread(parsed.data, this.now(), this.now());
      this.threads.set(threadId, t);
      this.subs.catchUpFromStart(t);
      this.listener.threadTracked(t);
      this.deliver(client, gen, t, n);
      void this.subs.subscribe(client, gen, t);
      return;
    }
    if (this.ephemeral.has(threadId)) {
      if (n.method === "thread/closed") this.ephemeral.delete(threadId);
      return;
    }
    const t = this.threads.get(threadId);
    if (!t) return void this.lookUp(client, gen, threadId, [n]);
    if (!this.subs.hold(threadId, n)) this.deliver(client, gen, t, n);
  }

  private deliver(client: CodexRpcClient, gen: number, t: TrackedThread, n: RawNotification): void {
    applyNotification(t, n.method, n.params);
    t.lastActivityMs = this.now();
    this.listener.notification(t.id, n);
    this.subs.delivered(client, gen, t, n);
    if (n.method === "thread/closed") {
      this.untrack(t);
      this.listener.threadGone(t);
    } else if (n.method === "thread/status/changed" && t.subscription === "pending") {
      void this.subs.subscribe(client, gen, t);
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
    this.subs.forget(t.id);
  }

  /** discoverOne, registered in `lookups` while it runs. */
  private lookUp(client: CodexRpcClient, gen: number, threadId: string, queued: RawNotification[]): Promise<void> {
    const running = this.discoverOne(client, gen, threadId, queued).finally(() => {
      if (this.lookups.get(threadId) === running) this.lookups.delete(threadId);
    });
    this.lookups.set(threadId, running);
    return running;
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
      t = newTrackedThread(thread, thread.createdAt * 1000, this.now());
      this.threads.set(threadId, t);
      this.listener.threadTracked(t);
    }
    for (const n of pending) if (this.threads.has(threadId)) this.deliver(client, gen, t, n);
    if (this.threads.get(threadId) === t) await this.subs.subscribe(client, gen, t);
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
      if (!this.ephemeral.has(id) && !this.discovering.has(id)) await this.lookUp(client, gen, id, []);
    }
  }

  /** Unsubscribes from an idle thread so codex may unload it (see thread-subscriptions.ts); true when it did. */
  release(client: CodexRpcClient, gen: number, threadId: string): Promise<boolean> {
    const t = this.threads.get(threadId);
    return t ? this.subs.release(client, gen, t) : Promise.resolve(false);
  }

  /**
   * The thread, subscribed, for a command that acts on it: a released thread is subscribed again; one codex has
   * not loaded (unloaded: `closed`) is resumed, which loads it, then looked up and tracked as any loaded thread.
   * Undefined when it is not tracked after all (ephemeral, or the connection changed); rejects with the
   * app-server's error when the resume fails.
   */
  async ensureSubscribed(
    client: CodexRpcClient,
    gen: number,
    threadId: string,
    call?: CallOptions,
  ): Promise<TrackedThread | undefined> {
    await this.lookups.get(threadId);
    const t = this.threads.get(threadId);
    if (t?.subscription === "released") await this.subs.resubscribe(client, gen, t);
    if (t || this.ephemeral.has(threadId)) return t;
    await client.request("thread/resume", { threadId, excludeTurns: true }, call);
    // Its thread/status/changed may already have started the look-up.
    if (gen === this.gen) await (this.lookups.get(threadId) ?? this.lookUp(client, gen, threadId, []));
    return this.threads.get(threadId);
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
