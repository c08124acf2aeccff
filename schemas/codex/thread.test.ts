import { describe, expect, it } from "vitest";
import { classifyWireMessage, notifications, textInput, ThreadItem, ThreadStatus, Turn } from "./index.js";

describe("Codex thread schemas", () => {
  it("keep unknown fields and unknown item kinds, but reject a known kind missing what we rely on", () => {
    const turn = Turn.parse({
      id: "t1",
      status: "completed",
      items: [
        { type: "agentMessage", id: "i1", text: "done", phase: null, futureField: 1 },
        { type: "hookPrompt", id: "i2", fragments: [] },
      ],
      someNewTurnField: true,
    });
    expect(turn.items[0]).toMatchObject({ type: "agentMessage", text: "done", futureField: 1 });
    expect(turn.items[1]).toMatchObject({ type: "hookPrompt", id: "i2" });
    expect(turn).toHaveProperty("someNewTurnField", true);
    expect(ThreadItem.safeParse({ type: "agentMessage", id: "i3" }).success).toBe(false);
  });

  it("parse every thread status, and refuse an unknown one", () => {
    expect(ThreadStatus.parse({ type: "active", activeFlags: ["waitingOnApproval"] })).toEqual({
      type: "active",
      activeFlags: ["waitingOnApproval"],
    });
    expect(ThreadStatus.safeParse({ type: "sleeping" }).success).toBe(false);
    expect(ThreadStatus.safeParse({ type: "active" }).success).toBe(false);
  });

  it("build the text input the app-server expects", () => {
    expect(textInput("hi")).toEqual([{ type: "text", text: "hi", text_elements: [] }]);
  });

  it("parse notification params by method", () => {
    const params = notifications["turn/completed"].params.parse({
      threadId: "th",
      turn: { id: "t", items: [], status: "interrupted", error: null },
    });
    expect(params.turn.status).toBe("interrupted");
  });
});

describe("classifyWireMessage", () => {
  it("tells requests, notifications, results and errors apart without a jsonrpc field", () => {
    expect(classifyWireMessage({ id: 1, method: "x", params: {} }).kind).toBe("request");
    expect(classifyWireMessage({ method: "x", params: {}, emittedAtMs: 1 }).kind).toBe("notification");
    expect(classifyWireMessage({ id: "a", result: {} }).kind).toBe("result");
    expect(classifyWireMessage({ id: 2, error: { code: -32600, message: "no" } }).kind).toBe("error");
  });

  it("says why a value is no message", () => {
    expect(classifyWireMessage([1])).toEqual({ kind: "invalid", reason: "a message must be a JSON object" });
    expect(classifyWireMessage({ id: 1 })).toMatchObject({ kind: "invalid" });
    expect(classifyWireMessage({ id: {}, method: "x" })).toMatchObject({ kind: "invalid" });
  });
});
