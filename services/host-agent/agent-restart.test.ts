/**
 * The host agent across an app-server restart: the agent's endpoint is a socket path that first leads to one
 * real app-server, which then stops; a new one answers on the same path. The agent reconnects, reports the
 * old server's threads as not loaded, and re-syncs and follows the new server's threads.
 */
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { textInput } from "../../schemas/codex/index.js";
import type { ThreadSyncedPayload } from "../../schemas/agent-events.js";
import { connectCodex, parseEndpoint, type CodexRpcClient } from "../codex-rpc/index.js";
import { startCodexAppServer, type CodexAppServer } from "../../test/support/codex-harness.js";
import { startFakeModel, type FakeModel } from "../../test/support/fake-model.js";
import { recordNotifications } from "../../test/support/notifications.js";
import { startHostAgent, type HostAgent } from "./agent.js";
import { startTestGateway, type TestGateway } from "./test-gateway.js";

let model: FakeModel;
let first: CodexAppServer | undefined;
let second: CodexAppServer | undefined;
let gateway: TestGateway;
let agent: HostAgent | undefined;
let tmp: string;
let socketPath: string;

beforeAll(async () => {
  model = await startFakeModel({ defaultReply: { kind: "text", text: "hi" } });
  gateway = await startTestGateway({ token: "t" });
  tmp = mkdtempSync(path.join(os.tmpdir(), "host-agent-restart-"));
  socketPath = path.join(tmp, "app.sock");
});
afterAll(async () => {
  await agent?.stop();
  await first?.stop();
  await second?.stop();
  await gateway?.close();
  await model?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** Points the agent's socket path at `server`'s socket. */
function route(server: CodexAppServer): void {
  rmSync(socketPath, { force: true });
  symlinkSync(server.socketPath!, socketPath);
}

async function threadWithTurn(server: CodexAppServer): Promise<{ client: CodexRpcClient; threadId: string }> {
  const client = await connectCodex(parseEndpoint(server.endpoint));
  const log = recordNotifications(client);
  await client.initialize({ clientInfo: { name: "restart-test", version: "0" } });
  const threadId = (await client.request("thread/start", { cwd: server.workspace })).thread.id;
  const { turn } = await client.request("turn/start", { threadId, input: textInput("hello") });
  await log.waitFor("turn/completed", (p) => p.turn.id === turn.id);
  return { client, threadId };
}

const synced = (threadId: string) =>
  gateway
    .uniqueEvents()
    .filter((e) => e.type === "agent/thread.synced" && e.threadId === threadId)
    .map((e) => e.payload as ThreadSyncedPayload);

describe("app-server restart", () => {
  it("reconnects with back-off, reports the old threads as not loaded and re-syncs the new server's", async () => {
    first = await startCodexAppServer({ model, listen: "unix" });
    route(first);
    const a = await threadWithTurn(first);
    agent = await startHostAgent({
      hostId: "host-r",
      gatewayUrl: gateway.url,
      token: "t",
      stateDir: path.join(tmp, "state"),
      endpoint: `unix://${socketPath}`,
      heartbeatMs: 200,
      backoff: { initialMs: 100, maxMs: 400 },
    });
    await gateway.waitFor(() => synced(a.threadId).length > 0, 20_000, "first server's thread synced");
    a.client.close();

    await first.stop();
    first = undefined;
    await gateway.waitFor(
      () => gateway.frames.some((f) => f.type === "heartbeat" && f.appServer === "disconnected"),
      10_000,
      "a heartbeat saying disconnected",
    );
    expect(agent.status().appServer).toBe("disconnected");

    second = await startCodexAppServer({ model, listen: "unix" });
    const b = await threadWithTurn(second);
    route(second);
    await gateway.waitFor(() => synced(b.threadId).length > 0, 20_000, "second server's thread synced");
    expect(synced(b.threadId).at(-1)).toMatchObject({
      thread: { id: b.threadId, status: { type: "idle" } },
      workspace: second.workspace,
    });
    expect(synced(a.threadId).at(-1)!.thread.status).toEqual({ type: "notLoaded" });
    expect(agent.status()).toMatchObject({ appServer: "connected", threads: 1 });

    // Events of the new server's threads flow again.
    const log = recordNotifications(b.client);
    const { turn } = await b.client.request("turn/start", {
      threadId: b.threadId,
      input: textInput("after the restart"),
    });
    await log.waitFor("turn/completed", (p) => p.turn.id === turn.id);
    await gateway.waitFor(
      () =>
        gateway
          .events()
          .some((e) => e.type === "turn/completed" && (e.payload as { turn: { id: string } }).turn.id === turn.id),
      10_000,
      "turn/completed after the restart",
    );
    b.client.close();
    const seqsSeen = gateway.uniqueEvents().map((e) => e.seq);
    expect(seqsSeen).toEqual(seqsSeen.map((_, i) => i));
  });
});
