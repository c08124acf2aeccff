/**
 * Events whose acks were lost, resent after CODEX_EVENTS' duplicate window (1 s here) has passed: a real
 * nats-server, the gateway, scripted agents. Without the hello's `unacked` (an older agent) JetStream stores
 * them a second time; with it, the welcome names those already stored (only those: a hole is sent again) and
 * the gateway does not store them again even when the agent sends them anyway.
 */
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SessionEventEnvelopeSchema } from "../../schemas/bus.js";
import type { GatewayFrame } from "../../schemas/gateway.js";
import { TEST_BUS_CONFIG, useBus } from "../../test/support/bus.js";
import { startNatsServer } from "../../test/support/nats-server.js";
import {
  BUS_USERS,
  connectBus,
  ensureBus,
  JetStreamPublisher,
  literalPassword,
  publishSessionEvent,
  readStream,
  renderAuthorization,
  STREAM_NAMES,
  type BusUser,
  type KvBucket,
} from "../bus/index.js";
import { startGateway, type Gateway } from "./server.js";
import { findStoredSeqs } from "./stored-lookup.js";
import { connectAgent, eventFrame, hello, type TestAgent } from "./test-agent.js";
import { createHostToken, openHostTokenBucket } from "./tokens.js";

const WINDOW_MS = 1_000;

type Welcome = Extract<GatewayFrame, { type: "welcome" }>;

