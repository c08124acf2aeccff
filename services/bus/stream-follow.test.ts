import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { afterEach, describe, expect, it } from "vitest";
import { startNatsServer, type NatsTestServer } from "../../test/support/nats-server.js";
import { connectBus } from "./connect.js";
import { ensureBus } from "./ensure.js";
import { BusError } from "./errors.js";
import { followStream, streamLastSeq, threadEventsFilter } from "./stream-follow.js";
import { subjects } from "./subjects.js";
import { STREAM_NAMES } from "./topology.js";

describe("followStream", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const step of cleanup.splice(0).reverse()) await step();
  });

  it("builds a thread's filter with or without its host, and refuses a token that would widen it", () => {
    expect(threadEventsFilter("t1", "h1")).toBe(subjects.sessionEvents("h1", "t1"));
    expect(threadEventsFilter("t1")).toBe("codex.evt.*.t1");
    expect(() => threadEventsFilter("t1.>")).toThrow(BusError);
    expect(() => threadEventsFilter("t1", "*")).toThrow(BusError);
  });

  it("yields one thread's messages from the noted sequence on, and goes on after the server restarts, without repeats", async () => {
    const storeDir = await mkdtemp(join(tmpdir(), "claw-follow-"));
    cleanup.push(() => rm(storeDir, { recursive: true, force: true }));
    let server: NatsTestServer = await startNatsServer({ storeDir });
    cleanup.push(() => server.stop());
    const nc = await connectBus({ servers: server.url, name: "follow-test", reconnectTimeWaitMs: 100 });
    cleanup.push(() => nc.close());
    await ensureBus(nc);
    const js = jetstream(nc);
    const mine = subjects.sessionEvents("h1", "t1");
    await js.publish(mine, "before the mark");
    const fromSeq = (await streamLastSeq(nc, STREAM_NAMES.events)) + 1;
    await js.publish(subjects.sessionEvents("h1", "other"), "another thread");
    await js.publish(mine, "one");

    const follow = await followStream(nc, STREAM_NAMES.events, threadEventsFilter("t1"), fromSeq);
    cleanup.push(() => follow.stop());
    const seen: string[] = [];
    const iterator = follow[Symbol.asyncIterator]();
    const next = async () => {
      const r = await iterator.next();
      if (r.done) throw new Error("the follow ended");
      seen.push(new TextDecoder().decode(r.value.data));
    };
    await next();
    expect(seen).toEqual(["one"]);

    await server.stop();
    server = await startNatsServer({ storeDir, port: server.port });
    // Until JetStream is back after the restart (a publish in between may time out): the message id stores it once.
    for (let stored = false; !stored; )
      stored = await js.publish(mine, "two", { msgID: "two", timeout: 1_000 }).then(
        () => true,
        () => false,
      );
    await next();
    expect(seen).toEqual(["one", "two"]);
    await follow.stop();
    expect((await iterator.next()).done).toBe(true);
  });
});
