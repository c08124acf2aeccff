/**
 * Hello floods with one valid host token (a real nats-server, the gateway, scripted agents):
 * - every hello naming `unacked` events starts a lookup of the host's stored events that runs to its deadline
 *   even once the socket is gone, so hellos fired and dropped at once would run that many scans side by side. One
 *   lookup at a time per host: a hello meanwhile is told nothing (its agent sends its events again, deduplicated
 *   as before), and a later hello is looked up as usual;
 * - every reconnect with a new agent run displaces the last one, a host conflict: FLEET gets one high-priority
 *   notice for the host per CONFLICT_NOTICE_GAP_MS from a gateway, not one per reconnect.
 */
import { jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { GatewayFrame } from "../../schemas/gateway.js";
import { useBus } from "../../test/support/bus.js";
import { until } from "../../test/support/wait.js";
import { JetStreamPublisher, publishSessionEvent, readStream, STREAM_NAMES, subjects } from "../bus/index.js";
import { CONFLICT_NOTICE_GAP_MS, startGateway, type Gateway } from "./server.js";
import { connectAgent, hello } from "./test-agent.js";
import { createHostToken, openHostTokenBucket } from "./tokens.js";

const HOST = "h-flood";
// Enough of the host's events that one scan is still reading when the hellos below have all arrived.
const STORED = 20_000;

describe("hellos naming unacked events, fired and dropped at once", () => {
  const bus = useBus({ ensure: true });
  let gateway: Gateway;
  let token: string;

  beforeAll(async () => {
    const publisher = new JetStreamPublisher(bus.nc);
    const pending: Promise<unknown>[] = [];
    for (let seq = 0; seq < STORED; seq++) {
      pending.push(
        publishSessionEvent(publisher, {
          hostId: HOST,
          threadId: "t1",
          epoch: "run-1",
          seq,
          emittedAtMs: Date.now(),
          type: "item/plan/delta",
          payload: {},
        }),
      );
      if (pending.length >= 2_000) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    publisher.close();
    gateway = await startGateway({ natsConnection: await bus.connect(), port: 0, logger: pino({ level: "silent" }) });
    token = (await createHostToken(await openHostTokenBucket(bus.nc), HOST)).token;
  });
  afterAll(() => gateway?.stop());

  it("scan the host's events one lookup at a time; the next hello is looked up again", async () => {
    const jsm = await jetstreamManager(bus.nc);
    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        most = Math.max(most, (await jsm.streams.info(STREAM_NAMES.events)).state.consumer_count);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    await Promise.all(
      Array.from({ length: 30 }, async (_, i) => {
        const agent = await connectAgent(gateway.url, token);
        agent.send({ ...hello(HOST, `run-flood-${i}`), unacked: { firstSeq: 0, lastSeq: 1e12, ageMs: 1e12 } });
        await new Promise((resolve) => setTimeout(resolve, 5));
        agent.ws.terminate();
      }),
    );
    // Every scan started has ended (each stops at its deadline).
    await until(
      "no lookup consumer left",
      async () => (await jsm.streams.info(STREAM_NAMES.events)).state.consumer_count === 0,
      15_000,
    );
    sampling = false;
    await sampler;
    expect(most).toBeLessThanOrEqual(1);

    // The real agent's reconnect afterwards: its unacked events are looked up and named.
    const agent = await connectAgent(gateway.url, token);
    agent.send({ ...hello(HOST, "run-1"), unacked: { firstSeq: STORED - 3, lastSeq: STORED + 5, ageMs: 60_000 } });
    const welcome = (await agent.next((f) => f.type === "welcome", 10_000)) as Extract<
      GatewayFrame,
      { type: "welcome" }
    >;
    expect(welcome.stored).toEqual({ epoch: "run-1", seqs: [[STORED - 3, STORED - 1]] });
    agent.ws.terminate();
  });
});

describe("reconnects of one host token, each with a new agent run", () => {
  const bus = useBus({ ensure: true });
  let gateway: Gateway;

  beforeAll(async () => {
    gateway = await startGateway({ natsConnection: await bus.connect(), port: 0, logger: pino({ level: "silent" }) });
  });
  afterAll(() => gateway?.stop());

  it(`publish one host-conflict notice per host within ${CONFLICT_NOTICE_GAP_MS} ms, not one per reconnect`, async () => {
    const tokens = await openHostTokenBucket(bus.nc);
    const loop = async (hostId: string, runs: number): Promise<number> => {
      const { token } = await createHostToken(tokens, hostId);
      let closed4409 = 0;
      let previous: Awaited<ReturnType<typeof connectAgent>> | undefined;
      for (let i = 0; i < runs; i++) {
        const agent = await connectAgent(gateway.url, token);
        agent.send(hello(hostId, `run-${i}`));
        await agent.next((f) => f.type === "welcome");
        if (previous && (await previous.closed).code === 4409) closed4409++;
        previous = agent;
      }
      previous?.ws.terminate();
      return closed4409;
    };
    // Each displaced run was told so (4409), every time.
    expect(await loop("h-loop-a", 20)).toBe(19);
    expect(await loop("h-loop-b", 3)).toBe(2);
    const notices = new Map<string, number>();
    await until("both hosts' notices stored", async () => {
      notices.clear();
      for await (const m of readStream(bus.nc, STREAM_NAMES.fleet)) {
        if (m.subject !== subjects.fleet("host-conflict")) continue;
        const hostId = (JSON.parse(new TextDecoder().decode(m.data)) as { hostId: string }).hostId;
        notices.set(hostId, (notices.get(hostId) ?? 0) + 1);
      }
      return notices.size === 2;
    });
    expect(Object.fromEntries(notices)).toEqual({ "h-loop-a": 1, "h-loop-b": 1 });
  });
});
