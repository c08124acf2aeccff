/** Supervisor marks, summaries, presence and unloading: fields set by their own events, untouched by the rest. */
import { describe, expect, it } from "vitest";
import { foldSession, sessionRecordOf, type SessionMachineEvent } from "./session.js";

const input = { hostId: "host-a", threadId: "thr-1" };
const idle: SessionMachineEvent = { type: "STATUS", status: { type: "idle" }, atMs: 1 };

describe("session marks", () => {
  it.each(["blocked", "done", "abandoned"] as const)("marks %s and clears with null", (disposition) => {
    expect(foldSession([idle, { type: "MARK", disposition }], input).context.disposition).toBe(disposition);
    expect(
      foldSession([idle, { type: "MARK", disposition }, { type: "MARK", disposition: null }], input).context
        .disposition,
    ).toBeNull();
  });

  it("keeps a mark through turns, staleness and unloading", () => {
    const events = [
      { type: "MARK", disposition: "done" },
      { type: "TURN_STARTED", turnId: "turn-1", atMs: 2 },
      { type: "TURN_COMPLETED", turnId: "turn-1", status: "completed", atMs: 3 },
      { type: "STALE", atMs: 4 },
      { type: "CLOSED", atMs: 5 },
    ] satisfies SessionMachineEvent[];
    expect(sessionRecordOf(foldSession(events, input))).toMatchObject({ status: "closed", disposition: "done" });
  });

  it("ignores a mark that is not a disposition", () => {
    const bogus = { type: "MARK", disposition: "finished" } as unknown as SessionMachineEvent;
    expect(foldSession([{ type: "MARK", disposition: "blocked" }, bogus], input).context.disposition).toBe("blocked");
  });

  it("sets and clears the summary without touching lastSeenAt", () => {
    const summarized = foldSession([idle, { type: "SUMMARY", summary: "tests pass; PR open" }], input);
    expect(sessionRecordOf(summarized)).toMatchObject({ summary: "tests pass; PR open", lastSeenAt: 1 });
    expect(
      foldSession([idle, { type: "SUMMARY", summary: "x" }, { type: "SUMMARY", summary: null }], input).context.summary,
    ).toBeNull();
  });

  it("follows a human attaching and leaving without changing the status", () => {
    const attached = foldSession([idle, { type: "PRESENCE", humanAttached: true, atMs: 7 }], input);
    expect(sessionRecordOf(attached)).toMatchObject({ humanAttached: true, status: "idle", lastSeenAt: 7 });
    expect(
      foldSession(
        [idle, { type: "PRESENCE", humanAttached: true, atMs: 7 }, { type: "PRESENCE", humanAttached: false, atMs: 8 }],
        input,
      ).context.humanAttached,
    ).toBe(false);
  });

  it("closes an unloaded thread, dropping its active turn", () => {
    const closed = foldSession(
      [
        { type: "TURN_STARTED", turnId: "turn-1", atMs: 2 },
        { type: "CLOSED", atMs: 3 },
      ],
      input,
    );
    expect(sessionRecordOf(closed)).toMatchObject({
      status: "closed",
      activeTurnId: null,
      waitingOn: null,
      lastSeenAt: 3,
    });
  });

  it("only moves lastSeenAt on anything else", () => {
    const snapshot = foldSession([idle, { type: "ACTIVITY", atMs: 50 }], input);
    expect(sessionRecordOf(snapshot)).toEqual({ ...sessionRecordOf(foldSession([idle], input)), lastSeenAt: 50 });
  });
});
