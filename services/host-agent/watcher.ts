/**
 * The app-server watcher: one connection to the local Codex app-server, kept up with back-off, that tracks
 * every loaded non-ephemeral thread, subscribes to each (`thread/resume`), and reports what happens to them.
 * It answers no server request unless given an `approvals` hook (approval-owner.ts): everything the hook does
 * not answer is left to the connection that owns it.
 */
import type { Logger } from "pino";
import {
  noisyNotificationMethods,
  serverRequests,
  Thread,
  type RequestId,
  type ServerRequestMethod,
  type ServerRequestReply,
  type Turn,
} from "../../schemas/codex/index.js";
import {
  connectCodex,
  describeEndpoint,
  findActiveTurnId,
  isCodexRpcError,
  leaveToOwner,
  type CodexRpcClient,
  type CodexRpcError,
  type RawNotification,
} from "../codex-rpc/index.js";
import { isNoRolloutError } from "./app-server-errors.js";
import { loadedThreadIds, turnsSince } from "./app-server-queries.js";
import { backoffDelay, DEFAULT_BACKOFF, RetryTimers, sleep } from "./backoff.js";
import { missedTurnNotifications } from "./catch-up.js";
import { applyNotification, newTrackedThread, snapshotOf, threadIdOf, type TrackedThread } from "./thread-state.js";
import type { AppServerWatcherOptions } from "./watcher-options.js";

export type { AppServerWatcherOptions, ServerRequestHook, WatcherListener } from "./watcher-options.js";

