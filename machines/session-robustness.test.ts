/** Bad input never fails a session actor: unknown kinds, wrong shapes and junk fields are harmless, errors observable. */
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { SessionRecord } from "../schemas/registry.js";
import { foldSession, sessionMachine, sessionRecordOf, type SessionMachineEvent } from "./session.js";

const input = { hostId: "host-a", threadId: "thr-1" };
const junk = [
  { type: "REBOOT", atMs: 1 },
  { type: "STATUS" },
  { type: "STATUS", status: null, atMs: "soon" },
  { type: "STATUS", status: { type: "active" }, atMs: 2 },
  { type: "STATUS", status: { type: "active", activeFlags: ["waitingOnCoffee"] }, atMs: -5 },
  { type: "SYNCED", snapshot: null, atMs: 3 },
  { type: "SYNCED", atMs: 3 },
  { type: "TURN_STARTED", atMs: Number.NaN },
  { type: "TURN_COMPLETED", turnId: 7, status: "exploded", atMs: 4 },
  { type: "ITEM", atMs: 5 },
  { type: "STEER_SENT", atMs: 6 },
  { type: "PRESENCE", humanAttached: "yes", atMs: 7 },
  { type: "MARK", disposition: { done: true } },
  { type: "SUMMARY", summary: 42 },
  { type: "STALE" },
  { type: "CLOSED", atMs: Infinity },
] as unknown as SessionMachineEvent[];

describe("session robustness", () => {
  it("ignores event kinds it does not know", () => {
    const snapshot = foldSession(
      [
        { type: "STATUS", status: { type: "idle" }, atMs: 1 },
        { type: "TURN_ABORTED", atMs: 2 } as unknown as SessionMachineEvent,
      ],
      input,
    );
    expect(sessionRecordOf(snapshot)).toEqual(
      sessionRecordOf(foldSession([{ type: "STATUS", status: { type: "idle" }, atMs: 1 }], input)),
    );
  });

  it("folds junk without throwing, and every record along the way still matches the registry schema", () => {
    foldSession(junk, input, (snapshot) => {
      expect(snapshot.status).toBe("active");
      expect(SessionRecord.safeParse(sessionRecordOf(snapshot)).success).toBe(true);
    });
  });

  it("gives a subscribed live actor no error for junk, and keeps it running", () => {
    const errors: unknown[] = [];
    const actor = createActor(sessionMachine, { input });
    actor.subscribe({ error: (err) => errors.push(err) });
    actor.start();
    for (const e of junk) actor.send(e);
    actor.send({ type: "STATUS", status: { type: "idle" }, atMs: 10 });
    expect(errors).toEqual([]);
    expect(actor.getSnapshot().status).toBe("active");
    expect(actor.getSnapshot().value).toBe("idle");
    actor.stop();
  });

  it("reports a failure through the error observer, not as a thrown exception", () => {
    const errors: unknown[] = [];
    const actor = createActor(sessionMachine, { input: undefined as unknown as typeof input });
    actor.subscribe({ error: (err) => errors.push(err) });
    expect(() => actor.start()).not.toThrow();
    expect(errors).toHaveLength(1);
    expect(actor.getSnapshot().status).toBe("error");
  });
});
