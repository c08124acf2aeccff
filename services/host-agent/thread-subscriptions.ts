/**
 * The agent's subscription to each tracked thread (thread-tracker.ts holds the threads): `thread/resume` (turn and
 * item events start flowing), retried with back-off while codex has no rollout for a brand-new thread, with the
 * turns a late subscription missed recovered (catch-up.ts) and the notifications that arrived meanwhile held back.
 *
 * Idle unload (idle-unload.ts decides when): `release` unsubscribes from an idle thread so codex may unload it;
 * only status changes arrive for it then. A released thread that shows work again (status active, a turn or item
 * event: a TUI the agent does not know of, or a turn racing the unsubscribe) is subscribed again, and the turns it
 * ran meanwhile are recovered the same way.
 */
import type { Logger } from "pino";
import type { Turn } from "../../schemas/codex/index.js";
import { type CodexRpcClient, findActiveTurnId, isCodexRpcError, type RawNotification } from "../codex-rpc/index.js";
import { isNoRolloutError } from "./app-server-errors.js";
import { turnsSince } from "./app-server-queries.js";
import { type BackoffOptions, RetryTimers } from "./backoff.js";
import { missedTurnNotifications } from "./catch-up.js";
import { snapshotOf, type TrackedThread } from "./thread-state.js";

/** What the subscriptions need of the tracker. */
export interface SubscriptionHost {
  /** True while `t` is still the tracked thread of its id on connection `gen`. */
  current(gen: number, t: TrackedThread): boolean;
  /** Applies a notification to the thread and reports it (the tracker's deliver). */
  deliver(client: CodexRpcClient, gen: number, t: TrackedThread, n: RawNotification): void;
  /** The thread's state was (re)read: the agent sends a snapshot. */
  synced(t: TrackedThread): void;
  now(): number;
  logger?: Logger;
}

/** What a subscription must recover: turns since `sinceMs` after turn `afterTurnId`, less what `arrived` covers. */
interface CatchUp {
  sinceMs: number;
  afterTurnId: string | null;
  arrived: RawNotification[];
}

/** A released thread: when, the unsubscribe in flight, and what arrived since (the catch-up's `arrived`). */
interface Released {
  atMs: number;
  afterTurnId: string | null;
  unsubscribing: Promise<unknown>;
  seen: RawNotification[];
}

/** At most this many notifications of a released thread are kept to dedupe its catch-up. */
const RELEASED_SEEN_LIMIT = 1_000;

/** The subscriptions of one tracker; see the module comment. */
export class ThreadSubscriptions {
  /** Notifications held while a late subscription recovers what it missed. */
  private readonly holding = new Map<string, RawNotification[]>();
  /** Threads whose next successful resume must recover missed turns: first seen through `thread/started`, or released. */
  private readonly needsCatchUp = new Map<string, CatchUp>();
  /** Threads the agent unsubscribed from while idle. */
  private readonly released = new Map<string, Released>();
  private readonly retries: RetryTimers;
  private readonly log: Logger | undefined;

  constructor(
    private readonly host: SubscriptionHost,
    pendingRetry: BackoffOptions,
  ) {
    this.retries = new RetryTimers(pendingRetry);
    this.log = host.logger;
  }

  /** True when the thread is subscribed, caught up, and nothing of it is held back. */
  settled(t: TrackedThread): boolean {
    return t.subscription === "subscribed" && !this.holding.has(t.id) && !this.needsCatchUp.has(t.id);
  }

  /** A thread first seen through `thread/started`: its first subscription recovers every turn since. */
  catchUpFromStart(t: TrackedThread): void {
    if (!this.needsCatchUp.has(t.id))
      this.needsCatchUp.set(t.id, { sinceMs: t.startedAtMs, afterTurnId: null, arrived: [] });
  }

  /** Holds `n` when the thread's notifications are held back (a catch-up runs); false otherwise. */
  hold(threadId: string, n: RawNotification): boolean {
    const held = this.holding.get(threadId);
    held?.push(n);
    return held !== undefined;
  }

  /** After the tracker delivered `n`: a released thread that shows work is subscribed again. */
  delivered(client: CodexRpcClient, gen: number, t: TrackedThread, n: RawNotification): void {
    const released = this.released.get(t.id);
    if (!released || n.method === "thread/closed") return;
    if (released.seen.length < RELEASED_SEEN_LIMIT) released.seen.push(n);
    if (showsWork(n)) void this.resubscribe(client, gen, t);
  }

  /** The thread is no longer tracked. */
  forget(threadId: string): void {
    this.needsCatchUp.delete(threadId);
    this.released.delete(threadId);
    this.holding.delete(threadId);
    this.retries.clear(threadId);
  }

  /** Cancels every scheduled subscription retry. */
  cancelRetries(): void {
    this.retries.clearAll();
  }

  /** The connection is gone: returns the held notifications (to report) and drops the connection's work. */
  disconnected(): Map<string, RawNotification[]> {
    const held = new Map(this.holding);
    this.holding.clear();
    this.released.clear();
    this.retries.clearAll();
    return held;
  }

