import { describe, expect, it } from "vitest";
import type { Turn } from "../../schemas/codex/index.js";
import { missedTurnNotifications } from "./catch-up.js";

const user = { type: "userMessage", id: "i1", content: [{ type: "text", text: "hi" }], completedAtMs: 1_500 };
const agent = { type: "agentMessage", id: "i2", text: "hello", completedAtMs: 1_900 };
const done: Turn = { id: "t1", items: [user, agent], status: "completed", startedAt: 1, completedAt: 2 } as Turn;
const running: Turn = { id: "t2", items: [], status: "inProgress", startedAt: 3 } as Turn;

describe("missedTurnNotifications", () => {
  it("rebuilds a whole missed turn, oldest first, marked as recovered", () => {
    const out = missedTurnNotifications("th", [done, running], [], 9_000);
    expect(out.map((n) => n.method)).toEqual([
      "turn/started",
      "item/completed",
      "item/completed",
      "turn/completed",
      "turn/started",
    ]);
    expect(out[0]).toMatchObject({
      emittedAtMs: 1_000,
      params: { threadId: "th", recoveredByAgent: true, turn: { id: "t1", status: "inProgress", items: [] } },
    });
    expect(out[1]).toMatchObject({ emittedAtMs: 1_500, params: { turnId: "t1", item: { id: "i1" } } });
    expect(out[3]).toMatchObject({ emittedAtMs: 2_000, params: { turn: { id: "t1", status: "completed" } } });
    expect(out[4]).toMatchObject({ emittedAtMs: 3_000, params: { turn: { id: "t2" } } });
  });

  it("skips what did arrive: a started item will complete on its own", () => {
    const arrived = [
      { method: "item/started", params: { threadId: "th", turnId: "t1", item: { id: "i1" } } },
      { method: "turn/completed", params: { threadId: "th", turn: { id: "t1" } } },
    ];
    const out = missedTurnNotifications("th", [done], arrived, 0);
    expect(out.map((n) => [n.method, (n.params as { item?: { id: string } }).item?.id])).toEqual([
      ["turn/started", undefined],
      ["item/completed", "i2"],
    ]);
  });
});
