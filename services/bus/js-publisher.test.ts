/** JetStreamPublisher against a real nats-server: acks, dedup, compare-and-set, and every way a publish fails. */
import { jetstreamManager } from "@nats-io/jetstream";
import { headers as natsHeaders, type MsgHdrs } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useBus } from "../../test/support/bus.js";
import { BusError, jsApiErrCode } from "./errors.js";
import { JetStreamPublisher, plainPubAck, publishHeaders } from "./js-publisher.js";

const failure = (p: Promise<unknown>): Promise<BusError> =>
  p.then(
    () => {
      throw new Error("expected the publish to fail");
    },
    (err: unknown) => {
      expect(err).toBeInstanceOf(BusError);
      return err as BusError;
    },
  );

describe("plainPubAck", () => {
  it("reads the usual PubAck forms as JSON.parse does, and leaves every other form to it", () => {
    const cases: [string, boolean][] = [
      ['{"stream":"CODEX_EVENTS","seq":1}', true],
      ['{"stream":"KV_codex-sessions","seq":123456789012}', true],
      ['{"stream":"FLEET","seq":42,"duplicate":true}', true],
      ['{"stream":"FLEET","seq":42,"duplicate":false}', false],
      ['{"stream":"A","domain":"hub","seq":3}', false],
      ['{"stream":"A","seq":3,"domain":"hub"}', false],
      ['{"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 5"},"stream":"A","seq":0}', false],
      ['{"stream":"A\\u0042","seq":3}', false],
      ['{"stream":"Ä","seq":3}', false],
      ['{"stream":"A","seq":007}', false],
      ['{"stream":"A","seq":}', false],
      ['{"stream":"","seq":1}', false],
      ['{"stream":"A","seq":1} ', false],
      ["", false],
    ];
    for (const [text, plain] of cases) {
      const got = plainPubAck(new TextEncoder().encode(text));
      expect(got !== undefined, text).toBe(plain);
      if (got) {
        const parsed = JSON.parse(text) as { stream: string; seq: number; duplicate?: boolean };
        expect(got, text).toEqual({ stream: parsed.stream, seq: parsed.seq, duplicate: parsed.duplicate === true });
      }
    }
  });
});

/** What nats.js writes for a header block (its publish calls `encode()`, which the MsgHdrs type leaves out). */
const encoded = (h: MsgHdrs): string => Buffer.from((h as unknown as { encode(): Uint8Array }).encode()).toString();

describe("publishHeaders", () => {
  it("encodes the bytes nats.js's headers() encodes for the same values", () => {
    const cases: { msgId?: string; expectLastSubjectSequence?: number }[] = [
      { msgId: "fleet:session-idle:h1:t1:e1:7" },
      { expectLastSubjectSequence: 0 },
      { expectLastSubjectSequence: 123456789 },
      { msgId: "m-1", expectLastSubjectSequence: 42 },
      { msgId: "ünïcode ✓ id" },
      { msgId: "" },
      { msgId: "  padded  " },
      { msgId: "tab\tinside" },
    ];
    for (const opts of cases) {
      const h = natsHeaders();
      if (opts.msgId !== undefined) h.set("Nats-Msg-Id", opts.msgId);
      if (opts.expectLastSubjectSequence !== undefined)
        h.set("Nats-Expected-Last-Subject-Sequence", String(opts.expectLastSubjectSequence));
      expect(encoded(publishHeaders(opts)!), JSON.stringify(opts)).toBe(encoded(h));
    }
    expect(publishHeaders({})).toBeUndefined();
    expect(() => publishHeaders({ msgId: "a\r\nX-Injected: 1" })).toThrow();
  });
});

