/**
 * What the client costs over a direct call: the same requests to the same real codex app-server (unix
 * socket, offline against the fake model), once through CodexRpcClient (params and results checked with
 * zod, typed errors) and once as raw JSON over a bare WebSocket (the baseline). Prints medians, p95 and
 * the ratio client/raw per method. Sequential calls, one at a time, after a warm-up.
 */
import os from "node:os";
import { performance } from "node:perf_hooks";
import type WebSocket from "ws";
import { textInput } from "../schemas/codex/index.js";
import { connectCodex, parseEndpoint, type CodexRpcClient } from "../services/codex-rpc/index.js";
import { codexVersion } from "../test/support/codex-bin.js";
import { startCodexAppServer } from "../test/support/codex-harness.js";
import { startFakeModel } from "../test/support/fake-model.js";

const WARMUP = 100;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 1000);

type Call = { method: string; params: unknown };

/** Calls over a bare WebSocket: write JSON, wait for the response with that id, no validation. */
function rawCaller(ws: WebSocket): (call: Call) => Promise<unknown> {
  let nextId = 1;
  const waiting = new Map<number, (v: unknown) => void>();
  ws.on("message", (data) => {
    const msg = JSON.parse(data.toString()) as { id?: number; result?: unknown };
    if (msg.id !== undefined) waiting.get(msg.id)?.(msg.result);
  });
  return (call) =>
    new Promise((resolve) => {
      const id = nextId++;
      waiting.set(id, (v) => {
        waiting.delete(id);
        resolve(v);
      });
      ws.send(JSON.stringify({ id, method: call.method, params: call.params }));
    });
}

/** Times two ways of making the same call, interleaved (alternating which goes first) so drift hits both alike. */
async function timePair(a: () => Promise<unknown>, b: () => Promise<unknown>): Promise<[number[], number[]]> {
  for (let i = 0; i < WARMUP; i++) {
    await a();
    await b();
  }
  const samplesA: number[] = [];
  const samplesB: number[] = [];
  const time = async (fn: () => Promise<unknown>, into: number[]) => {
    const t0 = performance.now();
    await fn();
    into.push(performance.now() - t0);
  };
  for (let i = 0; i < ROUNDS; i++) {
    if (i % 2 === 0) {
      await time(a, samplesA);
      await time(b, samplesB);
    } else {
      await time(b, samplesB);
      await time(a, samplesA);
    }
  }
  return [samplesA.sort((x, y) => x - y), samplesB.sort((x, y) => x - y)];
}

const quantile = (sorted: number[], q: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function main(): Promise<void> {
  const model = await startFakeModel({ defaultReply: { kind: "text", text: "A short answer for the benchmark." } });
  const server = await startCodexAppServer({ model, listen: "unix" });
  let client: CodexRpcClient | undefined;
  let ws: WebSocket | undefined;
  try {
    client = await connectCodex(parseEndpoint(server.endpoint));
    await client.initialize({
      clientInfo: { name: "bench", version: "0" },
      optOutNotificationMethods: ["item/agentMessage/delta"],
    });
    const { thread } = await client.request("thread/start", { cwd: server.workspace });
    const done = new Set<string>();
    client.on("turn/completed", (p) => done.add(p.turn.id));
    for (let i = 0; i < 5; i++) {
      const { turn } = await client.request("turn/start", { threadId: thread.id, input: textInput(`turn ${i}`) });
      while (!done.has(turn.id)) await new Promise((r) => setTimeout(r, 5));
    }
    ws = await server.connect();
    const raw = rawCaller(ws);
    await raw({ method: "initialize", params: { clientInfo: { name: "bench-raw", version: "0" } } });
    ws.send(JSON.stringify({ method: "initialized" }));

    const calls: { label: string; call: Call; typed: () => Promise<unknown> }[] = [
      {
        label: "thread/loaded/list",
        call: { method: "thread/loaded/list", params: {} },
        typed: () => client!.request("thread/loaded/list", {}),
      },
      {
        label: "thread/read",
        call: { method: "thread/read", params: { threadId: thread.id } },
        typed: () => client!.request("thread/read", { threadId: thread.id }),
      },
      {
        label: "thread/turns/list (5 turns, full items)",
        call: { method: "thread/turns/list", params: { threadId: thread.id, limit: 5, itemsView: "full" } },
        typed: () => client!.request("thread/turns/list", { threadId: thread.id, limit: 5, itemsView: "full" }),
      },
    ];
    const cpu = os.cpus()[0]?.model ?? "unknown cpu";
    console.log(
      `codex-rpc benchmark: codex-cli ${await codexVersion()}, node ${process.version}, ${os.cpus().length} x ${cpu}`,
    );
    console.log(
      `${ROUNDS} sequential calls per row, raw and client interleaved, after ${WARMUP} warm-up calls, unix socket, baseline = raw JSON over a bare WebSocket\n`,
    );
    console.log(
      `${"method".padEnd(40)} ${"raw p50".padStart(9)} ${"client p50".padStart(11)} ${"raw p95".padStart(9)} ${"client p95".padStart(11)} ${"ratio p50".padStart(10)}`,
    );
    for (const { label, call, typed } of calls) {
      const [rawSamples, clientSamples] = await timePair(() => raw(call), typed);
      const [r50, c50, r95, c95] = [
        quantile(rawSamples, 0.5),
        quantile(clientSamples, 0.5),
        quantile(rawSamples, 0.95),
        quantile(clientSamples, 0.95),
      ];
      const ms = (v: number) => `${v.toFixed(3)} ms`;
      console.log(
        `${label.padEnd(40)} ${ms(r50).padStart(9)} ${ms(c50).padStart(11)} ${ms(r95).padStart(9)} ${ms(c95).padStart(11)} ${`${(c50 / r50).toFixed(2)}x`.padStart(10)}`,
      );
    }
  } finally {
    ws?.close();
    client?.close();
    await server.stop();
    await model.stop();
  }
}

await main();
