import { existsSync, readFileSync, readlinkSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import type WebSocket from "ws";
import { codexBinPath, codexVersion } from "./codex-bin.js";
import { type CodexAppServer, processAlive, startCodexAppServer } from "./codex-harness.js";
import { type FakeModel, functionCallOutputs, startFakeModel, userTexts } from "./fake-model.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

interface Message {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { code: number; message: string };
}

/** A hand-written JSON-RPC peer: no "jsonrpc" field, requests `{id, method, params}`. */
function rpcPeer(ws: WebSocket) {
  const seen: Message[] = [];
  const listeners = new Set<() => void>();
  let nextId = 0;
  ws.on("message", (data) => {
    seen.push(JSON.parse(data.toString()) as Message);
    for (const wake of [...listeners]) wake();
  });
  const waitFor = (pred: (m: Message) => boolean, timeoutMs = 15_000): Promise<Message> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = seen.find(pred);
        if (!hit) return;
        cleanup();
        resolve(hit);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `no matching message in ${timeoutMs} ms; saw ${seen.map((m) => m.method ?? `#${m.id}`).join(", ")}`,
          ),
        );
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        listeners.delete(check);
      };
      listeners.add(check);
      check();
    });
  return {
    seen,
    waitFor,
    notify: (method: string, params?: unknown) =>
      ws.send(JSON.stringify(params === undefined ? { method } : { method, params })),
    request: async (method: string, params: unknown): Promise<Record<string, unknown>> => {
      const id = ++nextId;
      ws.send(JSON.stringify({ id, method, params }));
      const reply = await waitFor((m) => m.id === id && m.method === undefined);
      if (reply.error) throw new Error(`${method}: ${reply.error.code} ${reply.error.message}`);
      return reply.result ?? {};
    },
  };
}

async function runOneTurn(server: CodexAppServer, text: string) {
  const ws = await server.connect();
  try {
    const rpc = rpcPeer(ws);
    const init = await rpc.request("initialize", {
      clientInfo: { name: "harness-test", title: "Harness test", version: "0.0.0" },
      capabilities: { experimentalApi: false },
    });
    expect(init).toMatchObject({ codexHome: server.codexHome });
    rpc.notify("initialized");
    const started = await rpc.request("thread/start", { cwd: server.workspace });
    const threadId = (started.thread as { id: string }).id;
    const turnStart = await rpc.request("turn/start", { threadId, input: [{ type: "text", text, text_elements: [] }] });
    const turnId = (turnStart.turn as { id: string }).id;
    const completed = await rpc.waitFor(
      (m) => m.method === "turn/completed" && (m.params?.turn as { id?: string })?.id === turnId,
    );
    const agentMessages = rpc.seen
      .filter((m) => m.method === "item/completed" && (m.params?.item as { type?: string })?.type === "agentMessage")
      // biome-ignore lint/correctness/noUnsafeOptionalChaining: a missing item fails the test, which is what it should do
      .map((m) => (m.params?.item as { text: string }).text);
    return { threadId, turn: completed.params?.turn as { status: string }, agentMessages, rpc };
  } finally {
    ws.close();
  }
}

let model: FakeModel | undefined;
let server: CodexAppServer | undefined;
afterEach(async () => {
  const pid = server?.pid;
  const dir = server?.codexHome;
  await server?.stop();
  await model?.stop();
  server = undefined;
  model = undefined;
  if (pid !== undefined) expect(processAlive(pid)).toBe(false);
  if (dir !== undefined) expect(existsSync(dir)).toBe(false);
});

describe("codex binary", () => {
  it("resolves the native binary of the pinned version", async () => {
    expect(codexBinPath()).toMatch(/codex$/);
    // The pin in package.json, unless codex:check points the tests at another release.
    const pinned = (
      JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8")) as {
        devDependencies: Record<string, string>;
      }
    ).devDependencies["@openai/codex"];
    if (process.env.CLAW_CODEX_BIN) expect(await codexVersion()).toMatch(/^\d+\.\d+\.\d+/);
    else expect(await codexVersion()).toBe(pinned);
  });
});

