/**
 * The gateway client and its event buffer against the real gateway on a real nats-server, through a TCP proxy
 * that can cut the way back (gateway to agent) while the agent's bytes still arrive: the gateway stores the
 * events, their acks are lost, and the agent gives up on the silent connection. Healed after CODEX_EVENTS'
 * duplicate window (1 s here) has passed, the agent names its unacknowledged events in the hello, the welcome
 * says they are stored, and the agent drops them instead of resending: each stored once.
 */
import { createServer, connect as tcpConnect, type AddressInfo, type Server, type Socket } from "node:net";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TEST_BUS_CONFIG, useBus } from "../../test/support/bus.js";
import { until } from "../../test/support/wait.js";
import { startGateway, type Gateway } from "../rpc-gateway/server.js";
import { createHostToken, openHostTokenBucket } from "../rpc-gateway/tokens.js";
import { GatewayClient } from "./gateway-client.js";
import { hostRunEvents, storedSeqs } from "./test-host-events.js";

const WINDOW_MS = 1_000;
const HOST = "host-oneway";

/** A TCP proxy to `port`; while `cut`, nothing the upstream sends reaches the client (and its close neither). */
async function oneWayProxy(port: number): Promise<{ url: string; cut: boolean; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const proxy = {
    url: "",
    cut: false,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(port, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => sockets.delete(s));
    }
    client.on("data", (chunk) => upstream.write(chunk));
    client.on("close", () => upstream.destroy());
    upstream.on("data", (chunk) => {
      if (!proxy.cut) client.write(chunk);
    });
    upstream.on("close", () => {
      if (!proxy.cut) client.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  proxy.url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return proxy;
}

describe("a one-way cut longer than the duplicate window, gateway client and real gateway", () => {
  const bus = useBus({ ensure: { ...TEST_BUS_CONFIG, eventsDuplicateWindowMs: WINDOW_MS } });
  let gateway: Gateway;
  let proxy: Awaited<ReturnType<typeof oneWayProxy>>;
  let client: GatewayClient;
  const { buffer, event } = hostRunEvents(HOST);
  const agentLogs: Record<string, unknown>[] = [];

  beforeAll(async () => {
    gateway = await startGateway({ natsConnection: await bus.connect(), port: 0, logger: pino({ level: "silent" }) });
    proxy = await oneWayProxy(gateway.port);
    const token = (await createHostToken(await openHostTokenBucket(bus.nc), HOST)).token;
    client = new GatewayClient({
      url: proxy.url,
      token: async () => token,
      hello: { hostId: HOST, epoch: "run-1", agentVersion: "test", hostname: "oneway.local" },
      buffer,
      heartbeat: () => ({ threads: 1, appServer: "connected" }),
      onWelcome: () => undefined,
      heartbeatMs: 200,
      welcomeTimeoutMs: 500,
      backoff: { initialMs: 50, maxMs: 200 },
      logger: pino({ level: "info" }, { write: (line: string) => void agentLogs.push(JSON.parse(line)) }),
    });
    client.start();
  });
  afterAll(async () => {
    await client?.stop();
    await proxy?.stop();
    await gateway?.stop();
  });

  it("does not resend, and the gateway does not store twice, what was stored while the acks were lost", async () => {
    await until("connected", () => client.state === "ready");
    for (let i = 0; i < 5; i++) client.send(event());
    await until("the first events acked", () => buffer.stats().events === 0);

    proxy.cut = true;
    for (let i = 0; i < 20; i++) client.send(event());
    await until("all 25 stored while the acks are lost", async () => (await storedSeqs(bus.nc, HOST)).length === 25);
    expect(buffer.stats().events).toBe(20);
    await until("the agent giving up on the silent connection", () =>
      agentLogs.some((l) => l.msg === "the gateway went silent; reconnecting"),
    );
    // Reconnects get no welcome while the way back is cut; the duplicate window passes meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 2 * WINDOW_MS + 500));
    expect(client.state).not.toBe("ready");
    const welcomesBefore = agentLogs.filter((l) => l.msg === "connected to the gateway").length;

    proxy.cut = false;
    await until(
      "welcomed again",
      () => agentLogs.filter((l) => l.msg === "connected to the gateway").length > welcomesBefore,
    );
    expect(agentLogs.filter((l) => l.msg === "connected to the gateway").at(-1)).toMatchObject({
      alreadyStored: 20,
      replaying: 0,
    });
    expect(buffer.stats().events).toBe(0);
    client.send(event());
    await until("the event after the heal acked", () => buffer.stats().events === 0);
    const stored = await storedSeqs(bus.nc, HOST);
    expect(stored.sort((a, b) => a - b)).toEqual(Array.from({ length: 26 }, (_, i) => i));
  });
});