/** Watches one app-server; see the module comment. */
export class AppServerWatcher {
  private readonly threads = new Map<string, TrackedThread>();
  private readonly ephemeral = new Set<string>();
  /** Notifications for threads being looked up (thread/read in flight). */
  private readonly discovering = new Map<string, RawNotification[]>();
  /** Notifications held while a late first subscription recovers what it missed. */
  private readonly holding = new Map<string, RawNotification[]>();
  private readonly retries: RetryTimers;
  /** Threads first seen through `thread/started` whose first successful resume must recover missed turns. */
  private readonly needsCatchUp = new Set<string>();
  private client: CodexRpcClient | undefined;
  private gen = 0;
  private connectedFlag = false;
  private readonly stopper = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly log: Logger | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: AppServerWatcherOptions) {
    this.log = opts.logger;
    this.now = opts.now ?? Date.now;
    this.retries = new RetryTimers(opts.pendingRetry ?? { initialMs: 1_000, maxMs: 30_000 });
  }

  /** Starts connecting (idempotent); reconnects with back-off until stopped. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Closes the connection and stops reconnecting; resolves when the loop has ended. */
  async stop(): Promise<void> {
    this.stopper.abort();
    this.client?.close();
    this.retries.clearAll();
    await this.loop;
  }

  /** True while initialized on a live connection. */
  get connected(): boolean {
    return this.connectedFlag;
  }

  /** The initialized app-server connection, or undefined while disconnected (commands run on it). */
  get rpcClient(): CodexRpcClient | undefined {
    return this.connectedFlag ? this.client : undefined;
  }

  /** One tracked thread, or undefined when it is not tracked. */
  thread(threadId: string): TrackedThread | undefined {
    return this.threads.get(threadId);
  }

  /** True when the agent's view of the thread is complete and current: subscribed, caught up, nothing held back. */
  viewSettled(threadId: string): boolean {
    const t = this.threads.get(threadId);
    return (
      this.connectedFlag &&
      t?.subscription === "subscribed" &&
      !this.holding.has(threadId) &&
      !this.needsCatchUp.has(threadId)
    );
  }

  /** Every tracked thread (non-ephemeral, loaded as far as the agent knows). */
  tracked(): TrackedThread[] {
    return [...this.threads.values()];
  }

  private async run(): Promise<void> {
    const where = describeEndpoint(this.opts.endpoint);
    const timeoutMs = this.opts.requestTimeoutMs ?? 10_000;
    let attempt = 0;
    while (!this.stopper.signal.aborted) {
      let client: CodexRpcClient;
      try {
        client = await connectCodex(this.opts.endpoint, {
          requestTimeoutMs: timeoutMs,
          connectTimeoutMs: timeoutMs,
          logger: this.log,
        });
      } catch (err) {
        const delay = backoffDelay(attempt++, this.opts.backoff ?? DEFAULT_BACKOFF);
        this.log?.[attempt === 1 ? "warn" : "debug"](
          { endpoint: where, err: (err as Error).message, retryInMs: delay },
          "app-server unreachable",
        );
        await sleep(delay, this.stopper.signal);
        continue;
      }
      const gen = ++this.gen;
      this.client = client;
      const closed = client.closed();
      if (this.stopper.signal.aborted) client.close();
      try {
        this.attach(client, gen);
        await client.initialize({
          clientInfo: this.opts.clientInfo,
          optOutNotificationMethods: noisyNotificationMethods,
        });
        attempt = 0;
        this.connectedFlag = true;
        this.log?.info({ endpoint: where }, "connected to the app-server");
        this.opts.listener.connection(true, `connected to ${where}`);
        await this.discoverAll(client, gen);
      } catch (err) {
        if (gen === this.gen && !this.stopper.signal.aborted)
          this.log?.warn({ endpoint: where, err: (err as Error).message }, "app-server session failed");
        client.close();
      }
      this.onDisconnected(gen, await closed);
      if (!this.stopper.signal.aborted)
        await sleep(backoffDelay(attempt++, this.opts.backoff ?? DEFAULT_BACKOFF), this.stopper.signal);
    }
  }

  private attach(client: CodexRpcClient, gen: number): void {
    for (const method of Object.keys(serverRequests) as ServerRequestMethod[]) {
      client.handleServerRequest(
        method,
        (params, ctx) => this.answer(method, params, ctx.id) as ServerRequestReply<typeof method> | typeof leaveToOwner,
      );
    }
    client.onInvalidServerRequest((method, params, ctx) => this.answer(method, params, ctx.id));
    client.onAnyNotification((n) => {
      if (gen === this.gen) this.onNotification(client, gen, n);
    });
  }

  /** The hook's reply (the client checks it against the kind's schema), or leaveToOwner; a throwing hook answers nothing. */
  private answer(
    method: ServerRequestMethod,
    params: unknown,
    id: RequestId,
  ): ServerRequestReply<ServerRequestMethod> | typeof leaveToOwner {
    try {
      return this.opts.approvals?.(method, params, { id }) ?? leaveToOwner;
    } catch (err) {
      this.log?.error(
        { method, id, err: (err as Error).message },
        "the approvals hook threw; leaving the request to its owner",
      );
      return leaveToOwner;
    }
  }

  private onNotification(client: CodexRpcClient, gen: number, n: RawNotification): void {
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
      this.opts.listener.threadTracked(t);
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
    this.opts.listener.notification(t.id, n);
    if (n.method === "thread/closed") {
      this.untrack(t);
      this.opts.listener.threadGone(t);
    } else if (n.method === "thread/status/changed" && t.subscription === "pending") {
      void this.subscribe(client, gen, t);
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
      this.opts.listener.threadTracked(t);
    }
    for (const n of pending) if (this.threads.has(threadId)) this.deliver(client, gen, t, n);
    if (this.threads.has(threadId)) await this.subscribe(client, gen, t);
  }

  private async discoverAll(client: CodexRpcClient, gen: number): Promise<void> {
    const ids = await loadedThreadIds(client);
    if (gen !== this.gen) return;
    const loaded = new Set(ids);
    for (const t of [...this.threads.values()]) {
      if (loaded.has(t.id)) continue;
      // Not loaded on this server (it restarted, or unloaded the thread while we were away).
      this.untrack(t);
      t.thread = { ...t.thread, status: { type: "notLoaded" } };
      t.activeTurnId = null;
      this.opts.listener.synced(t);
      this.opts.listener.threadGone(t);
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
      if (gen === this.gen && this.threads.has(t.id)) this.opts.listener.synced(t);
    } catch (err) {
      if (gen !== this.gen || !this.threads.has(t.id)) return;
      if (isCodexRpcError(err, "closed")) return;
      t.subscription = "pending";
      // No rollout yet means no turn yet: once subscribed, every turn it lists is one this connection missed.
      if (isNoRolloutError(err)) this.needsCatchUp.add(t.id);
      else
        this.log?.warn({ threadId: t.id, err: (err as Error).message }, "could not subscribe to a thread; will retry");
      if (!wasPending) this.opts.listener.synced(t);
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

  private onDisconnected(gen: number, why: CodexRpcError): void {
    if (gen !== this.gen) return;
    this.gen++;
    this.client = undefined;
    const wasConnected = this.connectedFlag;
    this.connectedFlag = false;
    for (const [threadId, held] of this.holding) {
      const t = this.threads.get(threadId);
      if (t) for (const n of held) this.opts.listener.notification(threadId, applyNotificationAndReturn(t, n));
    }
    this.holding.clear();
    this.discovering.clear();
    this.ephemeral.clear();
    this.retries.clearAll();
    for (const t of this.threads.values()) t.subscription = "none";
    if (wasConnected) {
      this.log?.warn(
        { endpoint: describeEndpoint(this.opts.endpoint), reason: why.message },
        "lost the app-server connection",
      );
      this.opts.listener.connection(false, why.message);
    }
  }
}

function applyNotificationAndReturn(t: TrackedThread, n: RawNotification): RawNotification {
  applyNotification(t, n.method, n.params);
  return n;
}
