/**
 * Idle unload: codex never unloads a thread a connection stays subscribed to, so an agent that followed every
 * thread forever would grow the host's daemon with every thread it ever loaded. The agent releases (unsubscribes
 * from) a thread that has been idle for `idleMs` with nobody attached; codex unloads it once no other client is
 * subscribed either, `thread_unload_delay_secs` later (60 s by default), and says so with `thread/closed`, which
 * the registry shows as `closed` (the history stays on disk: `read` still works, `send` resumes the thread).
 * A person's TUI attached through `launch` keeps the thread subscribed; so does a turn, an approval or input
 * waited on, and anything the agent still holds for the thread.
 *
 * `releasable` is the decision, pure; `IdleUnloader` sweeps the tracked threads on a timer and releases them.
 */
import type { Logger } from "pino";
import type { TrackedThread } from "./thread-state.js";

/** How long a thread stays subscribed while idle by default, in ms (10 minutes). */
export const DEFAULT_IDLE_UNLOAD_MS = 10 * 60_000;

/** What the decision needs besides the thread. */
export interface IdleFacts {
  /** The agent's view is complete and current (subscribed, nothing held back or being caught up). */
  settled: boolean;
  /** A person's TUI is attached (presence). */
  humanAttached: boolean;
  /** Approvals the agent holds for the thread (approval-holds.ts). */
  heldApprovals: number;
  /** Since when the thread counts as idle, in unix ms: its last activity, or the last time a person was attached. */
  idleSinceMs: number;
}

/** True when the agent should release the thread now: idle, unattached and quiet for at least `idleMs` (> 0). Pure. */
export function releasable(t: TrackedThread, facts: IdleFacts, nowMs: number, idleMs: number): boolean {
  return (
    idleMs > 0 &&
    facts.settled &&
    t.subscription === "subscribed" &&
    t.thread.status.type === "idle" &&
    t.activeTurnId === null &&
    !facts.humanAttached &&
    facts.heldApprovals === 0 &&
    nowMs - facts.idleSinceMs >= idleMs
  );
}

/** How often the unloader looks, in ms: a quarter of the idle time, between 50 ms and 30 s. Pure. */
export function sweepPeriodMs(idleMs: number): number {
  return Math.min(30_000, Math.max(50, Math.floor(idleMs / 4)));
}

/** What the unloader reads of the agent and the watcher. */
export interface IdleUnloaderOptions {
  /** Idle time before a release, in ms; 0 never releases. */
  idleMs: number;
  threads(): TrackedThread[];
  settled(threadId: string): boolean;
  humanAttached(threadId: string): boolean;
  heldApprovals(threadId: string): number;
  /** Unsubscribes (AppServerWatcher.release); true when it did. */
  release(threadId: string): Promise<boolean>;
  now?: () => number;
  logger?: Logger;
}

/** Releases idle threads on a timer; see the module comment. */
export class IdleUnloader {
  private timer: NodeJS.Timeout | undefined;
  /** The last sweep that saw a person attached to each thread: idle time counts from when they left. */
  private readonly attachedSeenAt = new Map<string, number>();
  private sweeping = false;
  private readonly now: () => number;

  constructor(private readonly opts: IdleUnloaderOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Starts sweeping (nothing when idleMs is 0); idempotent. */
  start(): void {
    if (this.opts.idleMs <= 0 || this.timer) return;
    this.timer = setInterval(() => void this.sweep(), sweepPeriodMs(this.opts.idleMs));
    this.timer.unref();
  }

  /** Stops sweeping; a release already sent is left to finish. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One look over the tracked threads: releases every releasable one; resolves with the ids released. */
  async sweep(): Promise<string[]> {
    if (this.sweeping) return [];
    this.sweeping = true;
    try {
      const now = this.now();
      const threads = this.opts.threads();
      const due: string[] = [];
      for (const t of threads) {
        const humanAttached = this.opts.humanAttached(t.id);
        if (humanAttached) this.attachedSeenAt.set(t.id, now);
        const facts: IdleFacts = {
          settled: this.opts.settled(t.id),
          humanAttached,
          heldApprovals: this.opts.heldApprovals(t.id),
          idleSinceMs: Math.max(t.lastActivityMs, this.attachedSeenAt.get(t.id) ?? 0),
        };
        if (releasable(t, facts, now, this.opts.idleMs)) due.push(t.id);
      }
      const tracked = new Set(threads.map((t) => t.id));
      for (const id of this.attachedSeenAt.keys()) if (!tracked.has(id)) this.attachedSeenAt.delete(id);
      const released: string[] = [];
      for (const id of due) {
        const done = await this.opts.release(id).catch((err: Error) => {
          this.opts.logger?.warn({ threadId: id, err: err.message }, "could not release an idle thread");
          return false;
        });
        if (done) released.push(id);
      }
      if (released.length)
        this.opts.logger?.info(
          { threads: released.length, idleMs: this.opts.idleMs },
          "released idle threads (unsubscribed) so codex can unload them",
        );
      return released;
    } finally {
      this.sweeping = false;
    }
  }
}
