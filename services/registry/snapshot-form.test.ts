/**
 * The stored form of a session snapshot (snapshot-form.ts): exact, smaller, and restored into a fold that goes
 * on as the original does. Checked over the golden logs of the real codex and over a session with a priced usage.
 */
import { describe, expect, it } from "vitest";
import { createStepper } from "../../machines/fold.js";
import { sessionEventsOf } from "../../machines/from-bus.js";
import { sessionMachine, sessionRecordOf } from "../../machines/session.js";
import type { PriceTable, TokenCounts } from "../../schemas/budget.js";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import { SessionEntry } from "../../schemas/registry-entry.js";
import { readSessionLog, sessionLogNames } from "../../test/fixtures/session-logs.js";
import { FleetState } from "./fleet-state.js";
import {
  compactSessionSnapshot,
  expandSessionSnapshot,
  RECORD_FIELDS_IN_CONTEXT,
  type PersistedSnapshot,
} from "./snapshot-form.js";
import { threadStartedPayload, tokenUsagePayload } from "./test-fleet.js";

const thresholds = { degradedAfterMs: 100, offlineAfterMs: 200, staleAfterMs: 300 };
const writer = { lease: "registry.1.0", epoch: 2 };
const gpt5: PriceTable = { "gpt-5": { inputPerMTokUsd: 1.25, cachedInputPerMTokUsd: 0.125, outputPerMTokUsd: 10 } };
const tokens = (input: number, output: number): TokenCounts => ({
  input,
  cachedInput: 0,
  output,
  reasoning: 0,
  total: input + output,
});
/** Through JSON, as KV stores it. */
const viaJson = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

/** A session with a model and token usage, so its written record's usage (priced) differs from the context's. */
function pricedSessionLog(): SessionEventEnvelope[] {
  let seq = 0;
  let atMs = Date.parse("2026-12-03T10:00:00Z");
  const env = (type: string, payload: unknown): SessionEventEnvelope => ({
    hostId: "h",
    threadId: "t-priced",
    epoch: "e1",
    seq: seq++,
    emittedAtMs: (atMs += 1_000),
    type,
    payload,
  });
  const status = (type: "idle" | "active") =>
    env("thread/status/changed", {
      threadId: "t-priced",
      status: type === "idle" ? { type } : { type, activeFlags: [] },
    });
  return [
    env("thread/started", threadStartedPayload("t-priced", "gpt-5")),
    status("active"),
    env("thread/tokenUsage/updated", tokenUsagePayload("t-priced", "turn-1", tokens(1_000, 200))),
    status("idle"),
    status("active"),
    env("thread/tokenUsage/updated", tokenUsagePayload("t-priced", "turn-2", tokens(3_000, 900))),
    status("idle"),
  ];
}

const logs: [string, SessionEventEnvelope[]][] = [
  ...sessionLogNames.map((name) => [name, readSessionLog(name)] as [string, SessionEventEnvelope[]]),
  ["priced usage", pricedSessionLog()],
];