  /** `thread/resume`, then a snapshot; "no rollout found" → pending, retried. */
  async subscribe(client: CodexRpcClient, gen: number, t: TrackedThread): Promise<void> {
    if (t.subscription === "subscribing" || t.subscription === "subscribed" || t.subscription === "released") return;
    const wasPending = t.subscription === "pending";
    const catchUp = this.needsCatchUp.get(t.id);
    t.subscription = "subscribing";
    if (catchUp) this.holding.set(t.id, []);
    try {
      const resumed = await client.request("thread/resume", { threadId: t.id, excludeTurns: true });
      if (!this.host.current(gen, t)) return;
      t.subscription = "subscribed";
      t.lastActivityMs = this.host.now();
      t.thread = { ...snapshotOf(resumed.thread), name: resumed.thread.name ?? t.thread.name };
      this.retries.clear(t.id);
      if (catchUp) {
        const turns = await this.recentTurns(client, t, catchUp);
        if (!this.host.current(gen, t)) return;
        this.needsCatchUp.delete(t.id);
        const held = this.holding.get(t.id) ?? [];
        this.holding.delete(t.id);
        const missed = missedTurnNotifications(t.id, turns, [...catchUp.arrived, ...held], this.host.now());
        for (const n of missed) this.host.deliver(client, gen, t, n);
        for (const n of held) if (this.host.current(gen, t)) this.host.deliver(client, gen, t, n);
      }
      if (t.thread.status.type === "active" && t.activeTurnId === null) {
        const before = t.turnEvents;
        const turnId = await findActiveTurnId(client, t.id).catch(() => null);
        if (t.turnEvents === before) t.activeTurnId = turnId;
      }
      if (this.host.current(gen, t)) this.host.synced(t);
    } catch (err) {
      if (!this.host.current(gen, t)) return;
      if (isCodexRpcError(err, "closed")) return;
      t.subscription = "pending";
      // No rollout yet means no turn yet: once subscribed, every turn it lists is one this connection missed.
      if (isNoRolloutError(err)) this.catchUpFromStart(t);
      else
        this.log?.warn({ threadId: t.id, err: (err as Error).message }, "could not subscribe to a thread; will retry");
      if (!wasPending) this.host.synced(t);
      this.scheduleRetry(client, gen, t);
      const held = this.holding.get(t.id) ?? [];
      this.holding.delete(t.id);
      for (const n of held) if (this.host.current(gen, t)) this.host.deliver(client, gen, t, n);
    }
  }

  /**
   * Unsubscribes from a settled thread (`thread/unsubscribe`) so codex may unload it once nobody else is
   * subscribed; the thread stays tracked as `released`. True when the agent unsubscribed. Should the answer not
   * come, the agent cannot tell whether it is still subscribed, and subscribes again.
   */
  async release(client: CodexRpcClient, gen: number, t: TrackedThread): Promise<boolean> {
    if (!this.host.current(gen, t) || !this.settled(t)) return false;
    t.subscription = "released";
    const unsubscribing = client.request("thread/unsubscribe", { threadId: t.id });
    const entry: Released = { atMs: this.host.now(), afterTurnId: t.lastTurnId, unsubscribing, seen: [] };
    this.released.set(t.id, entry);
    try {
      await unsubscribing;
      return true;
    } catch (err) {
      if (!this.host.current(gen, t) || this.released.get(t.id) !== entry) return false;
      this.log?.warn({ threadId: t.id, err: (err as Error).message }, "thread/unsubscribe failed; subscribing again");
      await this.resubscribe(client, gen, t);
      return false;
    }
  }

  /** A released thread is subscribed again, recovering the turns that ran since it was released. */
  async resubscribe(client: CodexRpcClient, gen: number, t: TrackedThread): Promise<void> {
    const entry = this.released.get(t.id);
    if (!entry) return;
    this.released.delete(t.id);
    // The resume goes out after the unsubscribe has been answered, so it is never the one undone.
    await entry.unsubscribing.catch(() => undefined);
    if (!this.host.current(gen, t)) return;
    this.needsCatchUp.set(t.id, { sinceMs: entry.atMs, afterTurnId: entry.afterTurnId, arrived: entry.seen });
    t.subscription = "none";
    await this.subscribe(client, gen, t);
  }

  /** The thread's turns the catch-up covers, oldest first; none (logged) when they cannot be listed. */
  private async recentTurns(client: CodexRpcClient, t: TrackedThread, from: CatchUp): Promise<Turn[]> {
    const turns = await turnsSince(client, t.id, from.sinceMs).catch((err: Error) => {
      this.log?.warn(
        { threadId: t.id, err: err.message },
        "could not list a thread's recent turns; events may be missing",
      );
      return [];
    });
    // Second precision: the last turn seen before a release may be listed too.
    const known = from.afterTurnId === null ? -1 : turns.findIndex((turn) => turn.id === from.afterTurnId);
    return turns.slice(known + 1);
  }

  private scheduleRetry(client: CodexRpcClient, gen: number, t: TrackedThread): void {
    this.retries.schedule(t.id, () => {
      if (t.subscription === "pending" && this.host.current(gen, t)) void this.subscribe(client, gen, t);
    });
  }
}

/** A notification that shows a released thread at work: status active, or a turn or item event. */
function showsWork(n: RawNotification): boolean {
  if (n.method === "thread/status/changed")
    return (n.params as { status?: { type?: unknown } } | undefined)?.status?.type === "active";
  return n.method.startsWith("turn/") || n.method.startsWith("item/");
}
