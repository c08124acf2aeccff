import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import type { Subscription } from "@nats-io/transport-node";
import type { GatewayFrame } from "../../schemas/gateway.js";
import { beforeAll, describe, expect, it } from "vitest";
import { useGateway } from "../../test/support/gateway.js";
import { STREAM_NAMES, subjects } from "../bus/index.js";
import { connectAgent, eventFrame, hello } from "./test-agent.js";

const MAX_FRAME_BYTES = 4_096;
describe("the gateway checks every frame", () => {
  const fx = useGateway({ maxFrameBytes: MAX_FRAME_BYTES, maxBadFrames: 5 });
  let jsm: JetStreamManager;

  beforeAll(async () => {
    jsm = await jetstreamManager(fx.nc);
    const bystander = await fx.agentFor("host-bystander");
    bystander.send(eventFrame("host-bystander", 0));
    expect(await bystander.next()).toMatchObject({ type: "ack", seq: 0 });
  });

  const storedFor = async (hostId: string): Promise<number> => {
    const info = await jsm.streams.info(STREAM_NAMES.events, {
      subjects_filter: subjects.hostSessionEvents(hostId).replace(/\*$/, ">"),
    });
    return Object.values(info.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  };

  /** True when the gateway logged a refusal with exactly this reason. */
  const logged = (msg: string): boolean => fx.logs.some((l) => l.msg === msg);

  it("closes with 1002 when the first frame is not a hello", async () => {
    const agent = await connectAgent(fx.gateway.url, await fx.token("host-nohello"));
    fx.agents.push(agent);
    agent.send(eventFrame("host-nohello", 0));
    expect(await agent.closed).toEqual({ code: 1002, reason: "first frame must be a hello, got event" });
    expect(await storedFor("host-nohello")).toBe(0);
  });

  it("closes with 1008 when the hello names another host than the token's", async () => {
    const agent = await connectAgent(fx.gateway.url, await fx.token("host-x"));
    fx.agents.push(agent);
    agent.send(hello("host-y"));
    expect(await agent.closed).toEqual({
      code: 1008,
      reason: 'hello for host "host-y", but the token is for host "host-x"',
    });
  });

  it("closes with 1002 naming the field when a hello's free strings are over their bounds", async () => {
    const refused = async (hostId: string, field: Record<string, unknown>) => {
      const agent = await connectAgent(fx.gateway.url, await fx.token(hostId));
      fx.agents.push(agent);
      agent.send({ ...hello(hostId), ...field });
      const open = new Promise((resolve) => setTimeout(() => resolve({ stillOpen: hostId }), 5_000).unref());
      return Promise.race([agent.closed, open]);
    };
    const prefix = "first frame must be a hello: invalid hello frame:";
    expect(await refused("host-long-name", { hostname: "h".repeat(256) })).toEqual({
      code: 1002,
      reason: `${prefix} hostname: must be at most 255 characters`,
    });
    expect(await refused("host-long-run", { epoch: "r".repeat(65) })).toEqual({
      code: 1002,
      reason: `${prefix} epoch: must be at most 64 characters`,
    });
    expect(await refused("host-spaced-run", { epoch: "run 1" })).toEqual({
      code: 1002,
      reason: `${prefix} epoch: must be letters, digits, '-' or '_'`,
    });
    expect(await refused("host-long-version", { agentVersion: "v".repeat(101) })).toEqual({
      code: 1002,
      reason: `${prefix} agentVersion: must be at most 100 characters`,
    });
    // At the bounds, welcomed.
    const agent = await connectAgent(fx.gateway.url, await fx.token("host-at-bounds"));
    fx.agents.push(agent);
    agent.send({
      ...hello("host-at-bounds", "r".repeat(64)),
      hostname: "h".repeat(255),
      agentVersion: "v".repeat(100),
    });
    expect(await agent.next()).toMatchObject({ type: "welcome", hostId: "host-at-bounds" });
  });

  it("stores a valid event once even when it is sent twice, acking duplicate=true the second time", async () => {
    const agent = await fx.agentFor("host-dup");
    agent.send(eventFrame("host-dup", 0));
    expect(await agent.next()).toEqual({ type: "ack", epoch: "run-1", seq: 0, duplicate: false });
    agent.send(eventFrame("host-dup", 0));
    expect(await agent.next()).toEqual({ type: "ack", epoch: "run-1", seq: 0, duplicate: true });
    expect(await storedFor("host-dup")).toBe(1);
    const msg = await jsm.streams.getMessage(STREAM_NAMES.events, {
      last_by_subj: subjects.sessionEvents("host-dup", "thread-1"),
    });
    expect(msg?.json()).toMatchObject({ hostId: "host-dup", epoch: "run-1", seq: 0, type: "item/plan/delta" });
    expect(msg?.header?.get("Nats-Msg-Id")).toBe("evt:host-dup:run-1:0");
  });

  it("acks in batches when the hello asks for it: each seq once, duplicates counted, no single acks", async () => {
    const agent = await connectAgent(fx.gateway.url, await fx.token("host-batch"));
    fx.agents.push(agent);
    agent.send({ ...hello("host-batch"), batchAcks: true });
    await agent.next((f) => f.type === "welcome");
    const acked = async (count: number) => {
      const frames: Extract<GatewayFrame, { type: "acks" }>[] = [];
      for (let seen = 0; seen < count; ) {
        const frame = await agent.next();
        if (frame.type !== "acks") throw new Error(`expected an acks frame, got ${JSON.stringify(frame)}`);
        frames.push(frame);
        seen += frame.seqs.length;
      }
      return frames;
    };
    for (let seq = 0; seq < 200; seq++) agent.send(eventFrame("host-batch", seq));
    const first = await acked(200);
    expect(first.flatMap((f) => f.seqs).sort((a, b) => a - b)).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(first.every((f) => f.epoch === "run-1" && f.duplicates === 0)).toBe(true);
    expect(first.length).toBeLessThan(200);
    for (let seq = 0; seq < 10; seq++) agent.send(eventFrame("host-batch", seq));
    const again = await acked(10);
    expect(again.flatMap((f) => f.seqs).sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(again.reduce((n, f) => n + f.duplicates, 0)).toBe(10);
    expect(await storedFor("host-batch")).toBe(200);
  });

  it("rejects events a host-A token sends for host B: nothing stored, host B's subjects untouched", async () => {
    const watchB: Subscription[] = [
      fx.nc.subscribe(subjects.hostSessionEvents("host-b")),
      fx.nc.subscribe(subjects.hostLifecycle("host-b")),
    ];
    const seenOnB: string[] = [];
    for (const sub of watchB)
      void (async () => {
        for await (const m of sub) seenOnB.push(m.subject);
      })();
    const agent = await fx.agentFor("host-a");
    agent.send(eventFrame("host-b", 3));
    expect(await agent.next()).toEqual({
      type: "reject",
      epoch: "run-1",
      seq: 3,
      reason: 'event.hostId "host-b" is not this connection\'s host "host-a"',
    });
    agent.send(eventFrame("host-a", 4));
    expect(await agent.next()).toMatchObject({ type: "ack", seq: 4 });
    await fx.nc.flush();
    expect(await storedFor("host-b")).toBe(0);
    expect(seenOnB).toEqual([]);
    expect(
      fx.logs.some(
        (l) =>
          l.msg === 'rejected frame: event.hostId "host-b" is not this connection\'s host "host-a"' &&
          l.claimedHostId === "host-b",
      ),
    ).toBe(true);
    for (const sub of watchB) sub.unsubscribe();
  });

  it("rejects malformed JSON with a reason and keeps the connection", async () => {
    const agent = await fx.agentFor("host-json");
    agent.send("{not json");
    const reject = await agent.next();
    expect(reject).toMatchObject({
      type: "reject",
      epoch: null,
      seq: null,
      reason: expect.stringMatching(/^malformed JSON: /),
    });
    expect(logged(`rejected frame: ${(reject as { reason: string }).reason}`)).toBe(true);
    agent.send(eventFrame("host-json", 0));
    expect(await agent.next()).toMatchObject({ type: "ack", seq: 0 });
  });

  it("rejects an unknown frame type", async () => {
    const agent = await fx.agentFor("host-kind");
    agent.send({ type: "command", verb: "rm -rf" });
    expect(await agent.next()).toMatchObject({
      type: "reject",
      reason: 'unknown frame type "command"; expected one of hello, event, heartbeat, rpcResult',
    });
    expect(
      logged('rejected frame: unknown frame type "command"; expected one of hello, event, heartbeat, rpcResult'),
    ).toBe(true);
  });

  it("rejects an unknown agent event kind with its (epoch, seq), storing nothing", async () => {
    const agent = await fx.agentFor("host-evkind");
    agent.send(eventFrame("host-evkind", 9, { type: "agent/bogus" }));
    const reject = await agent.next();
    expect(reject).toMatchObject({
      type: "reject",
      epoch: "run-1",
      seq: 9,
      reason: expect.stringMatching(/^unknown agent event type "agent\/bogus"/),
    });
    expect(logged(`rejected frame: ${(reject as { reason: string }).reason}`)).toBe(true);
    expect(await storedFor("host-evkind")).toBe(0);
  });

  it("rejects an event with a bad shape, naming the field", async () => {
    const agent = await fx.agentFor("host-shape");
    agent.send({ type: "event", event: { ...eventFrame("host-shape", 1).event, seq: -1 } });
    expect(await agent.next()).toMatchObject({
      type: "reject",
      seq: null,
      reason: expect.stringMatching(/^invalid event frame: event\.seq: /),
    });
  });

  it("closes with 1009 and a reason when a frame is over the cap", async () => {
    const agent = await fx.agentFor("host-big");
    agent.send(eventFrame("host-big", 0, { payload: { blob: "x".repeat(MAX_FRAME_BYTES) } }));
    expect(await agent.closed).toEqual({ code: 1009, reason: `frame exceeds the ${MAX_FRAME_BYTES}-byte cap` });
    expect(await storedFor("host-big")).toBe(0);
    expect(fx.logs.some((l) => String(l.msg).includes(`frame exceeds the ${MAX_FRAME_BYTES}-byte cap`))).toBe(true);
  });

  it("leaves other hosts' data untouched and keeps serving after all the bad input above", async () => {
    expect(await storedFor("host-bystander")).toBe(1);
    const agent = await fx.agentFor("host-after");
    agent.send(eventFrame("host-after", 0));
    expect(await agent.next()).toMatchObject({ type: "ack", seq: 0, duplicate: false });
  });

  it("closes with 1008 after too many bad frames", async () => {
    const agent = await fx.agentFor("host-bad");
    for (let i = 0; i < 5; i++) agent.send("nope");
    expect(await agent.closed).toEqual({ code: 1008, reason: "too many bad frames (5)" });
    expect(agent.frames.filter((f) => f.type === "reject")).toHaveLength(5);
  });
});
