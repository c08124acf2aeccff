/**
 * The registry's clock: every `intervalMs` it hands the wall-clock time to `tick`, which sends `SWEEP { nowMs }`
 * to the hosts of the fold. Time lives here, not in the machines (delayed transitions do not survive a restore).
 */

/** A running sweeper. */
export interface Sweeper {
  stop(): void;
}

/** Calls `tick(Date.now())` every `intervalMs`; a throwing tick is reported to `onError` and the sweeper keeps going. */
export function startSweeper(
  intervalMs: number,
  tick: (nowMs: number) => void,
  onError: (err: unknown) => void,
): Sweeper {
  const timer = setInterval(() => {
    try {
      tick(Date.now());
    } catch (err) {
      onError(err);
    }
  }, intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
