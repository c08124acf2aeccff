/** The host machine: connection, heartbeats, the sweeper's clock, and the record the registry writes. */
import { describe, expect, it } from "vitest";
import { initialTransition } from "xstate";
import { HostRecord } from "../schemas/registry.js";
import { foldHost, hostLifecycleEvent, hostMachine, hostRecordOf, type HostMachineEvent } from "./host.js";

const input = { hostId: "host-a", degradedAfterMs: 15_000, offlineAfterMs: 45_000, staleAfterMs: 300_000 };
const connected: HostMachineEvent = { type: "CONNECTED", atMs: 1_000, hostname: "box-1", agentVersion: "0.1.0" };
const beat = (atMs: number): HostMachineEvent => ({ type: "HEARTBEAT", atMs, threads: 3, appServer: "connected" });
const sweep = (nowMs: number): HostMachineEvent => ({ type: "SWEEP", nowMs });
const statuses = (events: HostMachineEvent[]): unknown[] => {
  const seen: unknown[] = [];
  foldHost(events, input, (s) => seen.push(s.value));
  return seen;
};

describe("host machine", () => {
  it("starts connecting and goes online on CONNECTED", () => {
    const [initial] = initialTransition(hostMachine, input);
    expect(hostRecordOf(initial, 0)).toEqual({
      hostId: "host-a",
      status: "connecting",
      hostname: null,
      agentVersion: null,
      appServer: null,
      lastHeartbeatAt: null,
      connectedAt: null,
      sessions: 0,
    });
    const record = hostRecordOf(foldHost([connected, beat(2_000)], input), 4);
    expect(HostRecord.parse(record)).toEqual({
      hostId: "host-a",
      status: "online",
      hostname: "box-1",
      agentVersion: "0.1.0",
      appServer: "connected",
      lastHeartbeatAt: 2_000,
      connectedAt: 1_000,
      sessions: 4,
    });
  });

  it("degrades, then goes offline, then stale as sweeps find it silent", () => {
    expect(
      statuses([
        connected,
        sweep(16_000),
        sweep(16_001),
        sweep(46_001),
        sweep(46_000 + 300_000),
        sweep(46_000 + 300_001),
      ]),
    ).toEqual(["online", "online", "degraded", "offline", "offline", "stale"]);
  });

  it("counts stale from when it went silent, not from when a sweep noticed, so a late sweep jumps straight to stale", () => {
    expect(statuses([connected, beat(10_000), sweep(10_000 + 45_000 + 300_001)])).toEqual([
      "online",
      "online",
      "stale",
    ]);
    expect(foldHost([connected, sweep(50_000)], input).context.offlineSince).toBe(46_000);
  });

  it("goes offline on DISCONNECTED and stale after staleAfterMs from then", () => {
    const events = [
      connected,
      { type: "DISCONNECTED", atMs: 5_000 },
      { type: "DISCONNECTED", atMs: 9_000 },
      sweep(305_000),
      sweep(305_001),
    ] satisfies HostMachineEvent[];
    expect(statuses(events)).toEqual(["online", "offline", "offline", "offline", "stale"]);
    expect(hostRecordOf(foldHost(events, input), 2)).toMatchObject({
      status: "stale",
      appServer: null,
      connectedAt: 1_000,
    });
  });

  it("comes back online on a heartbeat or a new connection from any state", () => {
    const degraded = [connected, sweep(20_000)];
    const offline = [connected, { type: "DISCONNECTED", atMs: 2_000 } as const];
    const stale = [...offline, sweep(400_000)];
    for (const before of [degraded, offline, stale]) {
      expect(foldHost([...before, beat(500_000)], input).value).toBe("online");
      expect(foldHost([...before, { ...connected, atMs: 500_000 }], input).value).toBe("online");
    }
    expect(foldHost([...stale, beat(500_000), sweep(510_000)], input).value).toBe("online");
  });

  it("stays put on sweeps while connecting or stale, and on a second disconnect while stale", () => {
    expect(statuses([sweep(10_000_000)])).toEqual(["connecting"]);
    expect(
      statuses([
        connected,
        { type: "DISCONNECTED", atMs: 2_000 },
        sweep(400_000),
        { type: "DISCONNECTED", atMs: 400_001 },
        sweep(900_000),
      ]).at(-1),
    ).toBe("stale");
  });

  it("turns the gateway's lifecycle messages into host events", () => {
    const base = {
      hostId: "host-a",
      gatewayId: "gw-1",
      atMs: 7,
      hostname: "box-1",
      agentVersion: "0.1.0",
      threads: 2,
      appServer: "connected",
    } as const;
    expect(hostLifecycleEvent({ ...base, type: "connected" })).toEqual({
      type: "CONNECTED",
      atMs: 7,
      hostname: "box-1",
      agentVersion: "0.1.0",
    });
    expect(hostLifecycleEvent({ ...base, type: "heartbeat" })).toEqual({
      type: "HEARTBEAT",
      atMs: 7,
      threads: 2,
      appServer: "connected",
    });
    expect(hostLifecycleEvent({ ...base, type: "disconnected" })).toEqual({ type: "DISCONNECTED", atMs: 7 });
  });
});
