/** Progress reports and asks from a session (through the MCP edge): `agent/annotation` events folded into its record. */
import { describe, expect, it } from "vitest";
import { annotationEnvelope } from "../test/support/envelopes.js";
import { sessionNotices } from "../services/registry/notices.js";
import { sessionEventsOf } from "./from-bus.js";
import { foldSession, sessionRecordOf, type SessionMachineEvent } from "./session.js";

const input = { hostId: "host-a", threadId: "thr-1" };
const idle: SessionMachineEvent = { type: "STATUS", status: { type: "idle" }, atMs: 1 };
const envelope = annotationEnvelope;
const progress = { percent: 40, step: "tests", atMs: 5 };
const ask = { correlationId: "ask-1", kind: "help", question: "which database?", atMs: 6 };

describe("session reports", () => {
  it("maps progress and ask annotations to PROGRESS and ASK, and a malformed one to activity", () => {
    expect(sessionEventsOf(envelope({ kind: "progress", summary: "half done", progress }))).toEqual([
      { type: "PROGRESS", summary: "half done", progress },
    ]);
    expect(sessionEventsOf(envelope({ kind: "ask", ask }))).toEqual([{ type: "ASK", ask }]);
    expect(sessionEventsOf(envelope({ kind: "ask", ask: { correlationId: 3 } }))).toEqual([
      { type: "ACTIVITY", atMs: 9 },
    ]);
  });

  it("sets the summary and progress, records the latest ask, and keeps both through turns and staleness", () => {
    const events = [
      idle,
      { type: "PROGRESS", summary: "half done", progress },
      { type: "ASK", ask },
      { type: "TURN_STARTED", turnId: "turn-1", atMs: 7 },
      { type: "TURN_COMPLETED", turnId: "turn-1", status: "completed", atMs: 8 },
      { type: "STALE", atMs: 9 },
    ] satisfies SessionMachineEvent[];
    expect(sessionRecordOf(foldSession(events, input))).toMatchObject({
      status: "stale",
      summary: "half done",
      progress,
      ask,
    });
  });

  it("announces a new progress report and a new ask on FLEET, once each", () => {
    const before = sessionRecordOf(foldSession([idle], input));
    const reported = sessionRecordOf(foldSession([idle, { type: "PROGRESS", summary: "half done", progress }], input));
    const asked = sessionRecordOf(
      foldSession([idle, { type: "PROGRESS", summary: "half done", progress }, { type: "ASK", ask }], input),
    );
    const cause = { atMs: 9, token: "e:1" };
    expect(sessionNotices(before, reported, cause).map((n) => n.kind)).toEqual(["session-progress"]);
    const notices = sessionNotices(reported, asked, cause);
    expect(notices.map((n) => [n.kind, n.priority, n.session?.ask?.correlationId])).toEqual([
      ["session-ask", "high", "ask-1"],
    ]);
    expect(sessionNotices(asked, asked, cause)).toEqual([]);
  });
});
