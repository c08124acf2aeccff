import { describe, expect, it } from "vitest";
import { agentEventTypes, HOST_THREAD_ID } from "../../schemas/agent-events.js";
import {
  closeReason,
  connectionClosed,
  eventStored,
  eventStoreFailed,
  initialConnectionState,
  leaseExpired,
  leaseNotTaken,
  leaseTaken,
  leaseTakenOver,
  receiveFrame,
  runKeyOf,
  storedLookedUp,
  type ConnectionState,
  type LeaseClaimant,
  type ProtocolAction,
} from "./protocol.js";

const limits = { maxBadFrames: 3, heartbeatMinIntervalMs: 1_000 };
const hello = { type: "hello", hostId: "host-a", epoch: "run-1", agentVersion: "1.0.0", hostname: "a.local" };
const event = (extra: Record<string, unknown> = {}) => ({
  hostId: "host-a",
  threadId: "th-1",
  epoch: "run-1",
  seq: 7,
  emittedAtMs: 5,
  type: "item/plan/delta",
  payload: {},
  ...extra,
});
const frame = (value: unknown) => JSON.stringify(value);
const kinds = (actions: ProtocolAction[]) => actions.map((a) => a.kind);
const sent = (actions: ProtocolAction[]) => actions.flatMap((a) => (a.kind === "send" ? [a.frame] : []));
const closes = (actions: ProtocolAction[]) => actions.flatMap((a) => (a.kind === "close" ? [[a.code, a.reason]] : []));

/** A connection whose hello was accepted and whose lease was taken at epoch 42. */
function open(): ConnectionState {
  const hello1 = receiveFrame(initialConnectionState("host-a", "gw-1"), frame(hello), 1, limits).state;
  return leaseTaken(hello1, 42, 1).state;
}
const claimant = (agentEpoch: string | null, runKey: string | null = null): LeaseClaimant => ({
  agentEpoch,
  runKey,
  hostname: "b.local",
  tokenId: "0123456789abcdef",
  remoteAddress: "10.0.0.2",
  gatewayId: "gw-2",
  leaseEpoch: 50,
});

