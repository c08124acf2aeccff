import { describe, expect, it } from "vitest";
import { HOST_THREAD_ID, type GapPayload } from "../../schemas/agent-events.js";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import { EventBuffer, MAX_GAP_EVENTS, mergeGaps } from "./event-buffer.js";

function setup(maxEvents: number, maxBytes = 1 << 20) {
  let seq = 0;
  const event = (type = "turn/started", payload: unknown = { threadId: "t" }): SessionEventEnvelope => ({
    hostId: "h",
    threadId: "t",
    epoch: "e",
    seq: seq++,
    emittedAtMs: 1,
    type,
    payload,
  });
  const buffer = new EventBuffer({ maxEvents, maxBytes }, (payload: GapPayload) => ({
    ...event("agent/gap", payload),
    threadId: HOST_THREAD_ID,
  }));
  return { buffer, event };
}

describe("EventBuffer", () => {
  it("keeps events in order until acked, and hands each out once per connection", () => {
    const { buffer, event } = setup(10);
    for (let i = 0; i < 3; i++) buffer.push(event());
    expect(buffer.takeUnsent().map((e) => e.seq)).toEqual([0, 1, 2]);
    expect(buffer.takeUnsent()).toEqual([]);
    expect(buffer.ack(1)).toBe(true);
    expect(buffer.ack(1)).toBe(false);
    buffer.push(event());
    expect(buffer.takeUnsent().map((e) => e.seq)).toEqual([3]);
    buffer.resetSent();
    expect(buffer.takeUnsent().map((e) => e.seq)).toEqual([0, 2, 3]);
    expect(buffer.stats().events).toBe(3);
  });

  it("drops the oldest when over the count and records them in one gap event that grows until sent", () => {
    const { buffer, event } = setup(3);
    for (let i = 0; i < 5; i++) buffer.push(event());
    // seq 0 dropped at the 4th push (gap takes seq 4), seq 1 at the 5th (seq 5).
    let held = buffer.snapshot();
    expect(held.map((e) => e.seq)).toEqual([2, 3, 4, 5]);
    expect(held[2]).toMatchObject({
      type: "agent/gap",
      threadId: HOST_THREAD_ID,
      payload: { dropped: 2, firstSeq: 0, lastSeq: 1 },
    });
    buffer.push(event());
    held = buffer.snapshot();
    expect(held.filter((e) => e.type === "agent/gap")).toHaveLength(1);
    expect(held.find((e) => e.type === "agent/gap")!.payload).toEqual({ dropped: 3, firstSeq: 0, lastSeq: 2 });
    expect(buffer.stats().droppedTotal).toBe(3);
    // Once sent, the gap is closed: it waits for its ack like any event, and the next drop opens a new gap.
    buffer.takeUnsent();
    buffer.resetSent();
    for (let i = 0; i < 4; i++) buffer.push(event());
    const held2 = buffer.snapshot();
    expect(held2.map((e) => e.seq)).toEqual([4, 8, 9, 10, 11]);
    expect(held2.filter((e) => e.type === "agent/gap").map((e) => e.payload)).toEqual([
      { dropped: 3, firstSeq: 0, lastSeq: 2 },
      { dropped: 4, firstSeq: 3, lastSeq: 7 },
    ]);
    expect(buffer.stats().droppedTotal).toBe(7);
  });

  it("does not report an event dropped while in flight as lost unless its connection ends before the ack", () => {
    const { buffer, event } = setup(3);
    for (let i = 0; i < 3; i++) buffer.push(event());
    // A heal: the whole buffer is resent, then the agent adds events before the acks are back.
    expect(buffer.takeUnsent().map((e) => e.seq)).toEqual([0, 1, 2]);
    buffer.push(event());
    buffer.push(event());
    expect(buffer.snapshot().map((e) => e.seq)).toEqual([2, 3, 4]);
    expect(buffer.ack(0)).toBe(true);
    expect(buffer.ack(0)).toBe(false);
    expect(buffer.snapshot().some((e) => e.type === "agent/gap")).toBe(false);
    expect(buffer.stats().droppedTotal).toBe(0);
    // Seq 1 never got its ack: when the connection ends it is a gap, and it is not sent again.
    buffer.resetSent();
    expect(buffer.stats().droppedTotal).toBe(1);
    const resent = buffer.takeUnsent();
    expect(resent.map((e) => e.seq)).toEqual([2, 3, 4, 5]);
    expect(resent[3]!.event).toMatchObject({ type: "agent/gap", payload: { dropped: 1, firstSeq: 1, lastSeq: 1 } });
    expect(buffer.ack(1)).toBe(false);
  });

  it("holds at most MAX_GAP_EVENTS gap events, folding the oldest sent one into the open gap", () => {
    const { buffer, event } = setup(1);
    for (let i = 0; i < 40; i++) {
      buffer.push(event());
      buffer.push(event());
      buffer.takeUnsent();
    }
    const gaps = buffer.snapshot().filter((e) => e.type === "agent/gap");
    expect(gaps.length).toBeLessThanOrEqual(MAX_GAP_EVENTS);
    expect(gaps.reduce((n, g) => n + (g.payload as { dropped: number }).dropped, 0)).toBe(buffer.stats().droppedTotal);
    expect(buffer.snapshot().filter((e) => e.type !== "agent/gap")).toHaveLength(1);
  });

  it("bounds the bytes held, dropping an event bigger than the whole budget", () => {
    const { buffer, event } = setup(1000, 400);
    buffer.push(event("x", { text: "a".repeat(100) }));
    buffer.push(event("x", { text: "b".repeat(100) }));
    expect(buffer.stats().events).toBe(2);
    buffer.push(event("x", { text: "c".repeat(1000) }));
    const held = buffer.snapshot();
    expect(held.map((e) => e.type)).toEqual(["agent/gap"]);
    expect(held[0]!.payload).toEqual({ dropped: 3, firstSeq: 0, lastSeq: 2 });
  });

  it("names the events sent without an ack (in doubt) and drops those the gateway found stored, as if acked", () => {
    const { buffer, event } = setup(100);
    for (let i = 0; i < 6; i++) buffer.push(event());
    expect(buffer.inDoubt(1_000)).toBeNull();
    buffer.takeUnsent(1_000);
    buffer.ack(0);
    buffer.resetSent();
    // 1..5 were sent at 1 000 and never acked; 6..7 were never sent.
    buffer.push(event());
    buffer.push(event());
    expect(buffer.inDoubt(5_000)).toEqual({ firstSeq: 1, lastSeq: 5, ageMs: 4_000 });
    // Sent again later: the age still counts from the first send.
    buffer.takeUnsent(6_000);
    buffer.resetSent();
    expect(buffer.inDoubt(7_000)).toEqual({ firstSeq: 1, lastSeq: 7, ageMs: 6_000 });
    // The gateway found 1..2 and 4 stored (3 is a hole); ranges naming unheld or later seqs change nothing else.
    expect(
      buffer.ackStored([
        [4, 4],
        [0, 2],
        [50, 60],
      ]),
    ).toBe(3);
    expect(buffer.snapshot().map((e) => e.seq)).toEqual([3, 5, 6, 7]);
    expect(buffer.takeUnsent(8_000).map((e) => e.seq)).toEqual([3, 5, 6, 7]);
    // An event never sent is kept whatever the ranges say.
    buffer.push(event());
    expect(buffer.ackStored([[0, 100]])).toBe(4);
    expect(buffer.snapshot().map((e) => e.seq)).toEqual([8]);
    expect(buffer.inDoubt(9_000)).toBeNull();
  });

  it("looks nothing up when an event in doubt was sent without a time", () => {
    const { buffer, event } = setup(10);
    buffer.push(event());
    buffer.takeUnsent();
    buffer.resetSent();
    expect(buffer.inDoubt(1)).toBeNull();
  });

  it("merges gap ranges", () => {
    expect(mergeGaps({ dropped: 2, firstSeq: 5, lastSeq: 6 }, { dropped: 1, firstSeq: 1, lastSeq: 1 })).toEqual({
      dropped: 3,
      firstSeq: 1,
      lastSeq: 6,
    });
  });
});
