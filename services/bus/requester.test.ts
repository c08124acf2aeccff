/** busRequest against a real nats-server: replies, no responders, timeouts, a closed connection. */
import { NoRespondersError, TimeoutError, type NatsConnection } from "@nats-io/transport-node";
import { beforeAll, expect, it } from "vitest";
import { useBus } from "../../test/support/bus.js";
import { busRequest } from "./requester.js";

const bus = useBus();
let nc: NatsConnection;
beforeAll(async () => {
  nc = bus.nc;
  const responder = await bus.connect();
  responder.subscribe("echo", { callback: (_err, msg) => void msg.respond(`echo:${msg.string()}`) });
  responder.subscribe("silent", { callback: () => undefined });
  await responder.flush();
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
  const own = await bus.connect();
  const waiting = busRequest(own, "silent", "x", { timeout: 10_000 });
  await own.close();
  await expect(waiting).rejects.toThrow(/closed/);
  await expect(busRequest(own, "echo", "x", { timeout: 1_000 })).rejects.toThrow();
});
