/** requestCommand against a real nats-server: a result, nobody serving, no answer in time, an answer that is no result. */
import type { NatsConnection } from "@nats-io/transport-node";
import { beforeAll, expect, it } from "vitest";
import { useBus } from "../../test/support/bus.js";
import { requestCommand, type CommandEnvelopeOut } from "./command-request.js";
import { subjects } from "../bus/index.js";

const bus = useBus();
let nc: NatsConnection;
beforeAll(async () => {
  nc = bus.nc;
  const policy = await bus.connect();
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
