import http from "node:http";
import { afterEach, describe, expect, it, vi } from "vitest";
import { type FakeModel, functionCallOutputs, isTitleRequest, startFakeModel, userTexts } from "./fake-model.js";

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

let model: FakeModel | undefined;
afterEach(async () => {
  await model?.stop();
  model = undefined;
});

function post(body: unknown, signal?: AbortSignal): Promise<Response> {
  return fetch(`${model?.baseUrl}/responses`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: "Bearer fake" },
    body: JSON.stringify(body),
    signal,
  });
}

function parseSse(text: string): SseEvent[] {
  return text
    .split("\n\n")
    .filter((frame) => frame.trim() !== "")
    .map((frame) => {
      const [eventLine, dataLine, ...rest] = frame.split("\n");
      expect(rest).toEqual([]);
      expect(eventLine).toMatch(/^event: /);
      expect(dataLine).toMatch(/^data: /);
      const data = JSON.parse((dataLine as string).slice("data: ".length)) as Record<string, unknown>;
      const event = (eventLine as string).slice("event: ".length);
      expect(data.type).toBe(event);
      return { event, data };
    });
}

const userMessage = (text: string) => ({ type: "message", role: "user", content: [{ type: "input_text", text }] });

describe("fake model", () => {
  it("answers a text reply with the created → added → deltas → done → completed sequence", async () => {
    model = await startFakeModel();
    model.script({ kind: "text", text: "Hello there" });
    const res = await post({ model: "fake-model", stream: true, input: [userMessage("hi")] });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const events = parseSse(await res.text());
    expect(events[0]?.event).toBe("response.created");
    expect(events[1]?.event).toBe("response.output_item.added");
    expect(events.at(-2)?.event).toBe("response.output_item.done");
    expect(events.at(-1)?.event).toBe("response.completed");
    const deltas = events.filter((e) => e.event === "response.output_text.delta").map((e) => e.data.delta);
    expect(deltas.join("")).toBe("Hello there");
    expect(events.at(-2)?.data.item).toMatchObject({
      type: "message",
      role: "assistant",
      content: [{ type: "output_text", text: "Hello there" }],
    });
    // biome-ignore lint/correctness/noUnsafeOptionalChaining: a missing event fails the test, which is what it should do
    expect((events.at(-1)?.data.response as Record<string, unknown>).usage).toMatchObject({ total_tokens: 15 });
    expect(model.requests).toHaveLength(1);
    expect(userTexts(model.requests[0] ?? {})).toEqual(["hi"]);
  });

  it("reports the usage a reply names in response.completed", async () => {
    model = await startFakeModel();
    model.script({ kind: "text", text: "counted", usage: { input: 300, cached: 120, output: 40 } });
    const events = parseSse(
      await (await post({ model: "fake-model", stream: true, input: [userMessage("hi")] })).text(),
    );
    expect((events.at(-1)?.data.response as Record<string, unknown> | undefined)?.usage).toEqual({
      input_tokens: 300,
      input_tokens_details: { cached_tokens: 120 },
      output_tokens: 40,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 340,
    });
  });

  it("falls back to the default reply once the script queue is empty", async () => {
    model = await startFakeModel({ defaultReply: { kind: "text", text: "default" } });
    model.script({ kind: "text", text: "first" });
    const texts: string[] = [];
    for (let i = 0; i < 2; i++) {
      const events = parseSse(await (await post({ input: [] })).text());
      texts.push(
        events
          .filter((e) => e.event === "response.output_text.delta")
          .map((e) => e.data.delta)
          .join(""),
      );
    }
    expect(texts).toEqual(["first", "default"]);
  });

  it("streams a slow reply one delta per delayMs", async () => {
    model = await startFakeModel();
    model.script({ kind: "slow", text: "abcd", chunks: 4, delayMs: 60 });
    const started = Date.now();
    const events = parseSse(await (await post({ input: [] })).text());
    expect(Date.now() - started).toBeGreaterThanOrEqual(4 * 60 - 20);
    expect(events.filter((e) => e.event === "response.output_text.delta").map((e) => e.data.delta)).toEqual([
      "a",
      "b",
      "c",
      "d",
    ]);
    expect(events.at(-1)?.event).toBe("response.completed");
  });

  it("emits a function_call output item with JSON arguments and a call_id", async () => {
    model = await startFakeModel();
    model.script({ kind: "functionCall", name: "exec_command", arguments: { cmd: "echo hi" }, callId: "call_42" });
    const events = parseSse(await (await post({ input: [] })).text());
    expect(events.map((e) => e.event)).toEqual([
      "response.created",
      "response.output_item.added",
      "response.output_item.done",
      "response.completed",
    ]);
    expect(events[2]?.data.item).toEqual({
      type: "function_call",
      id: expect.any(String),
      call_id: "call_42",
      name: "exec_command",
      arguments: '{"cmd":"echo hi"}',
      status: "completed",
    });
    const next = { input: [{ type: "function_call_output", call_id: "call_42", output: "hi\n" }] };
    expect(functionCallOutputs(next)).toEqual([{ callId: "call_42", output: "hi\n" }]);
  });

  it("names the namespace of a namespaced tool (an MCP server's) in its function_call", async () => {
    model = await startFakeModel();
    model.script({
      kind: "functionCall",
      name: "codex_sessions_list",
      namespace: "mcp__openclaw_codex_supervisor",
      arguments: "{}",
    });
    const events = parseSse(await (await post({ input: [] })).text());
    expect(events[2]?.data.item).toMatchObject({
      type: "function_call",
      name: "codex_sessions_list",
      namespace: "mcp__openclaw_codex_supervisor",
      arguments: "{}",
    });
    expect(events[1]?.data.item).toMatchObject({ namespace: "mcp__openclaw_codex_supervisor", arguments: "" });
  });

  it("records a request the client aborts mid-stream and stops writing to it", async () => {
    model = await startFakeModel();
    model.script({ kind: "slow", text: "a long answer", chunks: 50, delayMs: 40 });
    const controller = new AbortController();
    const res = await post({ input: [userMessage("steer me")] }, controller.signal);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    controller.abort();
    await expect(reader.read()).rejects.toThrow();
    await vi.waitFor(() => expect(model?.abortedIndexes).toEqual([0]), { timeout: 2_000 });
    expect(model.requests).toHaveLength(1);
    expect(userTexts(model.requests[0] ?? {})).toEqual(["steer me"]);
  });

  it("routes by a function of the request and answers title requests without consuming the queue", async () => {
    model = await startFakeModel({
      route: (req) => (userTexts(req).includes("ping") ? { kind: "text", text: "pong" } : undefined),
    });
    model.script({ kind: "text", text: "queued" });
    const titleBody = {
      text: {
        format: {
          type: "json_schema",
          name: "codex_output_schema",
          schema: { properties: { title: { type: "string" } } },
        },
      },
      input: [userMessage("Generate a concise, single-line task title")],
    };
    expect(isTitleRequest(titleBody)).toBe(true);
    const read = async (body: unknown) =>
      parseSse(await (await post(body)).text())
        .filter((e) => e.event === "response.output_text.delta")
        .map((e) => e.data.delta)
        .join("");
    expect(await read(titleBody)).toBe('{"title":"Fake task"}');
    expect(await read({ input: [userMessage("ping")] })).toBe("pong");
    expect(await read({ input: [userMessage("other")] })).toBe("queued");
  });

  it("waitForRequest sees past and future requests and times out with a message", async () => {
    model = await startFakeModel();
    await (await post({ input: [userMessage("one")] })).text();
    await expect(model.waitForRequest((r) => userTexts(r).includes("one"), 100)).resolves.toBeDefined();
    const later = model.waitForRequest((r) => userTexts(r).includes("two"), 2_000);
    await (await post({ input: [userMessage("two")] })).text();
    expect(userTexts(await later)).toEqual(["two"]);
    await expect(model.waitForRequest(() => false, 50)).rejects.toThrow(/no matching request/);
  });

  it("answers 404 to anything but POST /responses and records it as unexpected", async () => {
    model = await startFakeModel();
    const res = await fetch(`${model.baseUrl}/models`);
    expect(res.status).toBe(404);
    expect(model.unexpected).toEqual(["GET /v1/models"]);
    expect(model.requests).toEqual([]);
  });

  it("refuses and records CONNECT tunnels, so codex using it as proxy cannot leave loopback", async () => {
    model = await startFakeModel();
    const { port } = new URL(model.baseUrl);
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const req = http.request({ host: "127.0.0.1", port, method: "CONNECT", path: "example.com:443" });
      req.on("connect", (res, socket) => {
        socket.destroy();
        resolve(res.statusCode);
      });
      req.on("error", reject);
      req.end();
    });
    expect(status).toBe(403);
    expect(model.blockedEgress).toEqual(["example.com:443"]);
  });

  it("stop() ends open streams", async () => {
    model = await startFakeModel();
    model.script({ kind: "slow", text: "never finishes in time", chunks: 100, delayMs: 1_000 });
    const res = await post({ input: [] });
    const body = res.text().then(
      () => "ended",
      () => "errored",
    );
    await model.waitForRequest(() => true, 1_000);
    const started = Date.now();
    await model.stop();
    expect(await body).toMatch(/ended|errored/);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
