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
  type RequestId,
  type ServerRequestMethod,
  type ServerRequestReply,
} from "../../schemas/codex/index.js";
import {
  type CallOptions,
  connectCodex,
  describeEndpoint,
  leaveToOwner,
  type CodexRpcClient,
  type CodexRpcError,
} from "../codex-rpc/index.js";
import { backoffDelay, DEFAULT_BACKOFF, sleep } from "./backoff.js";
import { ThreadTracker } from "./thread-tracker.js";
import type { TrackedThread } from "./thread-state.js";
import type { AppServerWatcherOptions } from "./watcher-options.js";

export type { AppServerWatcherOptions, ServerRequestHook, WatcherListener } from "./watcher-options.js";

/** Watches one app-server; see the module comment. The threads it tracks are thread-tracker.ts's. */
export class AppServerWatcher {
  private readonly threads: ThreadTracker;
  private client: CodexRpcClient | undefined;
  private gen = 0;
  private connectedFlag = false;
  /** True once `connection(false)` was reported and no `connection(true)` since. */
  private downReported = false;
  private readonly stopper = new AbortController();
  private loop: Promise<void> | undefined;
  private readonly log: Logger | undefined;

  constructor(private readonly opts: AppServerWatcherOptions) {
    this.log = opts.logger;
    this.threads = new ThreadTracker({
      listener: opts.listener,
      generation: () => this.gen,
      pendingRetry: opts.pendingRetry ?? { initialMs: 1_000, maxMs: 30_000 },
      now: opts.now ?? Date.now,
      logger: opts.logger,
    });
  }

  /** Starts connecting (idempotent); reconnects with back-off until stopped. */
  start(): void {
    this.loop ??= this.run();
  }

  /** Closes the connection and stops reconnecting; resolves when the loop has ended. */
  async stop(): Promise<void> {
    this.stopper.abort();
    this.client?.close();
    this.threads.cancelRetries();
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
    return this.threads.thread(threadId);
  }

  /** True when the agent's view of the thread is complete and current: subscribed, caught up, nothing held back. */
  viewSettled(threadId: string): boolean {
    return this.connectedFlag && this.threads.settled(threadId);
  }

  /** Every tracked thread (non-ephemeral, loaded as far as the agent knows). */
  tracked(): TrackedThread[] {
    return this.threads.tracked();
  }

  /** Unsubscribes from an idle, settled thread so codex may unload it (idle-unload.ts); true when it did. */
  async release(threadId: string): Promise<boolean> {
    const client = this.rpcClient;
    return client ? this.threads.release(client, this.gen, threadId) : false;
  }

  /**
   * The thread, subscribed, before a command acts on it: subscribed again when released, resumed (loaded) when
   * codex has unloaded it. Undefined without a connection or when it is not tracked after all; rejects with the
   * app-server's error when the resume fails.
   */
  async ensureSubscribed(threadId: string, call?: CallOptions): Promise<TrackedThread | undefined> {
    const client = this.rpcClient;
    return client ? this.threads.ensureSubscribed(client, this.gen, threadId, call) : undefined;
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
        this.reportDown(`app-server unreachable at ${where}: ${(err as Error).message}`);
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
        this.downReported = false;
        this.log?.info({ endpoint: where }, "connected to the app-server");
        this.opts.listener.connection(true, `connected to ${where}`);
        await this.threads.discoverAll(client, gen);
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
        (params, ctx) =>
          this.answer(method, params, ctx.id, true) as
            | ServerRequestReply<typeof method>
            | typeof leaveToOwner
            | Promise<ServerRequestReply<typeof method> | typeof leaveToOwner>,
      );
    }
    client.onInvalidServerRequest((method, params, ctx) => {
      const outcome = this.answer(method, params, ctx.id, false);
      if (!(outcome instanceof Promise)) return outcome;
      this.log?.error(
        { method, id: ctx.id },
        "the approvals hook held a request that must be answered at once; leaving it",
      );
      return leaveToOwner;
    });
    client.onAnyNotification((n) => {
      if (gen === this.gen) this.threads.onNotification(client, gen, n);
    });
  }

  /**
   * The hook's reply (the client checks it against the kind's schema), leaveToOwner, or a promise of either (a
   * held request; only when `canHold`); a throwing hook answers nothing.
   */
  private answer(
    method: ServerRequestMethod,
    params: unknown,
    id: RequestId,
    canHold: boolean,
  ):
    | ServerRequestReply<ServerRequestMethod>
    | typeof leaveToOwner
    | Promise<ServerRequestReply<ServerRequestMethod> | typeof leaveToOwner> {
    try {
      return this.opts.approvals?.(method, params, { id, canHold }) ?? leaveToOwner;
    } catch (err) {
      this.log?.error(
        { method, id, err: (err as Error).message },
        "the approvals hook threw; leaving the request to its owner",
      );
      return leaveToOwner;
    }
  }

  private onDisconnected(gen: number, why: CodexRpcError): void {
    if (gen !== this.gen) return;
    this.gen++;
    this.client = undefined;
    const wasConnected = this.connectedFlag;
    this.connectedFlag = false;
    this.threads.disconnected();
    if (wasConnected) {
      this.log?.warn(
        { endpoint: describeEndpoint(this.opts.endpoint), reason: why.message },
        "lost the app-server connection",
      );
    }
    if (!this.stopper.signal.aborted) this.reportDown(why.message);
  }

  /** Tells the listener the app-server is down, once per outage (a stop is no outage). */
  private reportDown(detail: string): void {
    if (this.downReported || this.stopper.signal.aborted) return;
    this.downReported = true;
    this.opts.listener.connection(false, detail);
  }
}
