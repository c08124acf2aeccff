/** startingTurn: which turn listings stand for a turn that is starting rather than one that ended. */
import { describe, expect, it } from "vitest";
import { startingTurn } from "./running-turns.js";

const now = Date.UTC(2026, 11, 4, 12, 0, 0);
const secondsAgo = (s: number) => Math.floor(now / 1000) - s;

describe("startingTurn", () => {
  it("takes an interrupted turn with no end time, started just now, for one starting", () => {
    expect(startingTurn({ status: "interrupted", startedAt: secondsAgo(0), completedAt: null }, now)).toBe(true);
    expect(startingTurn({ status: "interrupted", startedAt: secondsAgo(29), completedAt: undefined }, now)).toBe(true);
  });

  it("not a turn that ended (it has an end time), whatever its status", () => {
    for (const status of ["interrupted", "completed", "failed"] as const)
      expect(startingTurn({ status, startedAt: secondsAgo(1), completedAt: secondsAgo(0) }, now), status).toBe(false);
  });

  it("not one started 30 s or more ago (its end was lost: codex stopped mid-turn), nor one with no start time", () => {
    expect(startingTurn({ status: "interrupted", startedAt: secondsAgo(30), completedAt: null }, now)).toBe(false);
    expect(startingTurn({ status: "interrupted", startedAt: null, completedAt: null }, now)).toBe(false);
  });

  it("not a running or completed turn without an end time (a running one is taken as it is)", () => {
    expect(startingTurn({ status: "inProgress", startedAt: secondsAgo(0), completedAt: null }, now)).toBe(false);
    expect(startingTurn({ status: "completed", startedAt: secondsAgo(0), completedAt: null }, now)).toBe(false);
  });
});
