/** Bus envelopes to session events: every notification the machine reads, agent kinds, and anything else as activity. */
import { describe, expect, it } from "vitest";
import type { ThreadSyncedPayload } from "../schemas/agent-events.js";
import type { SessionEventEnvelope } from "../schemas/bus.js";
import { notifications } from "../schemas/codex/notifications.js";
import { isPlainStatusChanged, sessionEventsOf } from "./from-bus.js";

const envelope = (type: string, payload: unknown, threadId = "thr-1"): SessionEventEnvelope => ({
  hostId: "host-a",
  threadId,
  epoch: "e1",
  seq: 0,
  emittedAtMs: 1_700_000_000_123,
  type,
  payload,
});
const atMs = 1_700_000_000_123;
const turn = (id: string, status: string) => ({
  id,
  items: [],
  status,
  error: null,
  startedAt: 1,
  completedAt: null,
  durationMs: null,
});
const thread = {
  id: "thr-1",
  sessionId: "thr-1",
  preview: "",
  ephemeral: false,
  createdAt: 1,
  updatedAt: 1,
  status: { type: "idle" },
  cwd: "/w",
  cliVersion: "0.169.0",
  modelProvider: "fake",
  source: "vscode",
  turns: [],
};
const synced: ThreadSyncedPayload = {
  thread: {
    id: "thr-1",
    status: { type: "idle" },
    cwd: "/w",
    preview: "",
    name: null,
    ephemeral: false,
    createdAt: 1,
    updatedAt: 1,
    source: "vscode",
  },
  activeTurnId: null,
  workspace: "/w",
  repo: null,
  branch: null,
  humanAttached: false,
  autonomous: true,
};

describe("isPlainStatusChanged", () => {
  it("accepts only what the schema accepts and gives back unchanged, and maps it as the schema's output", () => {
    const statuses: unknown[] = [
      { type: "idle" },
      { type: "notLoaded" },
      { type: "systemError" },
      { type: "active", activeFlags: [] },
      { type: "active", activeFlags: ["waitingOnApproval", "waitingOnUserInput"] },
      { type: "active", activeFlags: ["waitingOnSomethingNew"] },
      { type: "active", activeFlags: "waitingOnApproval" },
      { type: "active" },
      { type: "active", activeFlags: [], extra: 1 },
      { type: "idle", activeFlags: [] },
      { type: "idle", note: "loose" },
      { type: "unknownKind" },
      { type: 3 },
      {},
      [],
      null,
      "idle",
      JSON.parse('{"type":"idle","__proto__":{"x":1}}'),
    ];
    const payloads: unknown[] = [null, [], "x", { threadId: "thr-1" }, { threadId: 1, status: { type: "idle" } }];
    for (const status of statuses) {
      payloads.push({ threadId: "thr-1", status });
      payloads.push({ status, threadId: "thr-1" });
      payloads.push({ threadId: "thr-1", status, extra: true });
    }
    let plain = 0;
    for (const payload of payloads) {
      const parsed = notifications["thread/status/changed"].params.safeParse(payload);
      if (!isPlainStatusChanged(payload)) {
        // Left to the schema: the mapping is the schema's, whatever it decides.
        const events = sessionEventsOf(envelope("thread/status/changed", payload));
        expect(events, JSON.stringify(payload)).toEqual(
          parsed.success ? [{ type: "STATUS", status: parsed.data.status, atMs }] : [{ type: "ACTIVITY", atMs }],
        );
        continue;
      }
      plain++;
      expect(parsed.success, JSON.stringify(payload)).toBe(true);
      expect(parsed.data, JSON.stringify(payload)).toEqual(payload);
      expect(sessionEventsOf(envelope("thread/status/changed", payload))).toEqual([
        { type: "STATUS", status: parsed.data!.status, atMs },
      ]);
    }
    expect(plain).toBe(10);
  });
});

