/**
 * The live fleet end to end, every part real: nats-server, the gateway and the registry, the built
 * `claw-supervisor host-agent` as a child process watching a real codex app-server, and a person's TUI
 * started through `claw-supervisor launch` under tmux. Sessions are read back through
 * `claw-supervisor sessions --json` and the registry's queries.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionEventEnvelopeSchema, type SessionEventEnvelope } from "../../schemas/bus.js";
import { textInput } from "../../schemas/codex/index.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { STREAM_NAMES } from "../../services/bus/index.js";
import { connectCodex, parseEndpoint, type CodexRpcClient } from "../../services/codex-rpc/index.js";
import { listAllSessions, listHosts } from "../../services/clients/registry-queries.js";
import { replayEnvelopes, startRegistry, type Registry } from "../../services/registry/index.js";
import { startGateway, type Gateway } from "../../services/rpc-gateway/index.js";
import { cliEntry, spawnCli } from "../support/cli-process.js";
import { codexBinPath } from "../support/codex-bin.js";
import { TUI_READY, type CodexAppServer } from "../support/codex-harness.js";
import { SLOW, slowWhenMarked } from "../support/fake-model.js";
import type { NatsTestServer } from "../support/nats-server.js";
import { startStack, type Stack } from "../support/stack.js";
import { untilWith } from "../support/wait.js";
import { processAlive } from "../support/processes.js";
import { startTmuxSession, type TmuxSession } from "../support/tmux.js";

const HOST = "e2e-host";
const thresholds = { sweepIntervalMs: 200, degradedAfterMs: 1_000, offlineAfterMs: 1_500, staleAfterMs: 2_000 };

let stack: Stack;
let nats: NatsTestServer;
let nc: NatsConnection;
let gateway: Gateway;
let gatewayPort: number;
let registry: Registry;
let server: CodexAppServer;
let agent: ChildProcess | undefined;
let agentLog = "";
let tui: TmuxSession | undefined;
let client: CodexRpcClient | undefined;
let stateDir: string;
let configFile: string;

const until = untilWith({ timeoutMs: 20_000, detail: () => `agent log tail:\n${agentLog.slice(-3000)}` });

const hostSessions = async (): Promise<SessionRecord[]> => (await listAllSessions(nc, { host: HOST })).sessions;
const session = async (id: string, pred: (s: SessionRecord) => boolean = () => true) => {
  const s = (await hostSessions()).find((x) => x.sessionId === id);
  return s && pred(s) ? s : undefined;
};

function startAgent(): void {
  agentLog = "";
  agent = spawn(process.execPath, [cliEntry, "host-agent", "--config", configFile], {
    env: { ...server.env, LOG_LEVEL: "debug" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  agent.stdout!.on("data", (c: Buffer) => void (agentLog = (agentLog + c.toString()).slice(-20_000)));
  agent.stderr!.on("data", (c: Buffer) => void (agentLog = (agentLog + c.toString()).slice(-20_000)));
}

async function killAgent(): Promise<void> {
  if (!agent || agent.exitCode !== null || agent.signalCode !== null) return;
  const exited = new Promise((r) => agent!.once("exit", r));
  agent.kill("SIGKILL");
  await exited;
}

/** Every envelope of this host in CODEX_EVENTS, read from the start with an ephemeral ordered consumer. */
async function storedEnvelopes(): Promise<SessionEventEnvelope[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(STREAM_NAMES.events);
  const js = jetstream(nc);
  const consumer = await js.consumers.get(STREAM_NAMES.events, { deliver_policy: DeliverPolicy.All });
  const out: SessionEventEnvelope[] = [];
  if (info.state.messages === 0) return out;
  const messages = await consumer.consume();
  for await (const m of messages) {
    out.push(SessionEventEnvelopeSchema.parse(m.json()));
    if (m.seq >= info.state.last_seq) break;
  }
  return out.filter((e) => e.hostId === HOST);
}

/** Every FLEET notice about this host. */
async function fleetNotices(): Promise<{ id: string; kind: string; sessionId: string | null }[]> {
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(STREAM_NAMES.fleet);
  if (info.state.messages === 0) return [];
  const consumer = await jetstream(nc).consumers.get(STREAM_NAMES.fleet, { deliver_policy: DeliverPolicy.All });
  const out: { id: string; kind: string; sessionId: string | null; hostId: string }[] = [];
  for await (const m of await consumer.consume()) {
    out.push(m.json());
    if (m.seq >= info.state.last_seq) break;
  }
  return out.filter((n) => n.hostId === HOST);
}

