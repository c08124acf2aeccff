import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { startNatsServer, type NatsTestServer } from "../../test/support/nats-server.js";
import { ensureBus } from "../bus/index.js";
import { startGateway, type Gateway } from "./server.js";
import { connectAgent, eventFrame, hello, UpgradeRefused } from "./test-agent.js";
import { createHostToken, openHostTokenBucket } from "./tokens.js";

let nats: NatsTestServer | undefined;
let nc: NatsConnection | undefined;
let gateway: Gateway | undefined;
afterEach(async () => {
  await gateway?.stop();
  await nc?.close();
  await nats?.stop();
  gateway = nc = nats = undefined;
});

describe("the gateway while NATS is down", () => {
  it("closes an agent with 1013 when its event cannot be stored, and answers new upgrades with 503", async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    await ensureBus(nc);
    const { token } = await createHostToken(await openHostTokenBucket(nc), "host-a");
    gateway = await startGateway({ natsConnection: nc, port: 0, logger: pino({ level: "silent" }) });
    const agent = await connectAgent(gateway.url, token);
    agent.send(hello("host-a"));
    await agent.next((f) => f.type === "welcome");

    await nats.stop();
    agent.send(eventFrame("host-a", 0));
    expect(await agent.closed).toEqual({ code: 1013, reason: "event store unavailable, reconnect and replay" });
    expect(agent.frames.some((f) => f.type === "ack" || f.type === "reject")).toBe(false);
    const refused = await connectAgent(gateway.url, token).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UpgradeRefused);
    expect((refused as UpgradeRefused).status).toBe(503);
  });
});
