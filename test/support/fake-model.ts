import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";

/** One parsed JSON body of a `POST /v1/responses` request, as Codex sent it. */
export type ModelRequest = Record<string, unknown>;

/** The token usage a reply reports in `response.completed` (default: 10 input, none cached, 5 output). */
export interface ReplyUsage {
  input: number;
  cached?: number;
  output: number;
}

/** How the fake model answers one request: instant text, slow streamed text, or a tool call; `usage` is what it reports. */
export type ScriptedReply = (
  | { kind: "text"; text: string }
  | { kind: "slow"; text: string; chunks?: number; delayMs?: number }
  | {
      kind: "functionCall";
      name: string;
      arguments: string | Record<string, unknown>;
      callId?: string;
      namespace?: string;
    }
) & { usage?: ReplyUsage };

/** Picks a reply from the request body; returning undefined falls through to the script queue. */
export type ReplyRoute = (request: ModelRequest) => ScriptedReply | undefined;

/** Marker a test puts in a prompt to get a slow, streamed answer; how slow is each test's own choice. */
export const SLOW = "[slow]";

/** A route giving `slow` (streamed) when the last user text carries {@link SLOW}, else `otherwise` (default: fall through). */
export function slowWhenMarked(
  slow: { text: string; chunks?: number; delayMs?: number },
  otherwise?: ScriptedReply,
): ReplyRoute {
  return (request) => (userTexts(request).at(-1)?.includes(SLOW) ? { kind: "slow", ...slow } : otherwise);
}

/** Options of {@link startFakeModel}; `defaultReply` answers whenever the queue is empty. */
export interface FakeModelOptions {
  defaultReply?: ScriptedReply;
  route?: ReplyRoute;
  /** Title-generation requests get `{"title": titles}` without consuming the queue; `false` queues them like any other. Default "Fake task". */
  titles?: string | false;
}

/** A running fake OpenAI Responses provider on 127.0.0.1; `baseUrl` ends in `/v1`. */
export interface FakeModel {
  readonly baseUrl: string;
  /** Every `/responses` body received, in arrival order, including ones the client aborted. */
  readonly requests: ModelRequest[];
  /** Indexes into `requests` whose stream the client closed before the fake model finished it. */
  readonly abortedIndexes: number[];
  /** Method and path of every request that was not `POST .../responses` (answered 404). */
  readonly unexpected: string[];
  /** `host:port` of every CONNECT refused while codex used this server as its HTTP(S) proxy (escape attempts). */
  readonly blockedEgress: string[];
  /** Appends replies to the queue; each request consumes one, then `defaultReply` applies. */
  script(...replies: ScriptedReply[]): void;
  /** Sets a reply chooser consulted before the queue (undefined removes it). */
  route(route: ReplyRoute | undefined): void;
  /** Resolves with the first request (already received or future) matching `pred`; rejects after `timeoutMs`. */
  waitForRequest(pred: (request: ModelRequest, index: number) => boolean, timeoutMs?: number): Promise<ModelRequest>;
  /** Ends every open stream and closes the server. Idempotent. */
  stop(): Promise<void>;
}

/** True for the TUI's title-generation request: it asks for a JSON object with a `title` via `text.format.json_schema`. */
export function isTitleRequest(request: ModelRequest): boolean {
  const format = isRecord(request.text) && isRecord(request.text.format) ? request.text.format : undefined;
  const properties =
    isRecord(format?.schema) && isRecord(format.schema.properties) ? format.schema.properties : undefined;
  return format?.type === "json_schema" && properties !== undefined && "title" in properties;
}

/** Every `input_text` of the user-role messages in a request body, in order (includes Codex's own context messages). */
export function userTexts(request: ModelRequest): string[] {
  const input = Array.isArray(request.input) ? (request.input as unknown[]) : [];
  const texts: string[] = [];
  for (const item of input) {
    if (!isRecord(item) || item.type !== "message" || item.role !== "user") continue;
    const content = Array.isArray(item.content) ? (item.content as unknown[]) : [];
    for (const part of content) {
      if (isRecord(part) && part.type === "input_text" && typeof part.text === "string") texts.push(part.text);
    }
  }
  return texts;
}

/** The `function_call_output` items of a request body, as `{ callId, output }`. */
export function functionCallOutputs(request: ModelRequest): { callId: string; output: unknown }[] {
  const input = Array.isArray(request.input) ? (request.input as unknown[]) : [];
  return input
    .filter((item): item is Record<string, unknown> => isRecord(item) && item.type === "function_call_output")
    .map((item) => ({ callId: String(item.call_id), output: item.output }));
}

