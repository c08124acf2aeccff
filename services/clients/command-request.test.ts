/** requestCommand against a real nats-server: a result, nobody serving, no answer in time, an answer that is no result. */
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startNatsServer, type NatsTestServer } from "../../test/support/nats-server.js";
import { requestCommand, type CommandEnvelopeOut } from "./command-request.js";
import { subjects } from "../bus/index.js";

let server: NatsTestServer;
let nc: NatsConnection;
let policy: NatsConnection;
beforeAll(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url });
  policy = await connect({ servers: server.url });
  policy.subscribe(subjects.command("read"), {
    callback: (_e, m) =>
      void m.respond(
        JSON.stringify({ ok: true, data: { echoed: m.json<{ idempotencyKey: string }>().idempotencyKey } }),
      ),
  });
  policy.subscribe(subjects.command("send"), { callback: (_e, m) => void m.respond("{not json") });
  policy.subscribe(subjects.command("mark"), {
    callback: (_e, m) => void m.respond(JSON.stringify({ hello: "world" })),
  });
  policy.subscribe(subjects.command("interrupt"), { callback: () => undefined });
  await policy.flush();
});
afterAll(async () => {
  await nc?.close();
  await policy?.close();
  await server?.stop();
});

const envelope = (verb: "read" | "send" | "mark" | "interrupt" | "spawn"): CommandEnvelopeOut => ({
  verb,
  caller: { id: "t", role: "operator" },
  idempotencyKey: `k-${verb}`,
  args: {},
});

it("returns the policy service's result, and says why when there is none", async () => {
  expect(await requestCommand(nc, envelope("read"), 2_000)).toEqual({
    ok: true,
    result: { ok: true, data: { echoed: "k-read" } },
  });
  expect(await requestCommand(nc, envelope("spawn"), 2_000)).toEqual({ ok: false, reason: "no_policy" });
  expect(await requestCommand(nc, envelope("interrupt"), 100)).toEqual({ ok: false, reason: "timeout" });
  expect(await requestCommand(nc, envelope("send"), 2_000)).toMatchObject({ ok: false, reason: "not_a_result" });
  expect(await requestCommand(nc, envelope("mark"), 2_000)).toEqual({ ok: false, reason: "not_a_result" });
});