beforeAll(async () => {
  stack = await startStack({
    hostId: HOST,
    model: {
      route: slowWhenMarked(
        { text: "working on it slowly", chunks: 8, delayMs: 250 },
        { kind: "text", text: "Hello from the fake model." },
      ),
    },
    gateway: { pingIntervalMs: 1_000 },
    registry: thresholds,
  });
  ({ nats, nc, gateway, registry, server, stateDir } = stack);
  gatewayPort = gateway.port;
  const tokenFile = path.join(stateDir, "host-token");
  writeFileSync(tokenFile, stack.hostToken, { mode: 0o600 });
  configFile = path.join(stateDir, "host-agent.json");
  writeFileSync(
    configFile,
    JSON.stringify({
      hostId: HOST,
      gatewayUrl: gateway.url,
      tokenFile,
      endpoint: server.endpoint,
      stateDir,
      heartbeatMs: 300,
      presencePollMs: 200,
    }),
  );
  startAgent();
  await until("the host online", async () =>
    (await listHosts(nc)).find((h) => h.hostId === HOST && h.status === "online"),
  );
});

afterAll(async () => {
  client?.close();
  await tui?.stop();
  await killAgent();
  // The test restarts the registry and the gateway: stop the ones running now, then the rest of the stack.
  await registry?.stop();
  await gateway?.stop();
  await stack?.stop();
  if (agent?.pid) expect(processAlive(agent.pid)).toBe(false);
});