describe("codex app-server harness", () => {
  for (const listen of ["unix", "ws"] as const) {
    it(`runs a turn against the fake model over ${listen}`, async () => {
      model = await startFakeModel({ defaultReply: { kind: "text", text: `reply over ${listen}` } });
      server = await startCodexAppServer({ model, listen });
      expect(server.endpoint).toMatch(listen === "unix" ? /^unix:\/\/\/.+\/app\.sock$/ : /^ws:\/\/127\.0\.0\.1:\d+$/);
      const { turn, agentMessages } = await runOneTurn(server, "hi");
      expect(turn.status).toBe("completed");
      expect(agentMessages).toEqual([`reply over ${listen}`]);
      expect(userTexts(model.requests[0] ?? {})).toContain("hi");
      expect(model.unexpected).toEqual([]);
    });
  }

  it("feeds a function call back to the model as function_call_output", async () => {
    model = await startFakeModel({ defaultReply: { kind: "text", text: "done after tool" } });
    model.script({
      kind: "functionCall",
      name: "exec_command",
      arguments: { cmd: "echo harness-tool" },
      callId: "call_t1",
    });
    server = await startCodexAppServer({ model, listen: "unix" });
    const { turn, agentMessages } = await runOneTurn(server, "run a tool");
    expect(turn.status).toBe("completed");
    expect(agentMessages).toEqual(["done after tool"]);
    const second = await model.waitForRequest((r) => functionCallOutputs(r).length > 0, 5_000);
    const [output] = functionCallOutputs(second);
    expect(output?.callId).toBe("call_t1");
    expect(JSON.stringify(output?.output)).toContain("harness-tool");
  });

  it("a steer aborts the slow model request and the next request carries the steer text", async () => {
    model = await startFakeModel({ defaultReply: { kind: "text", text: "steered answer" } });
    model.script({ kind: "slow", text: "a slow answer that takes a while", chunks: 40, delayMs: 200 });
    server = await startCodexAppServer({ model, listen: "unix" });
    const ws = await server.connect();
    try {
      const rpc = rpcPeer(ws);
      await rpc.request("initialize", {
        clientInfo: { name: "t", title: "t", version: "0" },
        capabilities: { experimentalApi: false },
      });
      rpc.notify("initialized");
      const threadId = ((await rpc.request("thread/start", {})).thread as { id: string }).id;
      const turnId = (
        (await rpc.request("turn/start", { threadId, input: [{ type: "text", text: "go", text_elements: [] }] }))
          .turn as { id: string }
      ).id;
      await rpc.waitFor((m) => m.method === "item/agentMessage/delta");
      await rpc.request("turn/steer", {
        threadId,
        expectedTurnId: turnId,
        input: [{ type: "text", text: "STEER-TEXT", text_elements: [] }],
      });
      const steered = await model.waitForRequest((r) => userTexts(r).includes("STEER-TEXT"), 10_000);
      expect(model.requests.indexOf(steered)).toBe(1);
      await rpc.waitFor((m) => m.method === "turn/completed");
      expect(model.abortedIndexes).toContain(0);
    } finally {
      ws.close();
    }
  });

  it("stop() kills a server that is mid-turn and cleans up its socket", async () => {
    model = await startFakeModel({ defaultReply: { kind: "slow", text: "endless", chunks: 100, delayMs: 1_000 } });
    server = await startCodexAppServer({ model, listen: "unix" });
    const ws = await server.connect();
    const rpc = rpcPeer(ws);
    await rpc.request("initialize", {
      clientInfo: { name: "t", title: "t", version: "0" },
      capabilities: { experimentalApi: false },
    });
    rpc.notify("initialized");
    const threadId = ((await rpc.request("thread/start", {})).thread as { id: string }).id;
    await rpc.request("turn/start", { threadId, input: [{ type: "text", text: "go", text_elements: [] }] });
    await model.waitForRequest(() => true, 10_000);
    const { pid, socketPath } = server;
    const target = readlinkSync(socketPath as string);
    expect(target).toMatch(/codex-daemon-/);
    const started = Date.now();
    await server.stop(500);
    ws.close();
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(processAlive(pid)).toBe(false);
    expect(socketPath && existsSync(socketPath)).toBeFalsy();
    expect(existsSync(target)).toBe(false);
    expect(existsSync(`${target}.lock`)).toBe(false);
  });
});
