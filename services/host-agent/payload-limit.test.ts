import { describe, expect, it } from "vitest";
import { notifications } from "../../schemas/codex/index.js";
import { jsonBytes, limitPayload } from "./payload-limit.js";

describe("limitPayload", () => {
  it("returns small payloads as they are", () => {
    const p = { threadId: "t", text: "hi" };
    expect(limitPayload(p, 1000)).toBe(p);
  });

  it("cuts long strings first, keeping the notification's shape valid", () => {
    const item = {
      type: "commandExecution",
      id: "i",
      command: "cat big",
      cwd: "/w",
      status: "completed",
      aggregatedOutput: "x".repeat(50_000),
    };
    const params = { threadId: "t", turnId: "u", item, completedAtMs: 1 };
    const out = limitPayload(params, 10_000) as typeof params;
    expect(jsonBytes(out)).toBeLessThanOrEqual(10_000);
    expect(out.item.aggregatedOutput).toMatch(/^x{2048}…\[truncated 47952 chars\]$/);
    expect(notifications["item/completed"].params.safeParse(out).success).toBe(true);
  });

  it("then shortens long arrays, then falls back to a stub", () => {
    const items = Array.from({ length: 500 }, (_, i) => ({ type: "agentMessage", id: `i${i}`, text: "y".repeat(100) }));
    const params = { threadId: "t", turn: { id: "u", items, status: "completed" } };
    const out = limitPayload(params, 20_000) as typeof params;
    expect(out.turn.items).toHaveLength(40);
    expect(out.turn.items.at(-1)!.id).toBe("i499");
    expect(notifications["turn/completed"].params.safeParse(out).success).toBe(true);
    expect(limitPayload(params, 100)).toEqual({ truncated: true, originalBytes: jsonBytes(params), threadId: "t" });
  });
});
