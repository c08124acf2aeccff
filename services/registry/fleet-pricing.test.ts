/**
 * The fold prices what it writes (issue 19): each record's usage with the price table in force, the priced
 * usage kept while neither the tokens nor the table change, every held record priced again when the table
 * changes, and a replay priced like the live fold.
 */
import { describe, expect, it } from "vitest";
import type { PriceTable, TokenCounts } from "../../schemas/budget.js";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import { SessionEntry } from "../../schemas/registry-entry.js";
import { FleetState, type PriceBook } from "./fleet-state.js";
import { replayEnvelopes } from "./replay.js";
import { threadStartedPayload, tokenUsagePayload } from "./test-fleet.js";

const thresholds = { degradedAfterMs: 100, offlineAfterMs: 200, staleAfterMs: 300 };
const gpt5: PriceTable = { "gpt-5": { inputPerMTokUsd: 1.25, cachedInputPerMTokUsd: 0.125, outputPerMTokUsd: 10 } };

class Session {
  seq = 0;
  atMs = Date.parse("2026-11-25T10:00:00Z");
  constructor(readonly threadId: string) {}
  env(type: string, payload: unknown): SessionEventEnvelope {
    this.atMs += 1_000;
    return {
      hostId: "h",
      threadId: this.threadId,
      epoch: "e1",
      seq: this.seq++,
      emittedAtMs: this.atMs,
      type,
      payload,
    };
  }
  started(model: string | null) {
    return this.env("thread/started", threadStartedPayload(this.threadId, model));
  }
  usage(t: TokenCounts) {
    return this.env("thread/tokenUsage/updated", tokenUsagePayload(this.threadId, "turn-1", t));
  }
  status(type: "idle" | "active") {
    return this.env("thread/status/changed", {
      threadId: this.threadId,
      status: type === "idle" ? { type } : { type, activeFlags: [] },
    });
  }
}

const tokens = (input: number, cachedInput: number, output: number): TokenCounts => ({
  input,
  cachedInput,
  output,
  reasoning: 0,
  total: input + output,
});
const written = (state: FleetState) =>
  new Map(state.takeSessionWrites(Infinity, true).map((w) => [w.key, SessionEntry.parse(JSON.parse(w.value)).record]));

describe("FleetState prices what it writes", () => {
  it("prices a known model's usage with the table, and leaves an unknown model's unpriced", () => {
    const book: { table: PriceTable } = { table: gpt5 };
    const state = new FleetState({ ...thresholds, prices: book });
    const a = new Session("a");
    const b = new Session("b");
    for (const e of [
      a.started("gpt-5"),
      a.usage(tokens(1_000_000, 400_000, 100_000)),
      b.started("o9-mystery"),
      b.usage(tokens(1_000, 0, 10)),
    ])
      state.applyEnvelope(e);
    const records = written(state);
    // 600,000 × $1.25/M + 400,000 × $0.125/M + 100,000 × $10/M = 0.75 + 0.05 + 1
    expect(records.get("h.a")!.usage).toEqual({
      model: "gpt-5",
      tokens: tokens(1_000_000, 400_000, 100_000),
      costUsd: 1.8,
      priced: true,
      days: { "2026-11-25": { tokens: tokens(1_000_000, 400_000, 100_000), costUsd: 1.8 } },
    });
    expect(records.get("h.b")!.usage).toMatchObject({ model: "o9-mystery", costUsd: null, priced: false });
    expect(records.get("h.b")!.usage!.days["2026-11-25"]!.costUsd).toBeNull();
    // The index queries read holds the same priced records.
    expect(state.index.get("h", "a")?.usage?.costUsd).toBe(1.8);
  });

  it("keeps the priced usage through events that are not token usage: same object, a lastSeenAt-only change", () => {
    const state = new FleetState({ ...thresholds, prices: { table: gpt5 } });
    const a = new Session("a");
    state.applyEnvelope(a.started("gpt-5"));
    state.applyEnvelope(a.usage(tokens(1_000, 0, 100)));
    state.takeSessionWrites(Infinity, true);
    const priced = state.index.get("h", "a")!.usage;
    state.applyEnvelope(a.env("item/agentMessage/delta", { threadId: "a", turnId: "turn-1", itemId: "i", delta: "x" }));
    expect(state.index.get("h", "a")!.usage).toBe(priced);
    expect(state.takeSessionWrites(0, false)).toEqual([]); // only lastSeenAt moved: batched ("soon")
    state.applyEnvelope(a.status("active"));
    expect(state.index.get("h", "a")!.usage).toBe(priced);
  });

  it("prices every held record again when the table changes, writing only those whose costs changed", () => {
    const book: { table: PriceTable } = { table: {} };
    const state = new FleetState({ ...thresholds, prices: book as PriceBook });
    const a = new Session("a");
    const b = new Session("b");
    const c = new Session("c");
    for (const e of [
      a.started("gpt-5"),
      a.usage(tokens(2_000_000, 0, 0)),
      b.started("o9-mystery"),
      b.usage(tokens(10, 0, 1)),
      c.started("gpt-5"),
    ])
      state.applyEnvelope(e);
    expect(written(state).get("h.a")!.usage).toMatchObject({ costUsd: null, priced: false });
    book.table = gpt5;
    expect(state.reprice(5_000)).toBe(1);
    const after = written(state);
    expect([...after.keys()]).toEqual(["h.a"]); // b's model has no price either way; c has no usage
    expect(after.get("h.a")!.usage).toMatchObject({ costUsd: 2.5, priced: true });
    expect(state.takeNotices().filter((n) => n.kind !== "session-new")).toEqual([]);
    // Nothing changed since: nothing to price again.
    expect(state.reprice(6_000)).toBe(0);
  });

  it("restores priced records from KV entries and replays to the same priced records", () => {
    const prices = { table: gpt5 };
    const live = new FleetState({ ...thresholds, prices });
    const a = new Session("a");
    const log = [a.started("gpt-5"), a.usage(tokens(100_000, 0, 1_000)), a.usage(tokens(300_000, 100_000, 3_000))];
    for (const e of log) live.applyEnvelope(e);
    const entries = live.takeSessionWrites(Infinity, true).map((w) => SessionEntry.parse(JSON.parse(w.value)));
    const restored = new FleetState({ ...thresholds, prices });
    for (const e of entries) restored.restoreSession(e);
    expect(restored.index.get("h", "a")).toEqual(entries[0]!.record);
    // 200,000 × 1.25/M + 100,000 × 0.125/M + 3,000 × 10/M = 0.25 + 0.0125 + 0.03
    expect(entries[0]!.record.usage!.costUsd).toBeCloseTo(0.2925, 12);
    expect(replayEnvelopes(log, gpt5).sessions).toEqual([entries[0]!.record]);
    expect(replayEnvelopes(log).sessions[0]!.usage).toMatchObject({ costUsd: null, priced: false });
  });
});
