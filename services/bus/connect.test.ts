import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import type { NatsConnection, Status } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { freePorts, startNatsServer, type NatsTestServer } from "../../test/support/nats-server.js";
import { connectBus } from "./connect.js";
import { ensureBus } from "./ensure.js";
import { BusError } from "./errors.js";
import { subjects } from "./subjects.js";

function waitForStatus(seen: Status[], type: Status["type"], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (seen.some((s) => s.type === type)) resolve();
      else if (Date.now() > deadline)
        reject(new Error(`no "${type}" status in ${timeoutMs} ms: ${seen.map((s) => s.type).join(",")}`));
      else setTimeout(poll, 20);
    };
    poll();
  });
}

describe("connectBus", () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it("reconnects after the server restarts on the same port and store, and JetStream publishes again", async () => {
    const storeDir = await mkdtemp(join(tmpdir(), "claw-bus-reconnect-"));
    cleanup.push(() => rm(storeDir, { recursive: true, force: true }));
    let server: NatsTestServer = await startNatsServer({ storeDir });
    cleanup.push(() => server.stop());

    const seen: Status[] = [];
    const nc: NatsConnection = await connectBus({
      servers: server.url,
      name: "reconnect-test",
      reconnectTimeWaitMs: 100,
      onStatus: (s) => seen.push(s),
    });
    cleanup.push(() => nc.close());
    await ensureBus(nc);
    const js = jetstream(nc);
    const subject = subjects.sessionEvents("host-r", "thread-r");
    expect((await js.publish(subject, "before")).seq).toBe(1);

    await server.stop();
    await waitForStatus(seen, "disconnect", 5_000);
    expect(nc.isClosed()).toBe(false);

    server = await startNatsServer({ storeDir, port: server.port });
    await waitForStatus(seen, "reconnect", 10_000);
    const ack = await js.publish(subject, "after");
    expect(ack.stream).toBe("CODEX_EVENTS");
    expect(ack.seq).toBe(2);
  });

  it("asks dialWhen before each dial and, while it says no (or throws), waits and dials anyway: never closes", async () => {
    const storeDir = await mkdtemp(join(tmpdir(), "claw-bus-dialwhen-"));
    cleanup.push(() => rm(storeDir, { recursive: true, force: true }));
    let server: NatsTestServer = await startNatsServer({ storeDir });
    cleanup.push(() => server.stop());
    const answers: boolean[] = [];
    let ready = false;
    const seen: Status[] = [];
    const nc = await connectBus({
      servers: server.url,
      name: "dialwhen-test",
      reconnectTimeWaitMs: 100,
      onStatus: (s) => seen.push(s),
      dialWhen: () => {
        answers.push(ready);
        if (answers.length === 2) throw new Error("a check that fails to read its files");
        return ready;
      },
    });
    cleanup.push(() => nc.close());
    expect(answers).toEqual([false]); // asked before the first dial, which went ahead after its wait
    await server.stop();
    await waitForStatus(seen, "disconnect", 5_000);
    server = await startNatsServer({ storeDir, port: server.port });
    await waitForStatus(seen, "reconnect", 15_000);
    expect(answers.length).toBeGreaterThanOrEqual(2); // the throwing one among them
    expect(nc.isClosed()).toBe(false);
    ready = true;
    await nc.flush();
  });

  it("fails the first connect with a retryable typed error when nothing listens", async () => {
    const [port] = await freePorts(1);
    const err = await connectBus({ servers: `nats://127.0.0.1:${port}`, name: "nobody-home" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusError);
    expect((err as BusError).code).toBe("connect_failed");
    expect((err as BusError).retryable).toBe(true);
  });

  it("reports wrong credentials as not_authorized, not retryable", async () => {
    const server = await startNatsServer({ config: 'authorization { token: "right-token" }' });
    cleanup.push(() => server.stop());
    const err = await connectBus({ servers: server.url, name: "bad-token", token: "wrong" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusError);
    expect((err as BusError).code).toBe("not_authorized");
    expect((err as BusError).retryable).toBe(false);
    const nc = await connectBus({ servers: server.url, name: "good-token", token: "right-token" });
    await nc.close();
  });

  it("rejects half-given credentials before connecting", async () => {
    await expect(connectBus({ servers: "nats://127.0.0.1:1", name: "x", user: "u" })).rejects.toMatchObject({
      code: "invalid_config",
    });
  });
});