describe("sessionEventsOf", () => {
  it("maps agent/thread.synced and agent/presence", () => {
    expect(sessionEventsOf(envelope("agent/thread.synced", synced))).toEqual([
      { type: "SYNCED", snapshot: synced, atMs },
    ]);
    expect(sessionEventsOf(envelope("agent/presence", { humanAttached: true, pid: 42, tty: "/dev/pts/3" }))).toEqual([
      { type: "PRESENCE", humanAttached: true, atMs },
    ]);
  });

  it("maps thread notifications to status and close events", () => {
    const active = { type: "active", activeFlags: ["waitingOnApproval"] };
    expect(sessionEventsOf(envelope("thread/status/changed", { threadId: "thr-1", status: active }))).toEqual([
      { type: "STATUS", status: active, atMs },
    ]);
    expect(sessionEventsOf(envelope("thread/started", { thread }))).toEqual([
      { type: "STATUS", status: { type: "idle" }, atMs },
    ]);
    expect(sessionEventsOf(envelope("thread/closed", { threadId: "thr-1" }))).toEqual([{ type: "CLOSED", atMs }]);
  });

  it("carries the thread's model from thread/started, when codex names one", () => {
    const [event] = sessionEventsOf(envelope("thread/started", { thread: { ...thread, model: "gpt-5" } }));
    expect(event).toStrictEqual({ type: "STATUS", status: { type: "idle" }, atMs, model: "gpt-5" });
    const [none] = sessionEventsOf(envelope("thread/started", { thread: { ...thread, model: null } }));
    expect(none).toStrictEqual({ type: "STATUS", status: { type: "idle" }, atMs });
  });

  it("maps thread/tokenUsage/updated to TOKEN_USAGE with the cumulative total in our terms", () => {
    const b = (n: number) => ({
      totalTokens: 15 * n,
      inputTokens: 10 * n,
      cachedInputTokens: 4 * n,
      cacheWriteInputTokens: 0,
      outputTokens: 5 * n,
      reasoningOutputTokens: 2 * n,
    });
    const payload = {
      threadId: "thr-1",
      turnId: "turn-1",
      tokenUsage: { total: b(3), last: b(1), modelContextWindow: 258400 },
    };
    expect(sessionEventsOf(envelope("thread/tokenUsage/updated", payload))).toEqual([
      { type: "TOKEN_USAGE", total: { input: 30, cachedInput: 12, output: 15, reasoning: 6, total: 45 }, atMs },
    ]);
    // Without the optional fields codex may leave out.
    const { cacheWriteInputTokens: _c, ...lean } = b(1);
    const minimal = { threadId: "thr-1", turnId: "turn-1", tokenUsage: { total: lean, last: lean } };
    expect(sessionEventsOf(envelope("thread/tokenUsage/updated", minimal))).toEqual([
      { type: "TOKEN_USAGE", total: { input: 10, cachedInput: 4, output: 5, reasoning: 2, total: 15 }, atMs },
    ]);
  });

  it("maps turn and item notifications", () => {
    expect(
      sessionEventsOf(envelope("turn/started", { threadId: "thr-1", turn: turn("turn-1", "inProgress") })),
    ).toEqual([{ type: "TURN_STARTED", turnId: "turn-1", atMs }]);
    expect(
      sessionEventsOf(envelope("turn/completed", { threadId: "thr-1", turn: turn("turn-1", "interrupted") })),
    ).toEqual([{ type: "TURN_COMPLETED", turnId: "turn-1", status: "interrupted", atMs }]);
    const item = { type: "userMessage", id: "i1", content: [{ type: "text", text: "hi", text_elements: [] }] };
    for (const method of ["item/started", "item/completed"]) {
      const at = method === "item/started" ? { startedAtMs: 1 } : { completedAtMs: 2 };
      expect(sessionEventsOf(envelope(method, { threadId: "thr-1", turnId: "turn-1", item, ...at }))).toEqual([
        { type: "ITEM", turnId: "turn-1", itemType: "userMessage", atMs },
      ]);
    }
    const future = { type: "hologram", id: "i2" };
    expect(
      sessionEventsOf(envelope("item/started", { threadId: "thr-1", turnId: "turn-1", item: future, startedAtMs: 1 })),
    ).toEqual([{ type: "ITEM", turnId: "turn-1", itemType: "hologram", atMs }]);
  });

  it("maps everything else to activity", () => {
    for (const type of [
      "item/agentMessage/delta",
      "account/rateLimits/updated",
      "error",
      "warning",
      "serverRequest/resolved",
      "agent/teleported",
    ]) {
      expect(sessionEventsOf(envelope(type, { anything: true }))).toEqual([{ type: "ACTIVITY", atMs }]);
    }
  });

  it("maps a known type with a malformed payload to activity, never throwing", () => {
    const broken: [string, unknown][] = [
      ["agent/thread.synced", { thread: { id: "thr-1" } }],
      ["agent/presence", { humanAttached: "yes" }],
      ["thread/status/changed", { threadId: "thr-1", status: { type: "busy" } }],
      ["thread/started", null],
      ["thread/closed", "thr-1"],
      ["turn/started", { threadId: "thr-1" }],
      ["turn/completed", { threadId: "thr-1", turn: turn("turn-1", "exploded") }],
      [
        "item/completed",
        { threadId: "thr-1", turnId: "turn-1", item: { type: "agentMessage", id: "x" }, completedAtMs: 1 },
      ],
      ["item/started", undefined],
      ["thread/tokenUsage/updated", { threadId: "thr-1", turnId: "turn-1", tokenUsage: { total: {} } }],
      [
        "thread/tokenUsage/updated",
        {
          threadId: "thr-1",
          turnId: "turn-1",
          tokenUsage: {
            total: {
              totalTokens: -5,
              inputTokens: 0,
              cachedInputTokens: 0,
              outputTokens: -5,
              reasoningOutputTokens: 0,
            },
            last: { totalTokens: 0, inputTokens: 0, cachedInputTokens: 0, outputTokens: 0, reasoningOutputTokens: 0 },
          },
        },
      ],
      ["agent/annotation", { kind: "budget", budget: { state: "stopped" } }],
    ];
    for (const [type, payload] of broken)
      expect(sessionEventsOf(envelope(type, payload))).toEqual([{ type: "ACTIVITY", atMs }]);
  });

  it("maps events about the host itself to no session event", () => {
    expect(sessionEventsOf(envelope("agent/gap", { dropped: 3, firstSeq: 10, lastSeq: 12 }, "_host"))).toEqual([]);
  });
});
