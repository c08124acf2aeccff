/** The dashboard's one-line notice texts (notices.ts), for the budget notices of issue 19. */
import { describe, expect, it } from "vitest";
import type { BudgetState } from "../../../schemas/budget.js";
import { type FleetEvent, fleetPriorityOf } from "../../../schemas/fleet.js";
import { sessionRecord } from "../../registry/test-records.js";
import { noticeText } from "./notices.js";

const budget: BudgetState = {
  state: "stopped",
  id: "auto-day:2025-03-01:h1.019a1b2c-3d4e-7f00-8a1b-0a1b2c3d4e5f",
  limitId: "auto-day",
  periodKey: "2025-03-01",
  reason: "used 12,345 of 10,000 tokens today",
  by: "policy",
  atMs: 5_000,
  lifted: [],
};
const event = (kind: FleetEvent["kind"], b: BudgetState | null): FleetEvent => ({
  id: `n-${kind}`,
  kind,
  priority: fleetPriorityOf[kind],
  hostId: "h1",
  sessionId: "019a1b2c-3d4e-7f00-8a1b-0a1b2c3d4e5f",
  atMs: 5_000,
  previousStatus: "active",
  session: sessionRecord({
    host: "h1",
    sessionId: "019a1b2c-3d4e-7f00-8a1b-0a1b2c3d4e5f",
    budget: b,
    disposition: "blocked",
    summary: "refactoring the parser",
  }),
  host: null,
});

describe("budget notices in the dashboard's words", () => {
  it("says a session was stopped or warned, and why", () => {
    expect(noticeText(event("budget-stopped", budget))).toBe(
      "h1/0a1b2c3d4e5f stopped by a budget: used 12,345 of 10,000 tokens today: refactoring the parser",
    );
    expect(noticeText(event("budget-warning", { ...budget, state: "warned", reason: "at 80% of auto-day" }))).toBe(
      "h1/0a1b2c3d4e5f budget warning: at 80% of auto-day: refactoring the parser",
    );
  });

  it("still reads without the session's budget state", () => {
    expect(noticeText(event("budget-stopped", null))).toBe(
      "h1/0a1b2c3d4e5f stopped by a budget: refactoring the parser",
    );
  });
});
