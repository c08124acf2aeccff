/** Thread status changes (`thread/status/changed`) drive the session's state, substate and `waitingOn`. */
import { describe, expect, it } from "vitest";
import { initialTransition, transition } from "xstate";
import type { ThreadStatus } from "../schemas/codex/thread.js";
import { foldSession, sessionMachine, sessionRecordOf, type SessionMachineEvent } from "./session.js";

const input = { hostId: "host-a", threadId: "thr-1" };
const status = (s: ThreadStatus, atMs = 1): SessionMachineEvent => ({ type: "STATUS", status: s, atMs });
const active = (...activeFlags: ("waitingOnApproval" | "waitingOnUserInput")[]): ThreadStatus => ({
  type: "active",
  activeFlags,
});

describe("session status", () => {
  it("starts unknown, never idle, with the host and thread from the input", () => {
    const [snapshot] = initialTransition(sessionMachine, input);
    expect(snapshot.value).toBe("unknown");
    expect(sessionRecordOf(snapshot)).toMatchObject({
      sessionId: "thr-1",
      endpointId: "host-a",
      host: "host-a",
      status: "unknown",
      waitingOn: null,
      lastSeenAt: 0,
      disposition: null,
    });
  });

  it.each([
    [{ type: "idle" }, "idle", null],
    [{ type: "notLoaded" }, "closed", null],
    [{ type: "systemError" }, "error", null],
    [active(), "active", null],
    [active("waitingOnApproval"), "active", "approval"],
    [active("waitingOnUserInput"), "active", "userInput"],
    [active("waitingOnUserInput", "waitingOnApproval"), "active", "approval"],
  ] as const)("maps %j to status %s waiting on %s", (s, expected, waitingOn) => {
    const record = sessionRecordOf(foldSession([status(s as ThreadStatus)], input));
    expect(record.status).toBe(expected);
    expect(record.waitingOn).toBe(waitingOn);
  });

  it("moves between active substates as flags come and go, the record's status and waitingOn in step", () => {
    const seen: unknown[] = [];
    foldSession(
      [
        status(active()),
        status(active("waitingOnApproval")),
        status(active()),
        status(active("waitingOnUserInput")),
        status({ type: "idle" }),
      ],
      input,
      (s) => seen.push([s.value, sessionRecordOf(s).status, sessionRecordOf(s).waitingOn]),
    );
    expect(seen).toEqual([
      [{ active: "working" }, "active", null],
      [{ active: "waitingOnApproval" }, "active", "approval"],
      [{ active: "working" }, "active", null],
      [{ active: "waitingOnUserInput" }, "active", "userInput"],
      ["idle", "idle", null],
    ]);
  });

  it("comes back from error and closed on the next status", () => {
    expect(foldSession([status({ type: "systemError" }), status({ type: "idle" })], input).value).toBe("idle");
    expect(foldSession([status({ type: "notLoaded" }), status(active())], input).value).toEqual({ active: "working" });
  });

  it("clears the active turn when the thread goes idle or unloads, keeps it on systemError", () => {
    const turn: SessionMachineEvent = { type: "TURN_STARTED", turnId: "turn-1", atMs: 2 };
    expect(foldSession([turn, status({ type: "idle" }, 3)], input).context.activeTurnId).toBeNull();
    expect(foldSession([turn, status({ type: "notLoaded" }, 3)], input).context.activeTurnId).toBeNull();
    expect(foldSession([turn, status({ type: "systemError" }, 3)], input).context.activeTurnId).toBe("turn-1");
  });

  it("takes lastSeenAt from event times and never moves it backwards", () => {
    const [s0] = initialTransition(sessionMachine, input);
    const [s1] = transition(sessionMachine, s0, status(active(), 2_000));
    const [s2] = transition(sessionMachine, s1, status({ type: "idle" }, 1_000));
    expect(s1.context.lastSeenAt).toBe(2_000);
    expect(s2.context.lastSeenAt).toBe(2_000);
    expect(s2.value).toBe("idle");
  });

  it("ignores a status it cannot read, apart from the time", () => {
    const odd = { type: "STATUS", status: { type: "paused" }, atMs: 5 } as unknown as SessionMachineEvent;
    const snapshot = foldSession([status(active(), 1), odd], input);
    expect(snapshot.value).toEqual({ active: "working" });
    expect(snapshot.context.lastSeenAt).toBe(5);
  });
});