/** Starts the fake model on 127.0.0.1 with a random port; resolves once it is listening. */
export async function startFakeModel(options: FakeModelOptions = {}): Promise<FakeModel> {
  const requests: ModelRequest[] = [];
  const abortedIndexes: number[] = [];
  const unexpected: string[] = [];
  const blockedEgress: string[] = [];
  const queue: ScriptedReply[] = [];
  const defaultReply: ScriptedReply = options.defaultReply ?? { kind: "text", text: "Hello from the fake model." };
  let route = options.route;
  const waiters = new Set<() => void>();
  const openStreams = new Set<http.ServerResponse>();
  let sequence = 0;
  const titles = options.titles ?? "Fake task";
  const titleReply = (body: ModelRequest): ScriptedReply | undefined =>
    titles !== false && isTitleRequest(body) ? { kind: "text", text: JSON.stringify({ title: titles }) } : undefined;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      if (req.method !== "POST" || !/\/responses$/.test(req.url?.split("?")[0] ?? "")) {
        unexpected.push(`${req.method} ${req.url}`);
        res.writeHead(404, { "content-type": "application/json" }).end('{"error":{"message":"not found"}}');
        return;
      }
      const body = parseBody(Buffer.concat(chunks).toString("utf8"));
      const index = requests.push(body) - 1;
      for (const wake of [...waiters]) wake();
      const reply = route?.(body) ?? titleReply(body) ?? queue.shift() ?? defaultReply;
      openStreams.add(res);
      res.on("close", () => {
        openStreams.delete(res);
        if (!res.writableFinished) abortedIndexes.push(index);
      });
      streamReply(res, reply, ++sequence);
    });
  });
  // Codex runs with this server as HTTPS proxy so nothing leaves loopback; tunnels are refused and recorded.
  server.on("connect", (req: http.IncomingMessage, socket: Duplex) => {
    blockedEgress.push(req.url ?? "");
    socket.on("error", () => undefined);
    socket.end("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let stopped: Promise<void> | undefined;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    abortedIndexes,
    unexpected,
    blockedEgress,
    script: (...replies) => void queue.push(...replies),
    route: (next) => void (route = next),
    waitForRequest: (pred, timeoutMs = 10_000) =>
      new Promise<ModelRequest>((resolve, reject) => {
        let checked = 0;
        const check = (): void => {
          for (; checked < requests.length; checked++) {
            const request = requests[checked] as ModelRequest;
            if (pred(request, checked)) {
              finish();
              resolve(request);
              return;
            }
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`fake model: no matching request within ${timeoutMs} ms (${requests.length} received)`));
        }, timeoutMs);
        const finish = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        for (const res of openStreams) res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

/** Writes one whole SSE response for `reply`; stops quietly if the client goes away first. */
function streamReply(res: http.ServerResponse, reply: ScriptedReply, seq: number): void {
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-cache",
    connection: "keep-alive",
  });
  const responseId = `resp_fake_${seq}`;
  const send = (type: string, payload: Record<string, unknown>): void => {
    if (!res.destroyed && !res.writableEnded) res.write(sseFrame(type, { type, ...payload }));
  };
  send("response.created", { response: { id: responseId, object: "response", status: "in_progress", output: [] } });
  const complete = (): void => {
    send("response.completed", {
      response: { id: responseId, object: "response", status: "completed", usage: usage(reply.usage) },
    });
    res.end();
  };

  if (reply.kind === "functionCall") {
    const args = typeof reply.arguments === "string" ? reply.arguments : JSON.stringify(reply.arguments);
    const item = {
      type: "function_call",
      id: `fc_fake_${seq}`,
      call_id: reply.callId ?? `call_fake_${seq}`,
      name: reply.name,
      // Tools Codex offers inside a `namespace` tool (its MCP servers' tools) are called by name plus namespace.
      ...(reply.namespace === undefined ? {} : { namespace: reply.namespace }),
      arguments: args,
      status: "completed",
    };
    send("response.output_item.added", { output_index: 0, item: { ...item, arguments: "", status: "in_progress" } });
    send("response.output_item.done", { output_index: 0, item });
    complete();
    return;
  }

  const itemId = `msg_fake_${seq}`;
  send("response.output_item.added", {
    output_index: 0,
    item: { type: "message", id: itemId, role: "assistant", status: "in_progress", content: [] },
  });
  const pieces = reply.kind === "slow" ? split(reply.text, reply.chunks ?? 10) : split(reply.text, 3);
  const delta = (piece: string): void =>
    send("response.output_text.delta", { item_id: itemId, output_index: 0, content_index: 0, delta: piece });
  const finishMessage = (): void => {
    send("response.output_item.done", {
      output_index: 0,
      item: {
        type: "message",
        id: itemId,
        role: "assistant",
        status: "completed",
        content: [{ type: "output_text", text: reply.text, annotations: [] }],
      },
    });
    complete();
  };

  if (reply.kind === "text") {
    pieces.forEach(delta);
    finishMessage();
    return;
  }
  let next = 0;
  const timer = setInterval(() => {
    if (res.destroyed || res.writableEnded) {
      clearInterval(timer);
      return;
    }
    if (next < pieces.length) {
      delta(pieces[next++] as string);
      return;
    }
    clearInterval(timer);
    finishMessage();
  }, reply.delayMs ?? 300);
  res.on("close", () => clearInterval(timer));
}

/** Formats one server-sent event frame: `event: <type>\ndata: <json>\n\n`. */
export function sseFrame(type: string, data: Record<string, unknown>): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

function usage(u: ReplyUsage = { input: 10, output: 5 }): Record<string, unknown> {
  return {
    input_tokens: u.input,
    input_tokens_details: { cached_tokens: u.cached ?? 0 },
    output_tokens: u.output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: u.input + u.output,
  };
}

function split(text: string, count: number): string[] {
  const n = Math.max(1, Math.min(count, text.length));
  const size = Math.ceil(text.length / n);
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces.length > 0 ? pieces : [""];
}

function parseBody(raw: string): ModelRequest {
  try {
    const parsed: unknown = JSON.parse(raw);
    return isRecord(parsed) ? parsed : { value: parsed };
  } catch {
    return { unparsedBody: raw };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
