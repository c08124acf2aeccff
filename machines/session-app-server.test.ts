/**
 * A lost app-server (APP_SERVER_LOST, folded from the host agent's `agent/app-server` event) and an answered ask
 * (ASK_ANSWERED, from an `answered` annotation), and an escalation (ESCALATE, ESCALATION_ACCEPTED): what each does
 * to a session, from every state.
 */
import { describe, expect, it } from "vitest";
import { annotationEnvelope } from "../test/support/envelopes.js";
import { sessionEventsOf } from "./from-bus.js";
import { foldSession, sessionRecordOf, type SessionMachineEvent } from "./session.js";

const input = { hostId: "host-a", threadId: "thr-1" };
const idle: SessionMachineEvent = { type: "STATUS", status: { type: "idle" }, atMs: 1 };
const lost: SessionMachineEvent = { type: "APP_SERVER_LOST", atMs: 50 };
const synced = (status: { type: string; activeFlags?: string[] }, activeTurnId: string | null): SessionMachineEvent =>
  ({
    type: "SYNCED",
    atMs: 60,
    snapshot: {
      thread: {
        id: "thr-1",
        status,
        cwd: "/w",
        preview: "the task",
        name: null,
        ephemeral: false,
        createdAt: 1,
        updatedAt: 1,
        source: "vscode",
      },
      activeTurnId,
      workspace: "/w",
      repo: null,
      branch: null,
      humanAttached: false,
      autonomous: false,
    },
  }) as SessionMachineEvent;
const record = (events: SessionMachineEvent[]) => sessionRecordOf(foldSession(events, input));

describe("a lost app-server", () => {
  const working: SessionMachineEvent[] = [idle, { type: "TURN_STARTED", turnId: "turn-1", atMs: 2 }];
  const fromStates: [string, SessionMachineEvent[]][] = [
    ["idle", [idle]],
    ["active", working],
    [
      "active (approval)",
      [...working, { type: "STATUS", status: { type: "active", activeFlags: ["waitingOnApproval"] }, atMs: 3 }],
    ],
    [
      "steering",
      [
        ...working,
        { type: "ITEM", turnId: "turn-1", itemType: "agentMessage", atMs: 3 },
        { type: "ITEM", turnId: "turn-1", itemType: "userMessage", atMs: 4 },
      ],
    ],
    ["interrupted", [...working, { type: "TURN_COMPLETED", turnId: "turn-1", status: "interrupted", atMs: 3 }]],
    ["error", [{ type: "STATUS", status: { type: "systemError" }, atMs: 1 }]],
  ];

  it.each(fromStates)("makes a session that was %s unknown, with no turn, flag or held approval", (_, before) => {
    expect(record(before).status).not.toBe("unknown");
    const after = record([...before, lost]);
    expect(after).toMatchObject({ status: "unknown", waitingOn: null, activeTurnId: null, approval: null });
    // Being unreachable is no sighting of the session.
    expect(after.lastSeenAt).toBe(record(before).lastSeenAt);
  });

  it("leaves closed, stale and never-seen sessions as they are", () => {
    expect(record([idle, { type: "CLOSED", atMs: 2 }, lost]).status).toBe("closed");
    expect(record([idle, { type: "STALE", atMs: 2 }, lost]).status).toBe("stale");
    expect(record([lost]).status).toBe("unknown");
  });

  it("returns to the status a sync reports once the app-server is back, or closed when it is not loaded", () => {
    expect(record([idle, lost, synced({ type: "idle" }, null)]).status).toBe("idle");
    expect(record([idle, lost, synced({ type: "active", activeFlags: [] }, "turn-9")])).toMatchObject({
      status: "active",
      activeTurnId: "turn-9",
    });
    expect(record([idle, lost, synced({ type: "notLoaded" }, null)]).status).toBe("closed");
    expect(record([idle, lost, { type: "CLOSED", atMs: 70 }]).status).toBe("closed");
  });

  it("keeps what the supervisor set (marks, group, ask) through the outage", () => {
    const ask = { correlationId: "ask-1", kind: "help", question: "which?", atMs: 1 };
    const after = record([idle, { type: "ASSIGN", group: "g" }, { type: "ASK", ask }, lost]);
    expect(after).toMatchObject({ status: "unknown", group: "g", ask });
  });
});

describe("an answered ask", () => {
  const ask = { correlationId: "ask-1", kind: "decision", question: "ship it?", atMs: 1 };

  it("clears the pending ask it answers, and nothing else", () => {
    expect(record([idle, { type: "ASK", ask }, { type: "ASK_ANSWERED", correlationId: "ask-1" }]).ask).toBeNull();
    expect(record([idle, { type: "ASK", ask }, { type: "ASK_ANSWERED", correlationId: "ask-0" }]).ask).toEqual(ask);
    const newer = { ...ask, correlationId: "ask-2" };
    expect(
      record([
        idle,
        { type: "ASK", ask },
        { type: "ASK", ask: newer },
        { type: "ASK_ANSWERED", correlationId: "ask-1" },
      ]).ask,
    ).toEqual(newer);
  });

  it("maps an `answered` annotation to ASK_ANSWERED, and one without a correlation id to activity", () => {
    expect(sessionEventsOf(annotationEnvelope({ kind: "answered", correlationId: "ask-1" }))).toEqual([
      { type: "ASK_ANSWERED", correlationId: "ask-1" },
    ]);
    expect(sessionEventsOf(annotationEnvelope({ kind: "answered" }))).toEqual([{ type: "ACTIVITY", atMs: 9 }]);
  });
});

describe("an escalation", () => {
  const escalation = {
    id: "esc-1",
    fromGroup: "web",
    toGroup: "leads",
    reason: "the ask went unanswered",
    question: "ship it?",
    by: "deadline",
    atMs: 5,
    acceptedBy: null,
    acceptedAtMs: null,
  };

  it("is recorded, survives a lost app-server, and is accepted only under its own id, once", () => {
    expect(record([idle, { type: "ESCALATE", escalation }, lost]).escalation).toEqual(escalation);
    expect(
      record([idle, { type: "ESCALATE", escalation }, { type: "ESCALATION_ACCEPTED", id: "esc-0", by: "x", atMs: 6 }])
        .escalation,
    ).toEqual(escalation);
    const accepted = record([
      idle,
      { type: "ESCALATE", escalation },
      { type: "ESCALATION_ACCEPTED", id: "esc-1", by: "boss", atMs: 6 },
      { type: "ESCALATION_ACCEPTED", id: "esc-1", by: "late", atMs: 7 },
    ]).escalation;
    expect(accepted).toEqual({ ...escalation, acceptedBy: "boss", acceptedAtMs: 6 });
    expect(record([idle]).escalation).toBeNull();
  });

  it("maps the annotations to ESCALATE and ESCALATION_ACCEPTED, and a malformed one to activity", () => {
    expect(sessionEventsOf(annotationEnvelope({ kind: "escalate", escalation }))).toEqual([
      { type: "ESCALATE", escalation },
    ]);
    expect(
      sessionEventsOf(annotationEnvelope({ kind: "escalation-accepted", id: "esc-1", by: "boss", atMs: 6 })),
    ).toEqual([{ type: "ESCALATION_ACCEPTED", id: "esc-1", by: "boss", atMs: 6 }]);
    expect(sessionEventsOf(annotationEnvelope({ kind: "escalate", escalation: { id: 1 } }))).toEqual([
      { type: "ACTIVITY", atMs: 9 },
    ]);
  });
});