describe("the gateway protocol, step by step", () => {
  it("a hello naming unacked events looks them up before the lease; the welcome names those stored, never stored again", () => {
    const unacked = { firstSeq: 3, lastSeq: 9, ageMs: 60_000 };
    const step = receiveFrame(initialConnectionState("host-a", "gw-1"), frame({ ...hello, unacked }), 100, limits);
    expect(step.actions[0]).toEqual({ kind: "lookupStored", unacked });
    expect(kinds(step.actions)).not.toContain("takeLease");
    const looked = storedLookedUp(step.state, [
      [3, 4],
      [6, 8],
    ]);
    expect(kinds(looked.actions)).toEqual(["takeLease"]);
    const taken = leaseTaken(looked.state, 42, 102);
    expect(sent(taken.actions)).toEqual([
      {
        type: "welcome",
        hostId: "host-a",
        gatewayId: "gw-1",
        leaseEpoch: 42,
        stored: {
          epoch: "run-1",
          seqs: [
            [3, 4],
            [6, 8],
          ],
        },
      },
    ]);
    // Stored ones are acked as duplicates without a publish; a hole (5) or a later seq is published; another
    // run's event is refused (a connection carries its own run's events only).
    for (const seq of [3, 4, 6, 8])
      expect(receiveFrame(taken.state, frame({ type: "event", event: event({ seq }) }), 103, limits).actions).toEqual([
        { kind: "send", frame: { type: "ack", epoch: "run-1", seq, duplicate: true } },
      ]);
    for (const e of [event({ seq: 5 }), event({ seq: 9 })])
      expect(kinds(receiveFrame(taken.state, frame({ type: "event", event: e }), 103, limits).actions)).toEqual([
        "publishEvent",
      ]);
    expect(
      sent(
        receiveFrame(taken.state, frame({ type: "event", event: event({ seq: 4, epoch: "run-0" }) }), 103, limits)
          .actions,
      ),
    ).toMatchObject([{ type: "reject", epoch: "run-0", seq: 4 }]);
    // Nothing found, or the lookup failed: the lease is taken all the same and the welcome names nothing.
    for (const none of [[], null])
      expect(sent(leaseTaken(storedLookedUp(step.state, none).state, 42, 102).actions)).toEqual([
        { type: "welcome", hostId: "host-a", gatewayId: "gw-1", leaseEpoch: 42 },
      ]);
    // A lookup that ends after the connection closed does nothing.
    expect(storedLookedUp(connectionClosed(step.state, 101, "gone").state, [[3, 4]]).actions).toEqual([]);
  });

  it("accepts a hello for the token's host: takes the lease first, then welcome and connected with its epoch", () => {
    const step = receiveFrame(initialConnectionState("host-a", "gw-1"), frame(hello), 100, limits);
    expect(step.state.hello).toEqual(hello);
    expect(kinds(step.actions)).toEqual(["takeLease", "log"]);
    // No heartbeat is published before the welcome: there is no `connected` yet for it to follow.
    const hb = frame({ type: "heartbeat", atMs: 1, threads: 2, appServer: "connected" });
    expect(receiveFrame(step.state, hb, 101, limits).actions).toEqual([]);
    const taken = leaseTaken(step.state, 42, 102);
    expect(taken.state.leaseEpoch).toBe(42);
    expect(sent(taken.actions)).toEqual([{ type: "welcome", hostId: "host-a", gatewayId: "gw-1", leaseEpoch: 42 }]);
    const published = taken.actions.find((a) => a.kind === "publishLifecycle");
    expect(published).toMatchObject({
      lifecycle: {
        type: "connected",
        hostId: "host-a",
        gatewayId: "gw-1",
        atMs: 102,
        hostname: "a.local",
        leaseEpoch: 42,
      },
    });
    expect(leaseTaken(taken.state, 43, 103).actions).toEqual([]);
  });

  it("closes with 1013 and publishes nothing when the lease cannot be taken in time", () => {
    const s = receiveFrame(initialConnectionState("host-a", "gw-1"), frame(hello), 1, limits).state;
    const step = leaseNotTaken(s, 300, "timeout");
    expect(closes(step.actions)).toEqual([[1013, "could not take the host lease within 300 ms; reconnect"]]);
    expect(connectionClosed(step.state, 2, "closed").actions).toEqual([]);
  });

  it("after a takeover by the same agent run closes with 1008 silently; by another run closes with 4409 and reports it", () => {
    const same = leaseTakenOver(open(), claimant("run-1"));
    expect(closes(same.actions)).toEqual([[1008, "replaced by a newer connection of this agent"]]);
    expect(kinds(same.actions)).not.toContain("reportConflict");
    expect(connectionClosed(same.state, 6, "socket closed").actions).toEqual([]);

    // The lease note carries the run as one token: a run with spaces (which no event could carry) is no hello.
    const spaced = receiveFrame(
      initialConnectionState("host-a", "gw-1"),
      frame({ ...hello, epoch: "run 1" }),
      1,
      limits,
    );
    expect(closes(spaced.actions)).toEqual([
      [1002, "first frame must be a hello: invalid hello frame: epoch: must be letters, digits, '-' or '_'"],
    ]);

    const unknown = leaseTakenOver(open(), null);
    expect(closes(unknown.actions)).toEqual([[1008, "another connection took this host's lease"]]);

    const other = leaseTakenOver(open(), claimant("run-2"));
    expect(other.actions[0]).toEqual({ kind: "reportConflict", holder: claimant("run-2") });
    const [[code, reason]] = closes(other.actions) as [[number, string]];
    expect(code).toBe(4409);
    expect(reason).toBe("host host-a is held by a newer agent on b.local (run run-2) via gw-2, lease epoch 50");
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
    // The newer connection holds the host: no `disconnected` from the displaced one.
    expect(kinds(other.actions)).not.toContain("publishLifecycle");
    expect(connectionClosed(other.state, 6, "socket closed").actions).toEqual([]);
    expect(leaseTakenOver(other.state, claimant("run-3")).actions).toEqual([]);
  });

  it("same agent run means the same run id and the same run secret: the run id alone (in every event) is no proof", () => {
    const secret = "s3cret-of-run-1-xxxxxxxxxxxxxxxx";
    const accepted = receiveFrame(
      initialConnectionState("host-a", "gw-1"),
      frame({ ...hello, runSecret: secret }),
      1,
      limits,
    );
    // Only its hash is kept: not in the state's hello, not in any action (logs included).
    expect(accepted.state.hello).toEqual(hello);
    expect(accepted.state.runKey).toBe(runKeyOf(secret));
    expect(runKeyOf(secret)).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(JSON.stringify(accepted)).not.toContain(secret);
    const keyed = leaseTaken(accepted.state, 42, 1).state;
    const code = (state: ConnectionState, holder: LeaseClaimant) =>
      closes(leaseTakenOver(state, holder).actions)[0]?.[0];

    // A reconnect of this run (run id and secret): silent.
    expect(code(keyed, claimant("run-1", runKeyOf(secret)))).toBe(1008);
    expect(kinds(leaseTakenOver(keyed, claimant("run-1", runKeyOf(secret))).actions)).not.toContain("reportConflict");
    // The run id without the secret, or with another: a different run, told with 4409 and reported.
    for (const holder of [claimant("run-1", null), claimant("run-1", runKeyOf("another-secret-xxxxxxxxxx"))]) {
      const step = leaseTakenOver(keyed, holder);
      expect(closes(step.actions)[0]?.[0]).toBe(4409);
      expect(step.actions[0]).toEqual({ kind: "reportConflict", holder });
    }
    // An older agent (no secret) displaced by a hello with one: a different run as well.
    expect(code(open(), claimant("run-1", runKeyOf(secret)))).toBe(4409);
    // Two older agents: the run id decides, as before.
    expect(code(open(), claimant("run-1", null))).toBe(1008);
  });

  it("closes with 1013 and publishes no disconnected when the lease could not be renewed", () => {
    const step = leaseExpired(open());
    expect(closes(step.actions)).toEqual([[1013, "this gateway lost the host lease; reconnect"]]);
    expect(connectionClosed(step.state, 6, "socket closed").actions).toEqual([]);
  });

  it("closes with 1002 when the first frame is not a hello, and with 1008 for a hello naming another host", () => {
    const s0 = initialConnectionState("host-a", "gw-1");
    expect(closes(receiveFrame(s0, frame({ type: "event", event: event() }), 1, limits).actions)).toEqual([
      [1002, "first frame must be a hello, got event"],
    ]);
    expect(closes(receiveFrame(s0, "{nope", 1, limits).actions)[0]?.[0]).toBe(1002);
    const other = receiveFrame(s0, frame({ ...hello, hostId: "host-b" }), 1, limits);
    expect(closes(other.actions)).toEqual([[1008, 'hello for host "host-b", but the token is for host "host-a"']]);
    expect(kinds(other.actions)).not.toContain("publishLifecycle");
  });

  it("rejects malformed JSON, a non-object, an unknown frame type and a bad shape, each with a reason", () => {
    const s = open();
    const reasons = [
      "{",
      "[1]",
      frame({ type: "bogus" }),
      frame({ type: "heartbeat", atMs: -1, threads: 0, appServer: "up" }),
    ].map((data) => (sent(receiveFrame(s, data, 2, limits).actions)[0] as { reason: string }).reason);
    expect(reasons[0]).toMatch(/^malformed JSON: /);
    expect(reasons[1]).toBe("frame must be a JSON object");
    expect(reasons[2]).toBe('unknown frame type "bogus"; expected one of hello, event, heartbeat, rpcResult');
    expect(reasons[3]).toMatch(/^invalid heartbeat frame: atMs: .*; appServer: /);
    expect(sent(receiveFrame(s, new Uint8Array([0xff, 0xfe]), 2, limits).actions)[0]).toMatchObject({
      reason: "frame is not valid UTF-8",
    });
  });

  it("rejects an event for another host with its (epoch, seq) and publishes nothing", () => {
    const step = receiveFrame(open(), frame({ type: "event", event: event({ hostId: "host-b" }) }), 2, limits);
    expect(kinds(step.actions)).toEqual(["log", "send"]);
    expect(sent(step.actions)).toEqual([
      {
        type: "reject",
        epoch: "run-1",
        seq: 7,
        reason: 'event.hostId "host-b" is not this connection\'s host "host-a"',
      },
    ]);
  });

  it("rejects an event of another agent run (epoch) than the hello's and publishes nothing", () => {
    const step = receiveFrame(open(), frame({ type: "event", event: event({ epoch: "run-0" }) }), 2, limits);
    expect(kinds(step.actions)).toEqual(["log", "send"]);
    expect(sent(step.actions)).toEqual([
      {
        type: "reject",
        epoch: "run-0",
        seq: 7,
        reason: 'event.epoch "run-0" is not this connection\'s agent run "run-1"',
      },
    ]);
  });

  it("rejects unknown agent kinds, bad agent payloads, and non-method types; stores unknown app-server methods", () => {
    const s = open();
    const reason = (e: Record<string, unknown>) =>
      (
        sent(receiveFrame(s, frame({ type: "event", event: event(e) }), 2, limits).actions)[0] as
          | { reason?: string }
          | undefined
      )?.reason;
    expect(reason({ type: "agent/bogus" })).toMatch(
      /^unknown agent event type "agent\/bogus"; expected one of agent\/thread.synced/,
    );
    expect(reason({ type: agentEventTypes.gap, payload: { dropped: 0 } })).toMatch(
      /^invalid agent\/gap payload: payload.dropped/,
    );
    expect(reason({ type: agentEventTypes.gap, payload: { dropped: 2, firstSeq: 1, lastSeq: 2 } })).toMatch(
      /must be sent with threadId "_host"/,
    );
    expect(reason({ type: "not a method!" })).toMatch(/neither an agent\/ kind nor an app-server method name/);
    expect(reason({ type: "thread/closed", payload: {} })).toMatch(/^invalid thread\/closed payload: payload.threadId/);
    expect(reason({ threadId: "a.b" })).toMatch(/^threadId "a.b" must not contain/);
    const gap = receiveFrame(
      s,
      frame({
        type: "event",
        event: event({
          threadId: HOST_THREAD_ID,
          type: agentEventTypes.gap,
          payload: { dropped: 2, firstSeq: 1, lastSeq: 2 },
        }),
      }),
      2,
      limits,
    );
    expect(kinds(gap.actions)).toEqual(["publishEvent"]);
    expect(
      kinds(
        receiveFrame(s, frame({ type: "event", event: event({ type: "item/newThing/delta" }) }), 2, limits).actions,
      ),
    ).toEqual(["publishEvent"]);
  });

  it("closes with 1008 on the Nth bad frame, after rejecting it", () => {
    let s = open();
    for (let i = 1; i < limits.maxBadFrames; i++) s = receiveFrame(s, "{", 2, limits).state;
    const last = receiveFrame(s, "{", 2, limits);
    expect(kinds(last.actions)).toEqual(["log", "send", "log", "close"]);
    expect(closes(last.actions)).toEqual([[1008, "too many bad frames (3)"]]);
    expect(receiveFrame(last.state, frame({ type: "event", event: event() }), 3, limits).actions).toEqual([]);
  });

  it("publishes at most one heartbeat per interval", () => {
    const hb = frame({ type: "heartbeat", atMs: 1, threads: 2, appServer: "connected" });
    const first = receiveFrame(open(), hb, 10_000, limits);
    expect(first.actions).toEqual([
      {
        kind: "publishLifecycle",
        lifecycle: expect.objectContaining({ type: "heartbeat", threads: 2, appServer: "connected", atMs: 10_000 }),
      },
    ]);
    expect(receiveFrame(first.state, hb, 10_500, limits).actions).toEqual([]);
    expect(kinds(receiveFrame(first.state, hb, 11_000, limits).actions)).toEqual(["publishLifecycle"]);
  });

  it("acks a stored event, rejects a permanently refused one, and closes with 1013 when the bus is down", () => {
    const s = open();
    const e = event();
    expect(sent(eventStored(s, e, true).actions)).toEqual([{ type: "ack", epoch: "run-1", seq: 7, duplicate: true }]);
    expect(sent(eventStoreFailed(s, e, { permanent: true, message: "bad" }, limits).actions)).toEqual([
      { type: "reject", epoch: "run-1", seq: 7, reason: "not stored: bad" },
    ]);
    expect(closes(eventStoreFailed(s, e, { permanent: false, message: "timeout" }, limits).actions)).toEqual([
      [1013, "event store unavailable, reconnect and replay"],
    ]);
  });

  it("publishes disconnected once, with the lease epoch, and only after the welcome", () => {
    expect(connectionClosed(initialConnectionState("host-a", "gw-1"), 5, "bye").actions).toEqual([]);
    const helloOnly = receiveFrame(initialConnectionState("host-a", "gw-1"), frame(hello), 1, limits).state;
    expect(connectionClosed(helloOnly, 5, "bye").actions).toEqual([]);
    const closed = connectionClosed(open(), 5, "bye");
    expect(closed.actions[0]).toMatchObject({
      kind: "publishLifecycle",
      lifecycle: { type: "disconnected", leaseEpoch: 42 },
    });
    expect(connectionClosed(closed.state, 6, "socket closed").actions).toEqual([]);
  });

  it("cuts close reasons to 123 UTF-8 bytes", () => {
    expect(closeReason("short")).toBe("short");
    const cut = closeReason("é".repeat(200));
    expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(123);
    expect(cut.endsWith("…")).toBe(true);
  });
});
