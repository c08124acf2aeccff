/** busRequest against a real nats-server: replies, no responders, timeouts, a closed connection. */
import { connect, NoRespondersError, TimeoutError, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startNatsServer, type NatsTestServer } from "../../test/support/nats-server.js";
import { busRequest } from "./requester.js";

let server: NatsTestServer;
let nc: NatsConnection;
let responder: NatsConnection;
beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  responder = await connect({ servers: server.url });
  responder.subscribe("echo", { callback: (_err, msg) => void msg.respond(`echo:${msg.string()}`) });
  responder.subscribe("silent", { callback: () => undefined });
  await responder.flush();
});
afterAll(async () => {
  await nc?.close();
  await responder?.close();
  await server?.stop();
});

it("answers each request with its own reply, many at once", async () => {
  const replies = await Promise.all(
    Array.from({ length: 50 }, (_, i) => busRequest(nc, "echo", String(i), { timeout: 2_000 })),
  );
  expect(replies.map((m) => m.string())).toEqual(Array.from({ length: 50 }, (_, i) => `echo:${i}`));
});

it("fails with nats.js's NoRespondersError when nobody listens, and TimeoutError when nobody answers", async () => {
  await expect(busRequest(nc, "nobody.here", "x", { timeout: 2_000 })).rejects.toBeInstanceOf(NoRespondersError);
  await expect(busRequest(nc, "silent", "x", { timeout: 100 })).rejects.toBeInstanceOf(TimeoutError);
  // Still usable afterwards.
  expect((await busRequest(nc, "echo", "after", { timeout: 2_000 })).string()).toBe("echo:after");
});

it("fails what waits when the connection closes, and every later request", async () => {
  const own = await connect({ servers: server.url });
  const waiting = busRequest(own, "silent", "x", { timeout: 10_000 });
  await own.close();
  await expect(waiting).rejects.toThrow(/closed/);
  await expect(busRequest(own, "echo", "x", { timeout: 1_000 })).rejects.toThrow();
});
