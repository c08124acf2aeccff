import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import type { HostLifecycle } from "../../schemas/gateway.js";
import { useGateway } from "../../test/support/gateway.js";
import { STREAM_NAMES, subjects } from "../bus/index.js";
import { eventFrame } from "./test-agent.js";

const FLOOD = 2_000;
describe("a flood of frames does not take the gateway down", () => {
  const fx = useGateway({ maxInFlight: 8, maxBadFrames: 10, heartbeatMinIntervalMs: 1_000 });

  const healthy = async () => (await fetch(`${fx.gateway.url.replace(/^ws/, "http")}healthz`)).status;

  it("slows a flood of valid events with backpressure, stores every one, and serves a second host meanwhile", async () => {
    const flooder = await fx.agentFor("host-flood");
    const calm = await fx.agentFor("host-calm");
    for (let seq = 0; seq < FLOOD; seq++) flooder.send(eventFrame("host-flood", seq));
    const sentAt = Date.now();
    calm.send(eventFrame("host-calm", 0));
    expect(await calm.next()).toEqual({ type: "ack", epoch: "run-1", seq: 0, duplicate: false });
    expect(Date.now() - sentAt).toBeLessThan(2_000);
    // Served during the flood, not after it: the flooder is still waiting for some of its acks.
    expect(flooder.frames.filter((f) => f.type === "ack").length).toBeLessThan(FLOOD);

    await expect.poll(() => flooder.frames.filter((f) => f.type === "ack").length, { timeout: 30_000 }).toBe(FLOOD);
    expect(flooder.frames.some((f) => f.type === "reject")).toBe(false);
    const info = await (await jetstreamManager(fx.nc)).streams.info(STREAM_NAMES.events, {
      subjects_filter: "codex.evt.host-flood.>",
    });
    expect(info.state.subjects).toEqual({ "codex.evt.host-flood.thread-1": FLOOD });
    expect(fx.logs.some((l) => l.msg === "backpressure: pausing reads" && l.hostId === "host-flood")).toBe(true);
    expect(await healthy()).toBe(200);
  });

  it("closes a flood of garbage after the bad-frame limit and stays up", async () => {
    const vandal = await fx.agentFor("host-garbage");
    for (let i = 0; i < 10_000; i++) vandal.send(`garbage ${i}`);
    expect(await vandal.closed).toEqual({ code: 1008, reason: "too many bad frames (10)" });
    expect(await healthy()).toBe(200);
    const after = await fx.agentFor("host-after");
    after.send(eventFrame("host-after", 0));
    expect(await after.next()).toMatchObject({ type: "ack", seq: 0 });
  });

  it("publishes at most one heartbeat a second from a flood of heartbeats", async () => {
    const seen: HostLifecycle[] = [];
    const sub = fx.nc.subscribe(subjects.hostLifecycle("host-beat"));
    void (async () => {
      for await (const m of sub) seen.push(m.json());
    })();
    await fx.nc.flush();
    const beater = await fx.agentFor("host-beat");
    for (let i = 0; i < 5_000; i++) beater.send({ type: "heartbeat", atMs: i, threads: 1, appServer: "connected" });
    beater.send(eventFrame("host-beat", 0));
    expect(await beater.next()).toMatchObject({ type: "ack", seq: 0 });
    await fx.nc.flush();
    const beats = seen.filter((l) => l.type === "heartbeat").length;
    expect(beats).toBeGreaterThanOrEqual(1);
    expect(beats).toBeLessThanOrEqual(2);
    expect(beater.ws.readyState).toBe(beater.ws.OPEN);
    sub.unsubscribe();
  });
});
