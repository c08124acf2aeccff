/** Waiting in tests: one way to retry a check that throws, one way to wait for a value. */

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until `check` returns without throwing (assertions inside), or throws its last error after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T> | T, timeoutMs = 10_000, stepMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(stepMs);
    }
  }
}

/** How {@link until} waits. */
export interface UntilOptions {
  /** Default 30 s. */
  timeoutMs?: number;
  /** Time between probes; default 100 ms. */
  stepMs?: number;
  /** More to say when it times out (a log tail, say). */
  detail?: () => string;
}

/** A probe's answer: `undefined` or `false` (or a throw) means "not yet"; anything else is the value. */
export type Probe<T> = () => Promise<T | undefined | false> | T | undefined | false;

/**
 * Resolves with the first value `probe` gives that is neither `undefined` nor `false`, polling it; a probe that
 * throws counts as "not yet". After the timeout it rejects with "timed out waiting for <what>" and the probe's
 * last error, if any.
 */
export async function until<T>(what: string, probe: Probe<T>, options: number | UntilOptions = {}): Promise<T> {
  const o = typeof options === "number" ? { timeoutMs: options } : options;
  const deadline = Date.now() + (o.timeoutMs ?? 30_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const cause = lastError === undefined ? "" : ` (last error: ${String(lastError)})`;
      const detail = o.detail ? `\n${o.detail()}` : "";
      throw new Error(`timed out waiting for ${what}${cause}${detail}`);
    }
    await sleep(o.stepMs ?? 100);
  }
}

/** {@link until} with other defaults, for a file whose waits share them: `const waitFor = untilWith({ timeoutMs: 20_000 })`. */
export function untilWith(defaults: UntilOptions) {
  return <T>(what: string, probe: Probe<T>, timeoutMs?: number): Promise<T> =>
    until(what, probe, timeoutMs === undefined ? defaults : { ...defaults, timeoutMs });
}
