/**
 * The plugin's `embedded` mode with every part real: the service starts the whole local stack (its own
 * nats-server, gateway, registry, policy, MCP edge, a host agent) on a real codex app-server with the fake model,
 * a thread started there reaches the agent's context as a system event, and stop leaves nothing listening.
 */
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { textInput } from "../../schemas/codex/index.js";
import { startCodexAppServer, type CodexAppServer } from "../../test/support/codex-harness.js";
import { startFakeModel, type FakeModel } from "../../test/support/fake-model.js";
import { connectCodex, parseEndpoint, type CodexRpcClient } from "../codex-rpc/index.js";
import { parsePluginConfig } from "./config.js";
import { FleetService } from "./fleet-service.js";
import { fakeApi } from "./test-api.js";
import { untilWith } from "../../test/support/wait.js";

let model: FakeModel;
let server: CodexAppServer;
let client: CodexRpcClient | undefined;
let svc: FleetService | undefined;
let root: string;
const api = fakeApi("full");

beforeAll(async () => {
  // The stack starts its own nats-server unless NATS_URL names one: never the machine's.
  delete process.env.NATS_URL;
  model = await startFakeModel();
  server = await startCodexAppServer({ model, listen: "unix" });
  root = mkdtempSync(path.join(os.tmpdir(), "claw-embedded-"));
}, 60_000);

afterAll(async () => {
  client?.close();
  await svc?.stop();
  await server?.stop();
  await model?.stop();
  if (root) rmSync(root, { recursive: true, force: true });
});

const until = untilWith({ timeoutMs: 30_000 });

const refuses = (url: string) =>
  new Promise<boolean>((resolve) => {
    const { hostname, port } = new URL(url);
    const s = net.connect({ host: hostname, port: Number(port) });
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", () => resolve(true));
  });

it("runs the local stack in the gateway, puts a new session into the agent's context, and stops it all", async () => {
  const config = parsePluginConfig({
    mode: "embedded",
    coalesceMs: 0,
    embedded: { gatewayPort: 0, mcpPort: 0, endpoint: server.endpoint, hostId: "embedded-host" },
  });
  svc = new FleetService(config, () => api.runtime.system, api.logger);
  await svc.start(root);
  const st = svc.status();
  expect(st).toMatchObject({
    mode: "embedded",
    state: "connected",
    embedded: { stateDir: path.join(root, "claw-supervisor") },
  });
  expect(st.natsUrl).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
  expect(st.natsUrl).not.toMatch(/:4222$/);

  client = await connectCodex(parseEndpoint(server.endpoint));
  await client.initialize({ clientInfo: { name: "embedded-test", version: "0" } });
  const { thread } = await client.request("thread/start", { cwd: server.workspace });
  await client.request("turn/start", { threadId: thread.id, input: textInput("hello from the embedded test") });
  const event = await until("a system event for the new session", () =>
    api.systemEvents.find((e) => e.text.includes(thread.id)),
  );
  expect(event).toMatchObject({ sessionKey: "agent:main:main" });
  expect(api.heartbeats.length).toBeGreaterThan(0);

  const urls = [st.natsUrl!, st.embedded!.gatewayUrl.replace(/^ws/, "http"), st.embedded!.mcpUrl];
  await svc.stop();
  expect(svc.status().state).toBe("stopped");
  for (const url of urls) expect(await refuses(url), url).toBe(true);
  svc = undefined;
}, 90_000);
