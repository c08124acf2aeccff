/**
 * The gateway client with several gateway URLs, against test gateways on 127.0.0.1: it fails over to the next
 * URL when the one it is on goes away or is unreachable; a 4409 close (another agent holds this host id) stops
 * it for good and says why; an rpc frame under a lower lease epoch than its latest welcome is refused unrun.
 */
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { AgentFrame, HOST_CLAIMED_CLOSE_CODE, type GatewayFrame } from "../../schemas/gateway.js";
import type { HostRpcRequest } from "../../schemas/host-rpc.js";
import { until } from "../../test/support/wait.js";
import { DEFAULT_BUFFER_LIMITS, EventBuffer } from "./event-buffer.js";
import { GatewayClient, type GatewayClientOptions } from "./gateway-client.js";
import { startTestGateway, type TestGateway } from "./test-gateway.js";

const TOKEN = "host-token-for-tests";
const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function client(url: string | string[], extra: Partial<GatewayClientOptions> = {}): GatewayClient {
  const c = new GatewayClient({
    url,
    token: async () => TOKEN,
    hello: { hostId: "host-a", epoch: "run-1", agentVersion: "test", hostname: "a.local" },
    buffer: new EventBuffer(DEFAULT_BUFFER_LIMITS, () => {
      throw new Error("no gaps here");
    }),
    heartbeat: () => ({ threads: 0, appServer: "connected" }),
    onWelcome: () => undefined,
    backoff: { initialMs: 50, maxMs: 200 },
    ...extra,
  });
  cleanups.push(() => c.stop());
  c.start();
  return c;
}

async function testGateway(): Promise<TestGateway> {
  const g = await startTestGateway({ token: TOKEN });
  cleanups.push(() => g.close());
  return g;
}

/** A scripted gateway: `onHello` decides what to send the agent after its hello. */
async function scripted(onHello: (ws: WebSocket, frames: AgentFrame[]) => void) {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
  await new Promise((resolve) => wss.once("listening", resolve));
  const frames: AgentFrame[] = [];
  let connections = 0;
  wss.on("connection", (ws) => {
    connections++;
    ws.on("message", (data) => {
      const frame = AgentFrame.parse(JSON.parse(data.toString()));
      frames.push(frame);
      if (frame.type === "hello") onHello(ws, frames);
    });
  });
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  );
  const send = (ws: WebSocket, frame: GatewayFrame): void => ws.send(JSON.stringify(frame));
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/`,
    frames,
    connections: () => connections,
    send,
  };
}

describe("the gateway client across gateway instances", () => {
  it("fails over to the next gateway when the one it is on goes away, and back when that one goes", async () => {
    const [g1, g2] = [await testGateway(), await testGateway()];
    const c = client([g1.url, g2.url]);
    await until("connected to the first", () => c.state === "ready" && g1.openConnections() === 1);
    await g1.close();
    await until("connected through the second", () => c.state === "ready" && g2.openConnections() === 1);
    await g1.listen();
    await g2.close();
    await until("back on the first", () => c.state === "ready" && g1.openConnections() === 1);
  });

  it("skips an unreachable gateway", async () => {
    const gone = await testGateway();
    const deadUrl = gone.url;
    await gone.close();
    const live = await testGateway();
    const c = client([deadUrl, live.url]);
    await until("connected through the live one", () => c.state === "ready" && live.openConnections() === 1);
  });

  it("stops for good on 4409 (another agent holds the host id), saying why", async () => {
    const reason = "host host-a is held by a newer agent on b.local (run run-2) via gw-2 at lease epoch 9";
    const gw = await scripted((ws) => ws.close(HOST_CLAIMED_CLOSE_CODE, reason));
    const other = await testGateway();
    let displaced: string | undefined;
    const c = client([gw.url, other.url], { onDisplaced: (r) => (displaced = r) });
    await until("displaced", () => displaced);
    expect(displaced).toBe(reason);
    expect(c.state).toBe("displaced");
    // No fight over the host: over many back-off periods it dials neither gateway again.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(gw.connections()).toBe(1);
    expect(other.upgrades).toEqual([]);
  });

  it("refuses an rpc frame under a lease epoch below its latest welcome's, and runs the current one", async () => {
    const ran: string[] = [];
    const interrupt: HostRpcRequest = { op: "interrupt", threadId: "t-1" };
    const gw = await scripted((ws) => {
      gw.send(ws, { type: "welcome", hostId: "host-a", gatewayId: "gw-1", leaseEpoch: 10 });
      gw.send(ws, { type: "rpc", id: "stale", request: interrupt, timeoutMs: 1_000, leaseEpoch: 9 });
      gw.send(ws, { type: "rpc", id: "current", request: interrupt, timeoutMs: 1_000, leaseEpoch: 10 });
    });
    client(gw.url, {
      onRpc: async (id) => {
        ran.push(id);
        return { ok: true, data: { ran: id } };
      },
    });
    const result = (id: string) =>
      gw.frames.find((f): f is Extract<AgentFrame, { type: "rpcResult" }> => f.type === "rpcResult" && f.id === id)
        ?.result;
    await until("both answered", () => result("stale") && result("current"));
    expect(result("stale")).toMatchObject({
      ok: false,
      code: "host_offline",
      message: expect.stringContaining("host lease epoch 9 is below 10"),
    });
    expect(result("current")).toEqual({ ok: true, data: { ran: "current" } });
    expect(ran).toEqual(["current"]);
  });
});