describe("events resent after the duplicate window", () => {
  const bus = useBus({ ensure: { ...TEST_BUS_CONFIG, eventsDuplicateWindowMs: WINDOW_MS } });
  let gateway: Gateway;
  let tokens: KvBucket;
  const logs: Record<string, unknown>[] = [];
  const agents: TestAgent[] = [];

  beforeAll(async () => {
    const logger = pino({ level: "info" }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    gateway = await startGateway({ natsConnection: await bus.connect(), port: 0, logger });
    tokens = await openHostTokenBucket(bus.nc);
  });
  afterEach(() => {
    for (const a of agents.splice(0)) a.ws.terminate();
  });
  afterAll(() => gateway?.stop());

  /** A scripted agent for `hostId` that said `helloFrame` and was welcomed. */
  const welcomed = async (hostId: string, helloFrame: Record<string, unknown>) => {
    const agent = await connectAgent(gateway.url, (await createHostToken(tokens, hostId)).token);
    agents.push(agent);
    agent.send(helloFrame);
    const welcome = (await agent.next((f) => f.type === "welcome")) as Welcome;
    return { agent, welcome };
  };

  /** Sends `seqs` and waits for each one's ack; returns the seqs acked as duplicates. */
  const sendAll = async (agent: TestAgent, hostId: string, seqs: number[]): Promise<number[]> => {
    for (const seq of seqs) agent.send(eventFrame(hostId, seq));
    const duplicates: number[] = [];
    for (let i = 0; i < seqs.length; i++) {
      const ack = await agent.next((f) => f.type === "ack");
      if (ack.type === "ack" && ack.duplicate) duplicates.push(ack.seq);
    }
    return duplicates.sort((a, b) => a - b);
  };

  /** How many times each seq of `hostId` is stored in CODEX_EVENTS. */
  const storedCounts = async (hostId: string): Promise<Record<number, number>> => {
    const counts: Record<number, number> = {};
    for await (const m of readStream(bus.nc, STREAM_NAMES.events)) {
      const env = SessionEventEnvelopeSchema.parse(JSON.parse(new TextDecoder().decode(m.data)));
      if (env.hostId === hostId) counts[env.seq] = (counts[env.seq] ?? 0) + 1;
    }
    return counts;
  };

  const pastTheWindow = () => new Promise((resolve) => setTimeout(resolve, 2 * WINDOW_MS + 500));
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  it("without `unacked` in the hello (an older agent), a resend after the window is stored twice", async () => {
    const hostId = "host-old-agent";
    const first = await welcomed(hostId, hello(hostId));
    expect(await sendAll(first.agent, hostId, range(0, 4))).toEqual([]);
    first.agent.ws.terminate();
    await pastTheWindow();
    const second = await welcomed(hostId, hello(hostId));
    expect(second.welcome.stored).toBeUndefined();
    expect(await sendAll(second.agent, hostId, range(0, 4))).toEqual([]);
    expect(await storedCounts(hostId)).toEqual({ 0: 2, 1: 2, 2: 2, 3: 2, 4: 2 });
  });

  it("with `unacked`, the welcome names exactly the stored ones and nothing is stored twice", async () => {
    const hostId = "host-acks-lost";
    const sentAtMs = Date.now();
    const first = await welcomed(hostId, hello(hostId));
    // 0..9 but 5 reach the stream (5 stands for a publish that failed while later ones went through); the agent
    // never sees the acks, then sends 10..14, which never arrive, before it drops the connection.
    expect(await sendAll(first.agent, hostId, [...range(0, 4), ...range(6, 9)])).toEqual([]);
    first.agent.ws.terminate();
    await pastTheWindow();

    const unacked = { firstSeq: 0, lastSeq: 14, ageMs: Date.now() - sentAtMs };
    const second = await welcomed(hostId, { ...hello(hostId), unacked });
    expect(second.welcome.stored).toEqual({
      epoch: "run-1",
      seqs: [
        [0, 4],
        [6, 9],
      ],
    });
    expect(
      logs.find((l) => l.msg === "looked up the agent's unacknowledged events" && l.hostId === hostId),
    ).toMatchObject({ stored: 9, ranges: 2, scanned: 9 });
    // An agent that sends them all anyway: the stored ones are acked as duplicates, not stored again.
    expect(await sendAll(second.agent, hostId, range(0, 14))).toEqual([...range(0, 4), ...range(6, 9)]);
    expect(await storedCounts(hostId)).toEqual(Object.fromEntries(range(0, 14).map((seq) => [seq, 1])));
  });

  it("names only the hello's run and range: other runs' and older seqs are not reported", async () => {
    const hostId = "host-new-run";
    const sentAtMs = Date.now();
    const first = await welcomed(hostId, hello(hostId));
    expect(await sendAll(first.agent, hostId, range(0, 5))).toEqual([]);
    first.agent.ws.terminate();
    const unacked = { firstSeq: 3, lastSeq: 9, ageMs: Date.now() - sentAtMs };
    const sameRun = await welcomed(hostId, { ...hello(hostId), unacked });
    expect(sameRun.welcome.stored).toEqual({ epoch: "run-1", seqs: [[3, 5]] });
    sameRun.agent.ws.terminate();
    const otherRun = await welcomed(hostId, { ...hello(hostId, "run-2"), unacked });
    expect(otherRun.welcome.stored).toBeUndefined();
  });

  it("a hello whose doubt starts after the host's last stored event needs no scan", async () => {
    const hostId = "host-nothing-stored";
    const first = await welcomed(hostId, hello(hostId));
    expect(await sendAll(first.agent, hostId, range(0, 2))).toEqual([]);
    first.agent.ws.terminate();
    const second = await welcomed(hostId, { ...hello(hostId), unacked: { firstSeq: 3, lastSeq: 7, ageMs: 1_000 } });
    expect(second.welcome.stored).toBeUndefined();
    expect(
      logs.find((l) => l.msg === "looked up the agent's unacknowledged events" && l.hostId === hostId),
    ).toMatchObject({ stored: 0, scanned: 0, skipped: "the host's last stored event precedes those in doubt" });
  });
});

describe("the lookup as the gateway's bus user", () => {
  it("reads what it needs with the permissions of deploy/nats", async () => {
    const passwords = Object.fromEntries(BUS_USERS.map((u) => [u, `p${u}secret`])) as Record<BusUser, string>;
    const nats = await startNatsServer({ config: renderAuthorization(literalPassword(passwords)) });
    const as = (user: BusUser) =>
      connectBus({ servers: nats.url, name: `unacked-${user}`, user, pass: passwords[user] });
    const admin = await as("admin");
    const gw = await as("gateway");
    try {
      await ensureBus(admin, TEST_BUS_CONFIG);
      const publisher = new JetStreamPublisher(gw);
      const sentAtMs = Date.now();
      for (const seq of [0, 1, 2, 4])
        await publishSessionEvent(publisher, {
          hostId: "host-perm",
          threadId: "thread-1",
          epoch: "run-1",
          seq,
          emittedAtMs: sentAtMs,
          type: "item/plan/delta",
          payload: {},
        });
      publisher.close();
      const found = await findStoredSeqs(
        gw,
        "host-perm",
        "run-1",
        { firstSeq: 1, lastSeq: 6, ageMs: Date.now() - sentAtMs },
        { nowMs: Date.now() },
      );
      expect(found).toEqual({
        seqs: [
          [1, 2],
          [4, 4],
        ],
        scanned: 4,
      });
    } finally {
      await gw.close();
      await admin.close();
      await nats.stop();
    }
  });
});
