// The dashboard's `claws` poll (claws-feed.ts): asked only while a page listens, handed on only when ownership
// changed (not for ages alone), the latest kept through failures and aged for a page that connects later.
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ClawsResult } from "../../../schemas/claw-groups.js";
import { ServerMessage } from "../../../schemas/dashboard.js";
import { type AskClaws, ClawsFeed, agedClaws, clawsSignature } from "./claws-feed.js";

const result = (clawId: string, heldForMs: number): ClawsResult =>
  ClawsResult.parse({
    configured: true,
    leaseTtlMs: 15_000,
    groups: [{ name: "app", parent: null, owns: [{ repo: "app" }], claws: ["claw-a", "claw-b"] }],
    claws: [{ clawId, group: "app", live: true, seenAgoMs: 1_000, sessions: 1 }],
    sessions: [{ sessionId: "s1", clawId, epoch: 3, heldForMs, renewedAgoMs: 500, group: "app", escalatedFrom: null }],
  });

describe("ClawsFeed", () => {
  afterEach(() => vi.useRealTimers());

  it("polls only while someone listens, and hands on an answer only when more than its ages changed", async () => {
    vi.useFakeTimers();
    const answers = [result("claw-a", 1_000), result("claw-a", 6_000), result("claw-b", 10)];
    let asked = 0;
    const ask: AskClaws = async () => {
      const r = answers[Math.min(asked, answers.length - 1)] as ClawsResult;
      asked++;
      return { ok: true, result: r };
    };
    const feed = new ClawsFeed(ask, pino({ level: "silent" }), 1_000);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(asked).toBe(0);
    const got: string[] = [];
    const off = feed.subscribe((r) => got.push(r.sessions[0]?.clawId ?? "-"));
    await vi.advanceTimersByTimeAsync(0);
    expect(asked).toBe(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(asked).toBe(2);
    expect(got).toEqual(["claw-a"]);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(got).toEqual(["claw-a", "claw-b"]);
    off();
    const before = asked;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(asked).toBe(before);
    feed.stop();
  });

  it("keeps the last answer through a failure, and gives it aged to a page that connects later", async () => {
    vi.useFakeTimers({ now: 1_000_000 });
    let fail = false;
    const feed = new ClawsFeed(
      async () => (fail ? { ok: false, why: "timeout" } : { ok: true, result: result("claw-a", 2_000) }),
      pino({ level: "silent" }),
      1_000,
    );
    expect(feed.current()).toBeNull();
    const off = feed.subscribe(() => undefined);
    await vi.advanceTimersByTimeAsync(0);
    fail = true;
    await vi.advanceTimersByTimeAsync(3_000);
    const now = feed.current();
    expect(now?.sessions[0]).toMatchObject({ clawId: "claw-a", heldForMs: 5_000, renewedAgoMs: 3_500 });
    expect(now?.claws[0]?.seenAgoMs).toBe(4_000);
    // As sent on the socket, it is a frame of the protocol.
    expect(ServerMessage.safeParse({ type: "claws", claws: now }).success).toBe(true);
    off();
    feed.stop();
  });

  it("signs an answer without its ages", () => {
    expect(clawsSignature(result("claw-a", 1))).toBe(clawsSignature(agedClaws(result("claw-a", 1), 9_000)));
    expect(clawsSignature(result("claw-a", 1))).not.toBe(clawsSignature(result("claw-b", 1)));
  });
});