describe("JetStreamPublisher", () => {
  const bus = useBus();
  let publisher: JetStreamPublisher;

  beforeAll(async () => {
    const jsm = await jetstreamManager(bus.nc);
    await jsm.streams.add({ name: "PUBTEST", subjects: ["pubtest.>"] });
    publisher = new JetStreamPublisher(bus.nc, 300);
  });
  afterAll(() => publisher?.close());

  it("resolves each of many pipelined publishes with its own stream sequence, in order", async () => {
    const acks = await Promise.all(Array.from({ length: 500 }, (_, i) => publisher.publish("pubtest.many", String(i))));
    expect(acks.every((a) => a.stream === "PUBTEST" && !a.duplicate)).toBe(true);
    const seqs = acks.map((a) => a.seq);
    expect(seqs).toEqual(Array.from({ length: 500 }, (_, i) => seqs[0]! + i));
    expect(publisher.inFlight).toBe(0);
  });

  it("stores a message id once and reports the repeat as a duplicate", async () => {
    const first = await publisher.publish("pubtest.dedup", "a", { msgId: "m-1" });
    const again = await publisher.publish("pubtest.dedup", "a", { msgId: "m-1" });
    expect(again).toEqual({ stream: "PUBTEST", seq: first.seq, duplicate: true });
    const stored = await (await jetstreamManager(bus.nc)).streams.getMessage("PUBTEST", { seq: first.seq });
    expect(stored?.header.get("Nats-Msg-Id")).toBe("m-1");
    expect(stored?.string()).toBe("a");
  });

  it("refuses a compare-and-set on a moved subject with JetStream's err_code, and accepts the right one", async () => {
    const created = await publisher.publish("pubtest.cas", "v1", { expectLastSubjectSequence: 0 });
    const err = await failure(publisher.publish("pubtest.cas", "v2", { expectLastSubjectSequence: 0 }));
    expect(err.code).toBe("jetstream_api");
    expect(jsApiErrCode(err)).toBe(10071);
    expect(err.message).toMatch(/^publish to pubtest\.cas: wrong last sequence/);
    const updated = await publisher.publish("pubtest.cas", "v2", { expectLastSubjectSequence: created.seq });
    expect(updated.seq).toBeGreaterThan(created.seq);
  });

  it("says no stream takes a subject nobody captures", async () => {
    const err = await failure(publisher.publish("nostream.here", "x"));
    expect(err.code).toBe("jetstream_unavailable");
    expect(err.message).toBe("publish to nostream.here: no stream takes this subject, or JetStream is not enabled");
  });

  it("times out when nothing acks (a plain subscriber takes the subject), and ignores a late ack", async () => {
    const silent = bus.nc.subscribe("silent.subject");
    let lateReply = "";
    void (async () => {
      for await (const m of silent) lateReply = m.reply ?? "";
    })();
    const err = await failure(publisher.publish("silent.subject", "x"));
    expect(err).toMatchObject({
      code: "timeout",
      retryable: true,
      message: "publish to silent.subject: no ack within 300 ms",
    });
    bus.nc.publish(lateReply, JSON.stringify({ stream: "PUBTEST", seq: 1 }));
    await bus.nc.flush();
    expect(publisher.inFlight).toBe(0);
    silent.unsubscribe();
  });

  it("fails what is pending when closed, and every publish after", async () => {
    const own = await bus.connect();
    const p = new JetStreamPublisher(own, 5_000);
    const silent = own.subscribe("silent.close");
    const pending = p.publish("silent.close", "x");
    p.close("stopping for the test");
    expect((await failure(pending)).message).toBe("publish to silent.close: stopping for the test");
    expect((await failure(p.publish("pubtest.after", "x"))).code).toBe("connect_failed");
    silent.unsubscribe();
    await own.close();
  });

  it("fails what is pending when its connection closes", async () => {
    const own = await bus.connect();
    const p = new JetStreamPublisher(own, 5_000);
    own.subscribe("silent.conn");
    const pending = p.publish("silent.conn", "x");
    await own.close();
    expect((await failure(pending)).message).toBe("publish to silent.conn: the NATS connection closed");
  });
});
