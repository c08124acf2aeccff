/**
 * The host agent's gateway side against a test gateway (and the real app-server for events): buffering while
 * the gateway is down, in-order replay and acks, the bounded buffer's gap event, and a refused token.
 */
import { writeFileSync } from "node:fs";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { GapPayload, HOST_THREAD_ID } from "../../schemas/agent-events.js";
import { startAgentRig } from "./test-rig.js";
import { useFixture } from "../../test/support/fixture.js";

const rig = useFixture(() => startAgentRig({}));
let threadId: string;

beforeAll(async () => {
  threadId = await rig.startThread();
  await rig.runTurn(threadId, "a first turn");
});
afterEach(async () => {
  await rig.agent?.stop();
  rig.agent = undefined;
  rig.gateway.setAckMode("auto");
  await rig.gateway.close();
  await rig.gateway.listen();
});

const seqs = (events: { seq: number }[]): number[] => events.map((e) => e.seq);

describe("host agent ↔ gateway", () => {
  it("buffers while the gateway is down, replays in order after the welcome, and forgets events once acked", async () => {
    await rig.gateway.close();
    const agent = await rig.startAgent();
    await waitUntil(() => agent.status().events >= 1); // the thread's first snapshot: it is subscribed
    await rig.runTurn(threadId, "a turn while the gateway is down");
    await waitUntil(() => agent.status().appServer === "connected" && agent.status().buffer.events >= 5);
    const buffered = await settled(() => agent.status().buffer.events);
    expect(agent.status().gateway).not.toBe("ready");

    rig.gateway.setAckMode("hold");
    await rig.gateway.listen();
    await rig.gateway.waitFor(() => rig.gateway.events().length >= buffered, 10_000, "the replay");
    const firstConnection = rig.gateway.events();
    // The replay is the buffer in order; the re-sync snapshots follow it.
    expect(seqs(firstConnection)).toEqual(firstConnection.map((_, i) => i));
    expect(firstConnection.slice(buffered).every((e) => e.type === "agent/thread.synced")).toBe(true);
    expect(rig.gateway.frames[0]).toMatchObject({ type: "hello", hostId: "host-a", epoch: agent.epoch });
    expect(rig.gateway.upgrades.at(-1)).toEqual({ authorization: "Bearer host-token-for-tests", status: 101 });
    expect(agent.status().buffer.events).toBeGreaterThanOrEqual(buffered);

    // Nothing acked yet: a dropped connection replays everything again, in the same order.
    const sentBefore = rig.gateway.events().length;
    rig.gateway.dropConnections();
    await rig.gateway.waitFor(() => rig.gateway.events().length >= 2 * sentBefore, 10_000, "the second replay");
    expect(seqs(rig.gateway.events().slice(sentBefore, 2 * sentBefore))).toEqual(
      seqs(firstConnection.slice(0, sentBefore)),
    );

    rig.gateway.ackAll();
    rig.gateway.setAckMode("auto");
    await waitUntil(() => agent.status().buffer.events === 0);
  });

  it("drops the oldest events when the buffer is full and sends one agent/gap with their count and range", async () => {
    await rig.gateway.close();
    const before = rig.gateway.events().length;
    const agent = await rig.startAgent({ buffer: { maxEvents: 4 } });
    await waitUntil(() => agent.status().events >= 1);
    await rig.runTurn(threadId, "a turn that overflows a tiny buffer");
    await waitUntil(() => agent.status().buffer.droppedTotal > 0 && agent.status().events >= 10);
    await rig.gateway.listen();
    await rig.gateway.waitFor(
      () =>
        rig.gateway
          .events()
          .slice(before)
          .some((e) => e.type === "agent/gap"),
      10_000,
      "agent/gap",
    );
    await waitUntil(() => agent.status().buffer.events === 0);
    const received = rig.gateway.uniqueEvents().filter((e) => e.epoch === agent.epoch);
    const gaps = received.filter((e) => e.type === "agent/gap");
    expect(gaps.every((g) => g.threadId === HOST_THREAD_ID)).toBe(true);
    const ranges = gaps.map((g) => GapPayload.parse(g.payload));
    expect(ranges[0]!.firstSeq).toBe(0);
    expect(ranges.reduce((n, r) => n + r.dropped, 0)).toBe(agent.status().buffer.droppedTotal);
    // Every seq this run created was either delivered or lies inside a gap's range.
    for (let seq = 0; seq < agent.status().events; seq++) {
      const delivered = received.some((e) => e.seq === seq);
      expect(delivered || ranges.some((r) => seq >= r.firstSeq && seq <= r.lastSeq), `seq ${seq}`).toBe(true);
    }
    // The replay after the reconnect held at most the buffer's four events plus the gap.
    expect(received.filter((e) => e.seq < gaps[0]!.seq).length).toBeLessThanOrEqual(4);
  });

  it("keeps retrying slowly when the gateway refuses the token, and connects once the token is fixed", async () => {
    rig.gateway.setToken("rotated-token");
    const before = rig.gateway.upgrades.length;
    const agent = await rig.startAgent({ unauthorizedRetryMs: 300 });
    await waitUntil(() => rig.gateway.upgrades.slice(before).filter((u) => u.status === 401).length >= 2);
    expect(agent.status().gateway).toBe("unauthorized");
    writeFileSync(rig.tokenFile, "rotated-token\n");
    await waitUntil(() => agent.status().gateway === "ready");
    expect(rig.gateway.upgrades.at(-1)).toEqual({ authorization: "Bearer rotated-token", status: 101 });
  });
});

/** The value once it has not changed for `quietMs` (events of a finished turn trickle in for a moment). */
async function settled(read: () => number, quietMs = 500): Promise<number> {
  let value = read();
  let since = Date.now();
  while (Date.now() - since < quietMs) {
    await new Promise((r) => setTimeout(r, 25));
    const next = read();
    if (next !== value) [value, since] = [next, Date.now()];
  }
  return value;
}

async function waitUntil(pred: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
