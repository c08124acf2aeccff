/**
 * Test support for the command executor and the approval owner: a real codex app-server with the fake model,
 * a watcher (the agent's connection, with an optional approvals hook), the executor on that connection, and a
 * separate client playing the person or other tool. Test support only.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { textInput } from "../../schemas/codex/index.js";
import { connectCodex, parseEndpoint, type CodexRpcClient, type RawNotification } from "../codex-rpc/index.js";
import { startCodexAppServer, type CodexAppServer } from "../../test/support/codex-harness.js";
import { SLOW, slowWhenMarked, startFakeModel, type FakeModel } from "../../test/support/fake-model.js";
import { until as waitUntil } from "../../test/support/wait.js";
import { recordNotifications, type NotificationLog } from "../../test/support/notifications.js";
import { AutonomousThreads } from "./autonomous.js";
import { type CommandExecutor, executorFor } from "./commands.js";
import type { TrackedThread } from "./thread-state.js";
import { AppServerWatcher, type ServerRequestHook } from "./watcher.js";

/** Marker in a prompt that makes the rig's fake model answer slowly (10 chunks, 300 ms apart). */
export { SLOW };

/** Everything a command or approval test drives. */
export interface CommandsRig {
  model: FakeModel;
  server: CodexAppServer;
  watcher: AppServerWatcher;
  autonomous: AutonomousThreads;
  executor: CommandExecutor;
  stateDir: string;
  /** A second connection, like a person's TUI; it records its notifications in `log`. */
  client: CodexRpcClient;
  log: NotificationLog;
  /** Notifications the watcher delivered, per thread. */
  agentSeen: RawNotification[];
  /** Starts a thread with the test client; resolves once the watcher tracks it. */
  startThread(params?: { approvalPolicy?: "untrusted" | "never" }): Promise<string>;
  /** Starts a turn with the test client and waits for it to complete; returns the turn id. */
  runTurn(threadId: string, text: string): Promise<string>;
  /** Number of turns the thread has, per `thread/turns/list`. */
  turnCount(threadId: string): Promise<number>;
  /** Resolves once `pred` is true (polled), or rejects after `timeoutMs`. */
  until(pred: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  tracked(threadId: string): TrackedThread;
  stop(): Promise<void>;
}

/** Starts model, app-server, watcher (with `approvals` when given), executor and a test client. */
export async function startCommandsRig(
  opts: { approvals?: (autonomous: AutonomousThreads) => ServerRequestHook } = {},
): Promise<CommandsRig> {
  const model = await startFakeModel({
    defaultReply: { kind: "text", text: "Hello from the fake model." },
    route: slowWhenMarked({ text: "a slow answer, streamed", chunks: 10, delayMs: 300 }),
  });
  const server = await startCodexAppServer({ model, listen: "unix" });
  const stateDir = path.join(mkdtempSync(path.join(os.tmpdir(), "host-commands-")), "state");
  const autonomous = await AutonomousThreads.load(stateDir);
  const agentSeen: RawNotification[] = [];
  const watcher = new AppServerWatcher({
    endpoint: parseEndpoint(server.endpoint),
    clientInfo: { name: "commands-test-agent", version: "0.0.0" },
    backoff: { initialMs: 100, maxMs: 500 },
    approvals: opts.approvals?.(autonomous),
    listener: {
      notification: (_threadId, n) => void agentSeen.push(n),
      synced: () => undefined,
      threadTracked: () => undefined,
      threadGone: () => undefined,
      connection: () => undefined,
      loadedThreads: () => undefined,
    },
  });
  // Built as the agent builds it (agent.ts), settled-view signal included.
  const executor = executorFor(watcher, autonomous);
  const client = await connectCodex(parseEndpoint(server.endpoint));
  const log = recordNotifications(client);
  await client.initialize({
    clientInfo: { name: "commands-test", version: "0.0.0" },
    optOutNotificationMethods: ["item/agentMessage/delta"],
  });
  watcher.start();

  const until = async (pred: () => boolean, what: string, timeoutMs = 20_000): Promise<void> => {
    await waitUntil(what, pred, { timeoutMs, stepMs: 20 });
  };
  await until(() => watcher.connected, "the watcher to connect");

  const rig: CommandsRig = {
    model,
    server,
    watcher,
    autonomous,
    executor,
    stateDir,
    client,
    log,
    agentSeen,
    async startThread(params = {}) {
      const { thread } = await client.request("thread/start", { cwd: server.workspace, ...params });
      await until(() => watcher.thread(thread.id) !== undefined, "the watcher to track the thread");
      return thread.id;
    },
    async runTurn(threadId, text) {
      const { turn } = await client.request("turn/start", { threadId, input: textInput(text) });
      await log.waitFor("turn/completed", (p) => p.turn.id === turn.id, 30_000);
      await until(
        () =>
          watcher.thread(threadId)?.activeTurnId === null && watcher.thread(threadId)?.thread.status.type === "idle",
        "the watcher to see the thread idle",
      );
      return turn.id;
    },
    async turnCount(threadId) {
      return (await client.request("thread/turns/list", { threadId, limit: 50, itemsView: "notLoaded" })).data.length;
    },
    until,
    tracked(threadId) {
      const t = watcher.thread(threadId);
      if (!t) throw new Error(`thread ${threadId} is not tracked`);
      return t;
    },
    async stop() {
      await watcher.stop();
      client.close();
      await server.stop();
      await model.stop();
      rmSync(path.dirname(stateDir), { recursive: true, force: true });
    },
  };
  return rig;
}
