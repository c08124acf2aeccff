/**
 * Golden replay: the session event logs recorded from the real codex 0.169.0 (test/fixtures/codex-0.169.0,
 * re-record with `RECORD_FIXTURES=1 npx vitest run test/fixtures/record.test.ts`) folded through
 * `sessionEventsOf` and the session machine. The exact path of states each log takes is pinned: a machine
 * change that reads an old log differently fails here.
 */
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import type { SessionEventEnvelope } from "../schemas/bus.js";
import { SessionRecord } from "../schemas/registry.js";
import {
  FIXTURE_HOST_ID,
  FIXTURE_TEMP_DIR,
  readSessionLog,
  sessionLogNames,
  type SessionLogName,
} from "../test/fixtures/session-logs.js";
import { sessionEventsOf } from "./from-bus.js";
import { foldSession, sessionMachine, sessionRecordOf, type SessionMachineEvent } from "./session.js";

/** The statuses a log passes through, consecutive repeats collapsed; `active:approval` is active waiting on approval. */
const expectedPaths: Record<SessionLogName, string[]> = {
  "plain-turn": ["idle", "active", "idle"],
  "steered-turn": ["idle", "active", "steering", "active", "idle"],
  // codex sends idle just before turn/completed(interrupted): the session is briefly idle, then interrupted.
  "interrupted-turn": ["idle", "active", "idle", "interrupted", "active", "idle"],
  "approval-wait": ["idle", "active", "active:approval", "active", "idle"],
};

const eventsOf = (log: SessionEventEnvelope[]): SessionMachineEvent[] => log.flatMap(sessionEventsOf);
const inputOf = (log: SessionEventEnvelope[]) => ({ hostId: FIXTURE_HOST_ID, threadId: log[0]!.threadId });

function replay(name: SessionLogName) {
  const log = readSessionLog(name);
  const path: string[] = [];
  const records: SessionRecord[] = [];
  const final = foldSession(eventsOf(log), inputOf(log), (snapshot) => {
    const record = sessionRecordOf(snapshot);
    records.push(record);
    const step = record.waitingOn ? `${record.status}:${record.waitingOn}` : record.status;
    if (path.at(-1) !== step) path.push(step);
  });
  return { log, path, records, final: sessionRecordOf(final) };
}

describe.each(sessionLogNames)("golden log %s", (name) => {
  const { log, path, records, final } = replay(name);

  it("is one thread's log from the fixture host, synced first, in sequence", () => {
    expect(log[0]!.type).toBe("agent/thread.synced");
    expect(log.map((e) => e.seq)).toEqual(log.map((_, i) => i));
    expect(new Set(log.map((e) => `${e.hostId}/${e.threadId}/${e.epoch}`)).size).toBe(1);
    expect(log.every((e) => e.hostId === FIXTURE_HOST_ID)).toBe(true);
  });

  it("passes through exactly the pinned states", () => {
    expect(path).toEqual(expectedPaths[name]);
  });

  it("ends idle with no active turn and the sync's facts", () => {
    expect(final).toMatchObject({
      sessionId: log[0]!.threadId,
      host: FIXTURE_HOST_ID,
      status: "idle",
      waitingOn: null,
      activeTurnId: null,
      workspace: `${FIXTURE_TEMP_DIR}/workspace`,
      source: "vscode",
      autonomous: true,
      humanAttached: false,
      disposition: null,
      lastSeenAt: Math.max(...log.map((e) => e.emittedAtMs)),
    });
  });

  it("keeps every intermediate record valid for the registry, with a turn id when steering and none when idle", () => {
    for (const record of records) {
      expect(SessionRecord.safeParse(record).success).toBe(true);
      if (record.status === "steering" || record.waitingOn !== null) expect(record.activeTurnId).not.toBeNull();
      if (record.status === "idle" || record.status === "interrupted") expect(record.activeTurnId).toBeNull();
    }
  });

  it("learns the turn id from turn/started, one event after the active status", () => {
    const firstActive = records.findIndex((r) => r.status === "active");
    expect(records[firstActive]!.activeTurnId).toBeNull();
    expect(log[firstActive + 1]!.type).toBe("turn/started");
    expect(records[firstActive + 1]!.activeTurnId).toBe(
      (log[firstActive + 1]!.payload as { turn: { id: string } }).turn.id,
    );
  });

  it("gives the same record from a live actor, and from one restored halfway through", () => {
    const events = eventsOf(log);
    const half = Math.floor(events.length / 2);
    const live = createActor(sessionMachine, { input: inputOf(log) }).start();
    for (const e of events.slice(0, half)) live.send(e);
    const restored = createActor(sessionMachine, {
      snapshot: JSON.parse(JSON.stringify(live.getPersistedSnapshot())),
      input: inputOf(log),
    }).start();
    events.slice(half).forEach((e) => {
      live.send(e);
      restored.send(e);
    });
    expect(sessionRecordOf(live.getSnapshot())).toEqual(final);
    expect(sessionRecordOf(restored.getSnapshot())).toEqual(final);
    live.stop();
    restored.stop();
  });
});

describe("golden logs, what codex 0.169.0 showed", () => {
  it("a steer arrives as a second user message after the aborted answer's agentMessage started", () => {
    const items = readSessionLog("steered-turn")
      .filter((e) => e.type === "item/started")
      .map((e) => (e.payload as { item: { type: string } }).item.type);
    expect(items).toEqual(["userMessage", "agentMessage", "userMessage", "agentMessage"]);
  });

  it("an interrupt sends idle, then turn/completed with status interrupted", () => {
    const types = readSessionLog("interrupted-turn").map((e) => e.type);
    const completed = types.indexOf("turn/completed");
    expect(types[completed - 1]).toBe("thread/status/changed");
  });

  it("an approval wait shows waitingOnApproval before the command item starts", () => {
    const { records } = replay("approval-wait");
    const log = readSessionLog("approval-wait");
    const waitingAt = records.findIndex((r) => r.waitingOn === "approval");
    const commandAt = log.findIndex(
      (e) => e.type === "item/started" && (e.payload as { item: { type: string } }).item.type === "commandExecution",
    );
    expect(waitingAt).toBeGreaterThan(0);
    expect(waitingAt).toBeLessThan(commandAt);
  });
});