describe("the live fleet", () => {
  let tuiThreadId: string;
  let clientThreadId: string;

  it("shows a TUI started through launch, human-attached and idle, within 2 s; a prompt makes it active then idle", async () => {
    const socketPath = path.join(stateDir, "tmux.sock");
    tui = await startTmuxSession({
      command: [
        process.execPath,
        cliEntry,
        "launch",
        "--endpoint",
        server.endpoint,
        "--state-dir",
        stateDir,
        "--codex",
        codexBinPath(),
        "--cd",
        server.workspace,
        "--",
        "--disable",
        "daemon_auto_start",
      ],
      socketPath,
      cwd: server.workspace,
      env: server.env,
    });
    await tui.waitForScreen(TUI_READY, 30_000);
    const deadline = Date.now() + 2_000;
    let listed: SessionRecord | undefined;
    while (!listed && Date.now() <= deadline) {
      const cli = spawnCli(["sessions", "--json", "--nats-url", nats.url], {
        PATH: process.env.PATH,
        HOME: server.home,
      });
      expect(await cli.exited, cli.stderr()).toBe(0);
      const all = (JSON.parse(cli.stdout()) as { data: { sessions: SessionRecord[] } }).data.sessions;
      listed = all.find((s) => s.host === HOST && s.humanAttached && s.status === "idle");
    }
    expect(listed, `not listed within 2 s; agent log:\n${agentLog.slice(-3000)}`).toBeDefined();
    expect(listed).toMatchObject({ workspace: server.workspace, humanAttached: true, status: "idle" });
    tuiThreadId = listed!.sessionId;

    await tui.sendKeys(`please think about it ${SLOW}`);
    await tui.sendEnter();
    await until("the TUI's session active", () => session(tuiThreadId, (s) => s.status === "active"));
    await until("the TUI's session idle again", () => session(tuiThreadId, (s) => s.status === "idle"));
  });

  it("shows a thread another client started, not human-attached, and never the TUI's ephemeral title threads", async () => {
    client = await connectCodex(parseEndpoint(server.endpoint));
    await client.initialize({ clientInfo: { name: "e2e-other-client", version: "0" } });
    const { thread } = await client.request("thread/start", { cwd: server.workspace });
    clientThreadId = thread.id;
    await client.request("turn/start", { threadId: clientThreadId, input: textInput("hello from another client") });
    const other = await until("the other client's session idle", () =>
      session(clientThreadId, (s) => s.status === "idle"),
    );
    expect(other.humanAttached).toBe(false);
    const ids = (await hostSessions()).map((s) => s.sessionId).sort();
    expect(ids).toEqual([tuiThreadId, clientThreadId].sort());
  });

  it("clears humanAttached when the TUI quits", async () => {
    await tui!.sendKeys("/quit");
    await tui!.sendEnter();
    const left = await until("humanAttached cleared", () => session(tuiThreadId, (s) => !s.humanAttached));
    expect(left.workspace).toBe(server.workspace);
  });

  it("marks the host and its sessions stale when the agent dies, keeping them, and restores them on restart", async () => {
    await killAgent();
    await until("the host stale", async () =>
      (await listHosts(nc)).find((h) => h.hostId === HOST && h.status === "stale"),
    );
    const stale = await until("both sessions stale", async () => {
      const all = await hostSessions();
      return all.length === 2 && all.every((s) => s.status === "stale") ? all : undefined;
    });
    expect(stale.find((s) => s.sessionId === tuiThreadId)).toMatchObject({ workspace: server.workspace });
    startAgent();
    await until("the host online again", async () =>
      (await listHosts(nc)).find((h) => h.hostId === HOST && h.status === "online"),
    );
    await until("both sessions idle again", async () => {
      const all = await hostSessions();
      return all.length === 2 && all.every((s) => s.status === "idle") ? all : undefined;
    });
  });

  it("delivers events buffered while the gateway was down once, with no duplicates", async () => {
    await gateway.stop();
    const { turn } = await client!.request("turn/start", {
      threadId: clientThreadId,
      input: textInput("while the gateway is down"),
    });
    await new Promise((r) => setTimeout(r, 500));
    gateway = await startGateway({ natsConnection: nc, port: gatewayPort, pingIntervalMs: 1_000 });
    await until(
      "the buffered turn in the registry",
      () => session(clientThreadId, (s) => s.status === "idle" && s.activeTurnId === null),
      40_000,
    );
    const stored = await until(
      "the buffered turn/completed stored",
      async () => {
        const all = await storedEnvelopes();
        return all.some(
          (e) => e.type === "turn/completed" && (e.payload as { turn: { id: string } }).turn.id === turn.id,
        )
          ? all
          : undefined;
      },
      40_000,
    );
    const keys = stored.map((e) => `${e.epoch}:${e.seq}`);
    expect(new Set(keys).size).toBe(keys.length);
    const completions = stored.filter(
      (e) => e.type === "turn/completed" && (e.payload as { turn: { id: string } }).turn.id === turn.id,
    );
    expect(completions).toHaveLength(1);
    const newest = Math.max(...stored.filter((e) => e.threadId === clientThreadId).map((e) => e.emittedAtMs));
    await until("the registry past the buffered events", () =>
      session(clientThreadId, (s) => s.lastSeenAt >= newest && s.status === "idle"),
    );
  });

  it("loses and double-counts nothing when the registry restarts mid-stream", async () => {
    await registry.stop();
    const { turn } = await client!.request("turn/start", {
      threadId: clientThreadId,
      input: textInput(`a turn while the registry is down ${SLOW}`),
    });
    await new Promise((r) => setTimeout(r, 300));
    registry = await startRegistry({ nc, ...thresholds });
    const stored = await until("the turn's completion stored", async () => {
      const all = await storedEnvelopes();
      return all.some((e) => e.type === "turn/completed" && (e.payload as { turn: { id: string } }).turn.id === turn.id)
        ? all
        : undefined;
    });
    const newest = Math.max(...stored.filter((e) => e.threadId === clientThreadId).map((e) => e.emittedAtMs));
    await until("the restarted registry up to date", () =>
      session(clientThreadId, (s) => s.lastSeenAt >= newest && s.status === "idle"),
    );
    const notices = await fleetNotices();
    const ids = notices.map((n) => n.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(notices.filter((n) => n.kind === "session-new" && n.sessionId === clientThreadId)).toHaveLength(1);
  });

  it("replaying CODEX_EVENTS from the start yields the live view", async () => {
    const replayed = replayEnvelopes(await storedEnvelopes()).sessions.filter((s) => s.host === HOST);
    const live = await hostSessions();
    const comparable = (s: SessionRecord) => ({ ...s, lastSeenAt: 0 });
    expect(replayed.map(comparable).sort((a, b) => a.sessionId.localeCompare(b.sessionId))).toEqual(
      live.map(comparable).sort((a, b) => a.sessionId.localeCompare(b.sessionId)),
    );
  });
});
