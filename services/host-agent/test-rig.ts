/**
 * Test support: a real codex app-server (test/support harness) with the fake model, a test gateway, and a
 * host agent wired to both, plus a client to drive turns. Test support only.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { textInput } from "../../schemas/codex/index.js";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import { connectCodex, parseEndpoint, type CodexRpcClient } from "../codex-rpc/index.js";
import { startCodexAppServer, type CodexAppServer } from "../../test/support/codex-harness.js";
import {
  SLOW,
  slowWhenMarked,
  startFakeModel,
  type FakeModel,
  type FakeModelOptions,
} from "../../test/support/fake-model.js";
import { recordNotifications, type NotificationLog } from "../../test/support/notifications.js";
import { startHostAgent, type HostAgent, type HostAgentOptions } from "./agent.js";
import { startTestGateway, type TestGateway } from "./test-gateway.js";

/** Marker in a prompt that makes the rig's fake model answer slowly (about 3 s). */
export { SLOW };
/** The host token the rig's gateway accepts and its token file holds. */
export const HOST_TOKEN = "host-token-for-tests";

/** Everything a host-agent test drives. */
export interface AgentRig {
  model: FakeModel;
  server: CodexAppServer;
  gateway: TestGateway;
  /** A temp folder with `state/` (the agent's state dir) and `token` (the host token file). */
  tmp: string;
  stateDir: string;
  tokenFile: string;
  agent: HostAgent | undefined;
  client: CodexRpcClient;
  log: NotificationLog;
  startAgent(extra?: Partial<HostAgentOptions>): Promise<HostAgent>;
  /** Starts a thread with the driving client; returns its id. */
  startThread(params?: { ephemeral?: boolean; approvalPolicy?: "untrusted" | "never" }): Promise<string>;
  /** Starts a turn and waits for the client to see it complete; returns the turn id. */
  runTurn(threadId: string, text: string): Promise<string>;
  /** Events of one thread as the gateway received them (replays removed). */
  threadEvents(threadId: string): SessionEventEnvelope[];
  stop(): Promise<void>;
}

/** Starts model, app-server (workspace with a fake git checkout) and gateway; the agent starts on demand. */
export async function startAgentRig(
  opts: { model?: FakeModelOptions; gatewayAck?: "auto" | "hold" } = {},
): Promise<AgentRig> {
  const model = await startFakeModel(
    opts.model ?? {
      defaultReply: { kind: "text", text: "Hello from the fake model." },
      route: slowWhenMarked({ text: "a slow answer, streamed", chunks: 10, delayMs: 300 }),
    },
  );
  const server = await startCodexAppServer({ model, listen: "unix" });
  writeGitCheckout(server.workspace);
  const gateway = await startTestGateway({ token: HOST_TOKEN, ack: opts.gatewayAck ?? "auto" });
  const tmp = mkdtempSync(path.join(os.tmpdir(), "host-agent-"));
  const stateDir = path.join(tmp, "state");
  const tokenFile = path.join(tmp, "token");
  writeFileSync(tokenFile, `${HOST_TOKEN}\n`);
  const client = await connectCodex(parseEndpoint(server.endpoint));
  const log = recordNotifications(client);
  await client.initialize({
    clientInfo: { name: "host-agent-test", version: "0.0.0" },
    optOutNotificationMethods: ["item/agentMessage/delta"],
  });

  const rig: AgentRig = {
    model,
    server,
    gateway,
    tmp,
    stateDir,
    tokenFile,
    agent: undefined,
    client,
    log,
    async startAgent(extra = {}) {
      rig.agent = await startHostAgent({
        hostId: "host-a",
        gatewayUrl: gateway.url,
        token: { file: tokenFile },
        stateDir,
        endpoint: server.endpoint,
        heartbeatMs: 500,
        presencePollMs: 200,
        backoff: { initialMs: 100, maxMs: 500 },
        ...extra,
      });
      return rig.agent;
    },
    async startThread(params = {}) {
      const started = await client.request("thread/start", { cwd: server.workspace, ...params });
      return started.thread.id;
    },
    async runTurn(threadId, text) {
      const { turn } = await client.request("turn/start", { threadId, input: textInput(text) });
      await log.waitFor("turn/completed", (p) => p.turn.id === turn.id, 30_000);
      return turn.id;
    },
    threadEvents: (threadId) => gateway.uniqueEvents().filter((e) => e.threadId === threadId),
    async stop() {
      await rig.agent?.stop();
      client.close();
      await gateway.close();
      await server.stop();
      await model.stop();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
  return rig;
}

/** Writes the files of a git checkout (branch `feature-x`, origin with credentials) without running git. */
export function writeGitCheckout(dir: string): void {
  mkdirSync(path.join(dir, ".git"), { recursive: true });
  writeFileSync(path.join(dir, ".git", "HEAD"), "ref: refs/heads/feature-x\n");
  writeFileSync(
    path.join(dir, ".git", "config"),
    '[remote "origin"]\n\turl = https://bob:pw@github.com/acme/widgets.git\n',
  );
}
