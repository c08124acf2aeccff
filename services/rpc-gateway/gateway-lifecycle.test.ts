import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { HostLifecycle } from "../../schemas/gateway.js";
import { useGateway } from "../../test/support/gateway.js";
import { subjects } from "../bus/index.js";
import { startGateway } from "./server.js";
import { connectAgent } from "./test-agent.js";

const PING_MS = 200;
describe("host lifecycle on codex.host.<hostId>", () => {
  const fx = useGateway({
    pingIntervalMs: PING_MS,
    helloTimeoutMs: 300,
    heartbeatMinIntervalMs: 0,
  });

  /** Collects every lifecycle message published for `hostId`, parsed with HostLifecycle. */
  function lifecycleOf(hostId: string): HostLifecycle[] {
    const seen: HostLifecycle[] = [];
    const sub = fx.nc.subscribe(subjects.hostLifecycle(hostId));
    void (async () => {
      for await (const m of sub) seen.push(HostLifecycle.parse(m.json()));
    })();
    return seen;
  }

  it("publishes connected, heartbeat and disconnected for a host", async () => {
    const seen = lifecycleOf("host-l");
    await fx.nc.flush();
    const agent = await fx.agentFor("host-l");
    agent.send({ type: "heartbeat", atMs: Date.now(), threads: 3, appServer: "connected" });
    await expect.poll(() => seen.map((l) => l.type)).toEqual(["connected", "heartbeat"]);
    agent.ws.close(1000, "bye");
    await expect.poll(() => seen.map((l) => l.type)).toEqual(["connected", "heartbeat", "disconnected"]);
    expect(seen[0]).toMatchObject({
      hostId: "host-l",
      gatewayId: fx.gateway.gatewayId,
      hostname: "host-l.local",
      agentVersion: "0.1.0-test",
      threads: null,
    });
    expect(seen[1]).toMatchObject({ threads: 3, appServer: "connected" });
    expect(seen[2]).toMatchObject({ type: "disconnected", hostname: "host-l.local" });
  });

  it("detects a peer that stops answering pings, terminates it and publishes disconnected", async () => {
    const seen = lifecycleOf("host-dead");
    await fx.nc.flush();
    const started = Date.now();
    const agent = await fx.agentFor("host-dead", { autoPong: false });
    const closed = await agent.closed;
    expect(closed.code).toBe(1006);
    expect(Date.now() - started).toBeLessThan(PING_MS * 10);
    await expect.poll(() => seen.map((l) => l.type)).toEqual(["connected", "disconnected"]);
    expect(
      fx.logs.some((l) => l.msg === `terminating connection: no pong within ${PING_MS} ms` && l.hostId === "host-dead"),
    ).toBe(true);
  });

  it("keeps a peer that answers pings", async () => {
    const agent = await fx.agentFor("host-alive");
    await new Promise((resolve) => setTimeout(resolve, PING_MS * 4));
    expect(agent.ws.readyState).toBe(agent.ws.OPEN);
  });

  it("closes with 1008 when no hello arrives in time, publishing nothing", async () => {
    const seen = lifecycleOf("host-silent");
    await fx.nc.flush();
    const agent = await connectAgent(fx.gateway.url, await fx.token("host-silent"));
    fx.agents.push(agent);
    expect(await agent.closed).toEqual({ code: 1008, reason: "no hello within 300 ms" });
    await fx.nc.flush();
    expect(seen).toEqual([]);
  });

  it("a newer connection of the same agent replaces the older at once, which publishes no disconnected", async () => {
    const seen = lifecycleOf("host-twice");
    await fx.nc.flush();
    const first = await fx.agentFor("host-twice");
    const second = await fx.agentFor("host-twice");
    expect(await first.closed).toEqual({ code: 1008, reason: "replaced by a newer connection of this agent" });
    await fx.nc.flush();
    await new Promise((resolve) => setTimeout(resolve, 100));
    // The host never looks offline: two `connected`, the second under a higher lease epoch.
    expect(seen.map((l) => l.type)).toEqual(["connected", "connected"]);
    expect(seen[1]!.leaseEpoch).toBeGreaterThan(seen[0]!.leaseEpoch!);
    expect(second.ws.readyState).toBe(second.ws.OPEN);
  });

  it("on stop, closes agents with 1001 and publishes disconnected for each", async () => {
    const gateway = await startGateway({
      natsConnection: fx.nc,
      port: 0,
      logger: pino({ level: "silent" }),
      gatewayId: "gw-stop",
    });
    const seen = lifecycleOf("host-stop");
    await fx.nc.flush();
    const agent = await fx.agentFor("host-stop", { url: gateway.url });
    await gateway.stop();
    expect(await agent.closed).toEqual({ code: 1001, reason: "gateway stopping" });
    await expect
      .poll(() => seen.map((l) => [l.type, l.gatewayId]))
      .toEqual([
        ["connected", "gw-stop"],
        ["disconnected", "gw-stop"],
      ]);
    expect(fx.nc.isClosed()).toBe(false);
  });
});
