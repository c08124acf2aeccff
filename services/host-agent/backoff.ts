/** Reconnect delays and cancellable waits shared by the app-server watcher and the gateway client. */

/** Exponential back-off settings, in milliseconds. */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

/** Default reconnect back-off: 250 ms doubling to 10 s. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 250, maxMs: 10_000 };

/** The delay before retry number `attempt` (0-based): initial doubling up to max, with ±10 % jitter. Pure given `random`. */
export function backoffDelay(
  attempt: number,
  opts: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const base = Math.min(opts.maxMs, opts.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(base * (0.9 + 0.2 * random()));
}

/** Resolves after `ms`, or early (without rejecting) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** One retry timer per key, each backing off on its own; timers never keep the process alive. */
export class RetryTimers {
  private readonly entries = new Map<string, { timer?: NodeJS.Timeout; attempt: number }>();

  constructor(private readonly opts: BackoffOptions) {}

  /** Runs `fn` after the key's next back-off delay, replacing any timer already set for the key. */
  schedule(key: string, fn: () => void): void {
    const entry = this.entries.get(key) ?? { attempt: 0 };
    clearTimeout(entry.timer);
    entry.timer = setTimeout(
      () => {
        entry.timer = undefined;
        fn();
      },
      backoffDelay(entry.attempt++, this.opts),
    );
    entry.timer.unref();
    this.entries.set(key, entry);
  }

  /** Cancels the key's timer and forgets its back-off. */
  clear(key: string): void {
    clearTimeout(this.entries.get(key)?.timer);
    this.entries.delete(key);
  }

  /** Cancels every timer. */
  clearAll(): void {
    for (const key of [...this.entries.keys()]) this.clear(key);
  }
}