describe("the stored form of a session snapshot", () => {
  it("takes the record's fields (all but status and waitingOn) in the order the machine's context holds them", () => {
    // The list comes from the record's schema; the context must hold each of them, in that order.
    const initial = createStepper(sessionMachine).initial({ hostId: "h", threadId: "t" });
    const contextFields = Object.keys(initial.context);
    expect(contextFields.filter((f) => (RECORD_FIELDS_IN_CONTEXT as readonly string[]).includes(f))).toEqual([
      ...RECORD_FIELDS_IN_CONTEXT,
    ]);
    expect(RECORD_FIELDS_IN_CONTEXT).not.toContain("status");
  });

  it.each(logs)(
    "gives back the exact persisted snapshot after every event of %s, in about two thirds of the bytes",
    (_, log) => {
      const stepper = createStepper(sessionMachine);
      let snapshot = stepper.initial({ hostId: log[0]!.hostId, threadId: log[0]!.threadId });
      let steps = 0;
      for (const event of log.flatMap(sessionEventsOf)) {
        snapshot = stepper.step(snapshot, event);
        const persisted = stepper.persisted(snapshot) as PersistedSnapshot;
        const record = sessionRecordOf(snapshot);
        const stored = viaJson(compactSessionSnapshot(persisted, record));
        expect(stored.fromRecord).toBe(true);
        expect(JSON.stringify(stored).length).toBeLessThan(JSON.stringify(persisted).length * 0.5);
        expect(JSON.stringify(expandSessionSnapshot(stored, viaJson(record)))).toBe(JSON.stringify(persisted));
        steps++;
      }
      expect(steps).toBeGreaterThan(3);
    },
  );

  it("keeps a context field that differs from the record's, and stores whole a context missing a record field", () => {
    const stepper = createStepper(sessionMachine);
    const persisted = stepper.persisted(stepper.initial({ hostId: "h", threadId: "t" })) as PersistedSnapshot;
    const record = sessionRecordOf(stepper.initial({ hostId: "h", threadId: "t" }));
    // The written record's usage is priced: another object than the context's.
    const usage = { input: 1, cachedInput: 0, output: 1, reasoning: 0, total: 2 };
    const withUsage = { ...persisted, context: { ...persisted.context, usage } };
    const stored = viaJson(
      compactSessionSnapshot(withUsage, { ...record, usage: { ...usage, costUsd: 0.1 } } as never),
    );
    expect(stored.context).toMatchObject({ usage });
    expect(JSON.stringify(expandSessionSnapshot(stored, viaJson(record)))).toBe(JSON.stringify(withUsage));
    // A snapshot persisted before `owner` existed: stored as it is, restored as it is.
    const { owner: _owner, ...olderContext } = persisted.context;
    const older = { ...persisted, context: olderContext };
    expect(compactSessionSnapshot(older, record)).toBe(older);
    expect(expandSessionSnapshot(viaJson(older), record)).toEqual(older);
    // Anything without the marker (every entry written before this form) is passed through untouched.
    expect(expandSessionSnapshot(null, record)).toBeNull();
    expect(expandSessionSnapshot(persisted, record)).toBe(persisted);
  });

  it.each(logs)(
    "restores from each entry of %s into a fold that writes what the original writes after it",
    (_, log) => {
      const prices = { table: gpt5 };
      const options = { ...thresholds, writer, prices };
      // The original fold, straight through: the entry it wrote after each envelope (none when nothing changed).
      const live = new FleetState(options);
      const entries = log.map((env) =>
        live.applyEnvelope(env) === "applied" ? live.takeSessionWrites(Infinity, true)[0]!.value : undefined,
      );
      let compared = 0;
      for (const [i, text] of entries.entries()) {
        if (text === undefined) continue;
        const entry = SessionEntry.parse(JSON.parse(text));
        expect(entry.snapshot).toMatchObject({ fromRecord: true });
        // A fold restored from that entry, given the rest of the log, writes the same entries, byte for byte.
        const restored = new FleetState(options);
        restored.restoreSession(entry);
        for (let j = i + 1; j < log.length; j++) {
          const outcome = restored.applyEnvelope(log[j]!);
          expect(outcome === "applied").toBe(entries[j] !== undefined);
          if (outcome === "applied") {
            expect(restored.takeSessionWrites(Infinity, true)[0]!.value).toBe(entries[j]);
            compared++;
          }
        }
      }
      expect(compared).toBeGreaterThan(3);
    },
  );

  it("writes the snapshot whole when told to (sessionSnapshots 'whole'), and a compact fold restores from that", () => {
    const log = readSessionLog("steered-turn");
    const whole = new FleetState({ ...thresholds, writer, sessionSnapshots: "whole" });
    const compact = new FleetState({ ...thresholds, writer });
    let last: string | undefined;
    for (const env of log) {
      if (whole.applyEnvelope(env) !== "applied") continue;
      compact.applyEnvelope(env);
      const [w] = whole.takeSessionWrites(Infinity, true);
      const [c] = compact.takeSessionWrites(Infinity, true);
      const wholeEntry = SessionEntry.parse(JSON.parse(w!.value));
      const compactEntry = SessionEntry.parse(JSON.parse(c!.value));
      expect(wholeEntry.snapshot).not.toHaveProperty("fromRecord");
      expect(wholeEntry.record).toEqual(compactEntry.record);
      expect(expandSessionSnapshot(compactEntry.snapshot, compactEntry.record)).toEqual(wholeEntry.snapshot);
      expect(c!.value.length).toBeLessThan(w!.value.length * 0.8);
      last = w!.value;
    }
    const restored = new FleetState({ ...thresholds, writer });
    restored.restoreSession(SessionEntry.parse(JSON.parse(last!)));
    const end = log.at(-1)!;
    const next = { ...end, seq: end.seq + 1, emittedAtMs: end.emittedAtMs + 1_000 };
    expect(restored.applyEnvelope(next)).toBe(compact.applyEnvelope(next));
    expect(restored.takeSessionWrites(Infinity, true)).toEqual(compact.takeSessionWrites(Infinity, true));
  });
});
