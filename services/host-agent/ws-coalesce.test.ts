/**
 * coalesceWrites on real loopback WebSockets: frames sent in one burst (synchronously, or across promise
 * continuations) reach the socket in one write and arrive whole and in order; frames sent in separate turns of
 * the event loop are not held back. Then the host agent's gateway client against the real gateway on a real
 * nats-server: a burst of events leaves in one write, and every event is stored once, in order.
 * Writes are counted at the sending socket (`_write`/`_writev`, what Node hands to the kernel per call).
 */
import { Socket, type AddressInfo } from "node:net";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { WebSocket, WebSocketServer } from "ws";
import { TEST_BUS_CONFIG, useBus } from "../../test/support/bus.js";
import { until } from "../../test/support/wait.js";
import { startGateway, type Gateway } from "../rpc-gateway/server.js";
import { createHostToken, openHostTokenBucket } from "../rpc-gateway/tokens.js";
import { GatewayClient } from "./gateway-client.js";
import { hostRunEvents, storedSeqs } from "./test-host-events.js";
import { coalesceWrites } from "./ws-coalesce.js";

type Writer = { _write: (...a: unknown[]) => unknown; _writev: (...a: unknown[]) => unknown };

/** Counts the writes Node hands to the kernel for sockets whose remote port is `port` (the client side). */
function countWrites(port: () => number): { count: () => number; restore: () => void } {
  const proto = Socket.prototype as unknown as Writer;
  const { _write, _writev } = proto;
  let n = 0;
  proto._write = function (this: Socket, ...a: unknown[]) {
    if (this.remotePort === port()) n++;
    return _write.apply(this, a);
  };
  proto._writev = function (this: Socket, ...a: unknown[]) {
    if (this.remotePort === port()) n++;
    return _writev.apply(this, a);
  };
  return {
    count: () => n,
    restore: () => {
      proto._write = _write;
      proto._writev = _writev;
    },
  };
}

describe("coalesceWrites", () => {
  let wss: WebSocketServer;
  let port: number;
  let received: string[];
  let client: WebSocket;
  let writes: ReturnType<typeof countWrites>;

  beforeAll(async () => {
    wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise((resolve) => wss.once("listening", resolve));
    port = (wss.address() as AddressInfo).port;
    wss.on("connection", (ws) => ws.on("message", (d) => void received.push(d.toString())));
  });
  afterAll(async () => {
    await new Promise((resolve) => wss.close(resolve));
  });
  afterEach(() => {
    writes?.restore();
    client?.terminate();
  });

  /** The frames a burst of `n` sends, in order. */
  const frames = (n: number) => Array.from({ length: n }, (_, i) => `frame ${i}`);

  const open = async () => {
    received = [];
    client = new WebSocket(`ws://127.0.0.1:${port}/`);
    await new Promise((resolve, reject) => client.once("open", resolve).once("error", reject));
    writes = countWrites(() => port);
  };

  it("sends a burst of frames in one write, all of them, in order", async () => {
    await open();
    for (const frame of frames(200)) {
      coalesceWrites(client);
      client.send(frame);
    }
    await until("200 frames received", () => received.length === 200);
    expect(received).toEqual(frames(200));
    expect(writes.count()).toBe(1);
  });

  it("without it the same burst takes a write per frame (what the first test saves)", async () => {
    await open();
    for (const frame of frames(200)) client.send(frame);
    await until("200 frames received", () => received.length === 200);
    expect(writes.count()).toBeGreaterThan(100);
  });

  it("holds frames sent in promise continuations of the burst too", async () => {
    await open();
    for (const frame of frames(50)) {
      await Promise.resolve();
      coalesceWrites(client);
      client.send(frame);
    }
    await until("50 frames received", () => received.length === 50);
    expect(received).toEqual(frames(50));
    expect(writes.count()).toBe(1);
  });

  it("holds nothing past the burst: frames sent in separate turns leave separately, each at once", async () => {
    await open();
    for (let i = 0; i < 3; i++) {
      coalesceWrites(client);
      client.send(`frame ${i}`);
      await until(`frame ${i} received`, () => received.length === i + 1);
    }
    expect(writes.count()).toBe(3);
  });

  it("does nothing to a socket not open yet, and a frame sent once it opens arrives", async () => {
    received = [];
    client = new WebSocket(`ws://127.0.0.1:${port}/`);
    expect(() => coalesceWrites(client)).not.toThrow();
    await new Promise((resolve) => client.once("open", resolve));
    coalesceWrites(client);
    client.send("after open");
    await until("frame received", () => received.length === 1);
    expect(received).toEqual(["after open"]);
  });
});

describe("the gateway client's events, through the real gateway", () => {
  const HOST = "host-burst";
  const bus = useBus({ ensure: TEST_BUS_CONFIG });
  let gateway: Gateway;
  let client: GatewayClient;
  const { buffer, event } = hostRunEvents(HOST);

  beforeAll(async () => {
    gateway = await startGateway({ natsConnection: await bus.connect(), port: 0, logger: pino({ level: "silent" }) });
    const token = (await createHostToken(await openHostTokenBucket(bus.nc), HOST)).token;
    client = new GatewayClient({
      url: `ws://127.0.0.1:${gateway.port}/`,
      token: async () => token,
      hello: { hostId: HOST, epoch: "run-1", agentVersion: "test", hostname: "burst.local" },
      buffer,
      heartbeat: () => ({ threads: 1, appServer: "connected" }),
      onWelcome: () => undefined,
    });
    client.start();
  });
  afterAll(async () => {
    await client?.stop();
    await gateway?.stop();
  });

  it("sends a burst of 300 events in one write; the gateway stores each once, in order", async () => {
    await until("connected", () => client.state === "ready");
    const writes = countWrites(() => gateway.port);
    try {
      for (let i = 0; i < 300; i++) client.send(event());
      await until("all acked", () => buffer.stats().events === 0, 20_000);
      // The burst is one write; any more are heartbeats.
      expect(writes.count()).toBeGreaterThanOrEqual(1);
      expect(writes.count()).toBeLessThanOrEqual(2);
    } finally {
      writes.restore();
    }
    expect(await storedSeqs(bus.nc, HOST)).toEqual(Array.from({ length: 300 }, (_, i) => i));
  });
});
