/** Durable consumers, stream ranges and stream lookups through the bus against a real nats-server. */
import { jetstreamManager } from "@nats-io/jetstream";
import { beforeAll, describe, expect, it } from "vitest";
import { useBus } from "../../test/support/bus.js";
import {
  consumerBacklog,
  ensureDurableConsumer,
  openDurableConsumer,
  streamSeqOf,
  type StreamMsg,
} from "./consumers.js";
import { BusError, JsErrCode, jsApiErrCode } from "./errors.js";
import { missingStreams, readStreamRange } from "./stream-reader.js";

const STREAM = "BUSCONS";
const spec = (name: string, stream = STREAM) => ({
  stream,
  name,
  filterSubject: "buscons.>",
  ackWaitMs: 1_000,
  maxAckPending: 100,
  missingStream: `stream ${stream} does not exist: create it`,
});
const utf8 = new TextDecoder();

describe("durable consumers through the bus", () => {
  const bus = useBus();
  beforeAll(async () => {
    const jsm = await jetstreamManager(bus.nc);
    await jsm.streams.add({ name: STREAM, subjects: ["buscons.>"] });
    for (let i = 1; i <= 5; i++) await bus.js.publish(`buscons.${i}`, JSON.stringify({ i }));
  });

  it("creates a durable consumer once; a second ensure leaves it as it is", async () => {
    await ensureDurableConsumer(bus.nc, spec("c-ensure"));
    await ensureDurableConsumer(bus.nc, { ...spec("c-ensure"), maxAckPending: 7 });
    const info = await (await jetstreamManager(bus.nc)).consumers.info(STREAM, "c-ensure");
    expect(info.config).toMatchObject({ durable_name: "c-ensure", ack_policy: "explicit", max_ack_pending: 100 });
    expect(info.config.ack_wait).toBe(1_000_000_000);
  });

  it("says how to create a missing stream, keeping the StreamNotFound code", async () => {
    const err = await ensureDurableConsumer(bus.nc, spec("c-x", "NOSUCHSTREAM")).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusError);
    expect((err as BusError).message).toContain("stream NOSUCHSTREAM does not exist: create it");
    expect(jsApiErrCode(err)).toBe(JsErrCode.StreamNotFound);
  });

  it("fetches, acks and naks; the ack floor and the backlog follow", async () => {
    await ensureDurableConsumer(bus.nc, spec("c-fetch"));
    expect(await consumerBacklog(bus.nc, STREAM, "c-fetch")).toBe(5);
    const consumer = await openDurableConsumer(bus.nc, STREAM, "c-fetch");
    const got: StreamMsg[] = [];
    for await (const m of await consumer.fetch(3, 1_000)) got.push(m);
    expect(got.map((m) => [m.seq, m.subject, m.json<{ i: number }>().i])).toEqual([
      [1, "buscons.1", 1],
      [2, "buscons.2", 2],
      [3, "buscons.3", 3],
    ]);
    got[0]!.ack();
    expect(await got[1]!.ackAck()).toBe(true);
    got[2]!.nak();
    expect(await consumer.ackFloor()).toBe(2);
    const again: number[] = [];
    for await (const m of await consumer.fetch(1, 1_000)) {
      again.push(m.seq);
      m.term();
    }
    expect(again).toEqual([3]);
    expect(await consumerBacklog(bus.nc, STREAM, "c-fetch")).toBe(2);
  });

  it("consumes continuously until stopped", async () => {
    await ensureDurableConsumer(bus.nc, spec("c-consume"));
    const feed = await (await openDurableConsumer(bus.nc, STREAM, "c-consume")).consume(10);
    const seen: number[] = [];
    for await (const m of feed) {
      seen.push(m.seq);
      m.ack();
      if (seen.length === 5) feed.stop();
    }
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });

  it("with ackAll, one ack settles every earlier message; a callback consume hands them over in order", async () => {
    await ensureDurableConsumer(bus.nc, { ...spec("c-ackall"), ackAll: true });
    const consumer = await openDurableConsumer(bus.nc, STREAM, "c-ackall");
    expect(consumer.ackAll).toBe(true);
    expect((await openDurableConsumer(bus.nc, STREAM, "c-consume")).ackAll).toBe(false);
    const seen: StreamMsg[] = [];
    const feed = await consumer.consume(10, (m) => {
      seen.push(m);
      if (seen.length === 5) feed.stop();
    });
    await feed.closed();
    expect(seen.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    expect(seen.map(streamSeqOf)).toEqual([1, 2, 3, 4, 5]);
    const as = (reply: string) => ({ seq: -1, reply }) as unknown as StreamMsg;
    expect(streamSeqOf(as("$JS.ACK.S.C.1.12345.9.1700000000000000000.0"))).toBe(12345);
    expect(streamSeqOf(as("$JS.ACK.hub.ACCHASH.S.C.1.678.9.1700000000000000000.0.rnd"))).toBe(678);
    expect(streamSeqOf(as("$JS.ACK.S.C.1.x5.9.1.0"))).toBe(-1); // unreadable: msg.seq
    expect(streamSeqOf(as("_INBOX.abc"))).toBe(-1);
    expect(await seen[3]!.ackAck()).toBe(true);
    expect(await consumer.position()).toMatchObject({ ackFloor: 4, ackPending: 1 });
  });

  it("has no backlog for a consumer that was never created", async () => {
    expect(await consumerBacklog(bus.nc, STREAM, "never-made")).toBeNull();
  });

  it("reads a range of sequences in order, and stops at the stream's end", async () => {
    const range = async (from: number, to: number, batch?: number) => {
      const out: string[] = [];
      for await (const m of readStreamRange(bus.nc, STREAM, from, to, batch ? { batch } : {}))
        out.push(`${m.seq}:${m.subject}:${utf8.decode(m.data)}`);
      return out;
    };
    expect(await range(2, 4)).toEqual(['2:buscons.2:{"i":2}', '3:buscons.3:{"i":3}', '4:buscons.4:{"i":4}']);
    expect((await range(1, 5, 2)).map((s) => Number(s.split(":")[0]))).toEqual([1, 2, 3, 4, 5]);
    expect((await range(4, 99)).map((s) => Number(s.split(":")[0]))).toEqual([4, 5]);
  });

  it("names the streams that do not exist", async () => {
    expect(await missingStreams(bus.nc, [STREAM, "NOPE1", "NOPE2"])).toEqual(["NOPE1", "NOPE2"]);
    expect(await missingStreams(bus.nc, [STREAM])).toEqual([]);
  });
});
