import { connect } from "@nats-io/transport-node";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { useNatsServer } from "../../test/support/bus.js";
import { ensureBus } from "../bus/index.js";
import { GatewayError } from "./errors.js";
import { startGateway } from "./server.js";
import { connectAgent, hello } from "./test-agent.js";
import { createHostToken, openHostTokenBucket } from "./tokens.js";

const silent = pino({ level: "silent" });

describe("startGateway options", () => {
  const nats = useNatsServer();

  it("refuses invalid options with a typed error naming the field", async () => {
    const neither = await startGateway({ port: 0, logger: silent }).catch((e: unknown) => e);
    expect(neither).toBeInstanceOf(GatewayError);
    expect(neither).toMatchObject({
      code: "invalid_options",
      message: expect.stringContaining("exactly one of natsConnection and servers"),
    });
    await expect(startGateway({ servers: nats.url, port: 70_000, logger: silent })).rejects.toMatchObject({
      code: "invalid_options",
      message: expect.stringContaining("port:"),
    });
    await expect(startGateway({ servers: nats.url, pingIntervalMs: 0, logger: silent })).rejects.toMatchObject({
      message: expect.stringContaining("pingIntervalMs:"),
    });
  });

  it("says the bus is not set up when the token bucket is missing", async () => {
    await expect(startGateway({ servers: nats.url, port: 0, logger: silent })).rejects.toMatchObject({
      code: "token_store_missing",
    });
  });

  it("connects to NATS itself from servers, and closes that connection on stop", async () => {
    const nc = await connect({ servers: nats.url });
    await ensureBus(nc);
    const { token } = await createHostToken(await openHostTokenBucket(nc), "host-own");
    await nc.close();
    const gateway = await startGateway({ servers: nats.url, port: 0, logger: silent, gatewayId: "gw-own" });
    expect(gateway.url).toBe(`ws://127.0.0.1:${gateway.port}/`);
    const agent = await connectAgent(gateway.url, token);
    agent.send(hello("host-own"));
    expect(await agent.next()).toEqual({
      type: "welcome",
      hostId: "host-own",
      gatewayId: "gw-own",
      leaseEpoch: expect.any(Number),
    });
    await gateway.stop();
    await gateway.stop();
    expect(await agent.closed).toEqual({ code: 1001, reason: "gateway stopping" });
  });

  it("fails with listen_failed when the port is taken", async () => {
    const nc = await connect({ servers: nats.url });
    const first = await startGateway({ natsConnection: nc, port: 0, logger: silent });
    await expect(startGateway({ natsConnection: nc, port: first.port, logger: silent })).rejects.toMatchObject({
      code: "listen_failed",
      message: expect.stringContaining("EADDRINUSE"),
    });
    await first.stop();
    await nc.close();
  });
});
