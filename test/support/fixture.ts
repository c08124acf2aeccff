/**
 * One line to get a rig for a whole `describe` (or file), as nats.js's test `setup()`/`cleanup()`:
 * `const bus = useFixture(() => startBus())` starts it in `beforeAll` and stops it in `afterAll`.
 * The handle reads through to the started rig, so tests use `bus.nc` as if they held it themselves.
 */
import { afterAll, beforeAll } from "vitest";

/** Anything a fixture starts: stopping it stops every process and connection it made. */
export interface Stoppable {
  stop(): Promise<void>;
}

/** Starts `start()` before all tests of the enclosing suite and stops it after them; returns a handle to it. */
export function useFixture<T extends Stoppable>(start: () => Promise<T>, timeoutMs = 60_000): T {
  let rig: T | undefined;
  beforeAll(async () => {
    rig = await start();
  }, timeoutMs);
  afterAll(async () => {
    await rig?.stop();
    rig = undefined;
  }, timeoutMs);
  return new Proxy({} as T, {
    get(_target, key) {
      if (rig === undefined) throw new Error(`fixture used outside its suite (reading ${String(key)})`);
      const value = Reflect.get(rig, key, rig) as unknown;
      return typeof value === "function" ? value.bind(rig) : value;
    },
    set(_target, key, value) {
      if (rig === undefined) throw new Error(`fixture used outside its suite (writing ${String(key)})`);
      return Reflect.set(rig, key, value, rig);
    },
  });
}
