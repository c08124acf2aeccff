/**
 * Held approvals in the session record: set when the host agent holds one (`agent/approval` state `held`),
 * cleared when it is answered (by anyone), resolved by the app-server, when its turn ends, when the thread
 * unloads, or when a person's TUI attaches (theirs to answer then).
 */
import { describe, expect, it } from "vitest";
import type { SessionEventEnvelope } from "../schemas/bus.js";
import { sessionEventsOf } from "./from-bus.js";
import { foldSession, sessionRecordOf, type SessionMachineEvent } from "./session.js";

const input = { hostId: "h1", threadId: "t1" };
let seq = 0;
const env = (type: string, payload: unknown, atMs = 100 + seq): SessionEventEnvelope => ({
  hostId: "h1",
  threadId: "t1",
  epoch: "e1",
  seq: seq++,
  emittedAtMs: atMs,
  type,
  payload,
});
const events = (...envs: SessionEventEnvelope[]): SessionMachineEvent[] => envs.flatMap(sessionEventsOf);
const record = (...envs: SessionEventEnvelope[]) => sessionRecordOf(foldSession(events(...envs), input));

const turnStarted = env("turn/started", { threadId: "t1", turn: { id: "u1", items: [], status: "inProgress" } });
const waiting = env("thread/status/changed", {
  threadId: "t1",
  status: { type: "active", activeFlags: ["waitingOnApproval"] },
});
const held = (requestId: number | string, summary = "git push") =>
  env("agent/approval", {
    method: "item/commandExecution/requestApproval",
    requestId,
    allow: false,
    reason: "an ask rule holds it",
    state: "held",
    by: { kind: "rule" },
    kind: "command",
    summary,
    atMs: 150,
    deadlineAtMs: 750,
  });
const answered = (
  requestId: number | string,
  allow: boolean,
  by: unknown = { kind: "caller", caller: { id: "erin", role: "operator" } },
) =>
  env("agent/approval", {
    method: "item/commandExecution/requestApproval",
    requestId,
    allow,
    reason: "answered",
    state: "answered",
    by,
  });

describe("the session's held approval", () => {
  it("is set when the agent holds one, with what it asks and its deadline", () => {
    expect(record(turnStarted, waiting, held(7))).toMatchObject({
      status: "active",
      waitingOn: "approval",
      approval: { requestId: "7", kind: "command", summary: "git push", atMs: 150, deadlineAtMs: 750 },
    });
  });

  it.each([
    ["accepted by a caller", () => answered(7, true)],
    ["declined at its deadline", () => answered(7, false, { kind: "deadline" })],
    ["resolved by the app-server", () => env("serverRequest/resolved", { threadId: "t1", requestId: 7 })],
    [
      "gone with its turn",
      () => env("turn/completed", { threadId: "t1", turn: { id: "u1", items: [], status: "interrupted" } }),
    ],
    [
      "gone when the thread goes idle",
      () => env("thread/status/changed", { threadId: "t1", status: { type: "idle" } }),
    ],
    ["gone when the thread unloads", () => env("thread/closed", { threadId: "t1" })],
    ["left to a person's TUI that attached", () => env("agent/presence", { humanAttached: true, pid: 9, tty: null })],
    [
      "let go unanswered by the host agent (released)",
      () =>
        env("agent/approval", {
          method: "item/commandExecution/requestApproval",
          requestId: 7,
          allow: false,
          reason: "let go when the host agent stopped",
          state: "released",
        }),
    ],
  ])("clears when %s", (_what, clear) => {
    expect(record(turnStarted, waiting, held(7), clear()).approval).toBeNull();
  });

  it("stays when another request is answered, or by events written before holds existed (answered by the rules)", () => {
    const legacy = env("agent/approval", {
      method: "item/commandExecution/requestApproval",
      requestId: 3,
      allow: false,
      reason: "no allowed prefix",
    });
    const otherReleased = env("agent/approval", {
      method: "item/commandExecution/requestApproval",
      requestId: "other",
      allow: false,
      reason: "let go when its turn ended",
      state: "released",
    });
    expect(record(turnStarted, waiting, held("7"), answered(8, true), legacy, otherReleased).approval).toMatchObject({
      requestId: "7",
    });
    expect(record(turnStarted, legacy).approval).toBeNull();
  });

  it("keeps the latest of two held in one turn, and a malformed payload changes nothing but lastSeenAt", () => {
    const later = record(turnStarted, waiting, held(7), held(9, "npm publish"));
    expect(later.approval).toMatchObject({ requestId: "9", summary: "npm publish" });
    const junk = env("agent/approval", { state: "held" }, 999);
    const kept = record(turnStarted, waiting, held(7), junk);
    expect(kept.approval).toMatchObject({ requestId: "7" });
    expect(kept.lastSeenAt).toBe(999);
  });
});
