/**
 * The Claw end to end, every part real: `claw-supervisor up` started as a new user would (the built bin, a fresh
 * HOME and state dir, this machine's nats-server), a real Codex app-server where the daemon's socket would be,
 * a person's TUI attached with `codex --remote unix://` under tmux, and a real OpenClaw gateway (pinned, Node 24,
 * offline on loopback) with the plugin installed with `plugins install --link`, loaded in connect mode.
 */
import { mkdirSync, symlinkSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { textInput } from "../../schemas/codex/index.js";
import { connectCodex, daemonSocketPath, parseEndpoint, type CodexRpcClient } from "../../services/codex-rpc/index.js";
import { spawnCli, type CliProcess } from "../support/cli-process.js";
import { codexBinPath } from "../support/codex-bin.js";
import { startCodexAppServer, TUI_READY, type CodexAppServer } from "../support/codex-harness.js";
import { startFakeModel, type FakeModel } from "../support/fake-model.js";
import {
  installClawPlugin,
  openClawHome,
  startOpenClawGateway,
  type OpenClawGateway,
  type OpenClawHome,
} from "../support/openclaw.js";
import { processAlive } from "../support/processes.js";
import { startTmuxSession, type TmuxSession } from "../support/tmux.js";
import { untilWith } from "../support/wait.js";

const HOST = "claw-e2e-host";

let model: FakeModel;
let server: CodexAppServer;
let env: Record<string, string>;
let up: CliProcess;
let report: { nats: { url: string; pid: number }; stateDir: string };
let tui: TmuxSession;
let oc: OpenClawHome;
let gateway: OpenClawGateway | undefined;
let client: CodexRpcClient | undefined;

const until = untilWith({ timeoutMs: 30_000, stepMs: 250 });

async function cli(...args: string[]) {
  const p = spawnCli(args, env);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** `tools.invoke` of a plugin tool for the agent's main session; the tool's `details`. */
async function invoke(name: string, args: Record<string, unknown>) {
  return gateway!.call("tools.invoke", { name, args, sessionKey: "agent:main:main" });
}

beforeAll(async () => {
  model = await startFakeModel();
  server = await startCodexAppServer({ model, listen: "unix" });
  // A new user: fresh HOME (the harness's), state under it, the daemon's socket where `unix://` looks.
  env = { ...server.env, CLAW_SUPERVISOR_STATE_DIR: path.join(server.home, ".local", "state", "claw-supervisor") };
  const daemonSocket = daemonSocketPath(env);
  mkdirSync(path.dirname(daemonSocket), { recursive: true });
  symlinkSync(server.socketPath!, daemonSocket);
  up = spawnCli(
    ["up", "--json", "--gateway-port", "0", "--mcp-port", "0", "--dashboard-port", "0", "--host-id", HOST],
    env,
  );
  report = JSON.parse(await up.waitForLine((l) => l.startsWith("{"), 60_000));
  tui = await startTmuxSession({
    command: [codexBinPath(), "--remote", "unix://", "--disable", "daemon_auto_start", "-C", server.workspace],
    socketPath: path.join(server.home, "tui.tmux"),
    cwd: server.workspace,
    env,
    cols: 140,
    rows: 45,
  });
  await tui.waitForScreen(TUI_READY, 30_000);
}, 120_000);

afterAll(async () => {
  client?.close();
  await gateway?.stop();
  await tui?.stop();
  if (up && up.child.exitCode === null) {
    up.child.kill("SIGINT");
    await up.exited;
  }
  await server?.stop();
  await model?.stop();
  oc?.remove();
});

describe("claw-supervisor up, as a new user runs it", () => {
  it("reports what it started and where; a TUI on codex --remote unix:// shows in sessions and send reaches it", async () => {
    expect(report.stateDir).toBe(env.CLAW_SUPERVISOR_STATE_DIR);
    const listed = await until("the TUI's session in 'claw-supervisor sessions'", async () => {
      const r = await cli("sessions", "--json");
      const sessions = JSON.parse(r.stdout).data.sessions as { sessionId: string; host: string; status: string }[];
      return sessions.find((s) => s.host === HOST && s.status === "idle");
    });
    const sent = await cli("send", `${HOST}/${listed.sessionId}`, "hello from claw-supervisor up", "--json");
    expect(sent.code, sent.stderr).toBe(0);
    await tui.waitForScreen(/hello from claw-supervisor up/, 30_000);
  });
});

describe("the claw-supervisor plugin in a real OpenClaw gateway", () => {
  let threadId: string;

  it("installs with plugins install --link and loads with its tools, service, method and CLI", async () => {
    oc = openClawHome();
    const installed = await installClawPlugin(oc, {
      natsUrl: report.nats.url,
      // up's bus takes only its users: the Claw logs in as `claw` with the file up names on its plugin line.
      natsCredentialsFile: path.join(report.stateDir, "credentials", "claw.json"),
      clawId: "e2e",
      coalesceMs: 200,
    });
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);
    const inspected = await oc.cli(["plugins", "inspect", "claw-supervisor", "--runtime", "--json"]);
    expect(inspected.code, inspected.stderr).toBe(0);
    const plugin = JSON.parse(inspected.stdout).plugin;
    expect(plugin).toMatchObject({
      id: "claw-supervisor",
      status: "loaded",
      services: ["claw-supervisor-fleet"],
      cliCommands: ["claw-supervisor"],
    });
    expect(plugin.toolNames).toEqual(
      expect.arrayContaining(["fleet_sessions", "fleet_send", "fleet_events", "fleet_summarize"]),
    );
    gateway = await startOpenClawGateway(oc);
    const status = await until(
      "the plugin connected to the bus",
      async () => {
        const s = await gateway!.call("clawSupervisor.status");
        return s.state === "connected" ? s : undefined;
      },
      60_000,
    );
    expect(status).toMatchObject({ mode: "connect", clawId: "e2e", natsUrl: report.nats.url });
    // Three OpenClaw processes in a row (install, inspect, the gateway), each loading OpenClaw on its own Node:
    // 55 s alone on a 2-core machine, past the default 60 s when the rest of the suite runs beside it.
  }, 180_000);

  it("fleet_sessions returns the TUI's session, and fleet_send makes the TUI show the message", async () => {
    const listed = await invoke("fleet_sessions", { host: HOST });
    const sessions = JSON.stringify(listed);
    const found = /"sessionId":"([0-9a-f-]{36})"/.exec(sessions);
    expect(found, sessions).not.toBeNull();
    threadId = found![1]!;
    await invoke("fleet_send", { sessionId: `${HOST}/${threadId}`, text: "hello from the Claw through OpenClaw" });
    await tui.waitForScreen(/hello from the Claw through OpenClaw/, 30_000);
  });

  it("a new Codex session started now becomes a system event queued for the agent's session", async () => {
    client = await connectCodex(parseEndpoint(server.endpoint));
    await client.initialize({ clientInfo: { name: "claw-e2e", version: "0" } });
    const { thread } = await client.request("thread/start", { cwd: server.workspace });
    await client.request("turn/start", { threadId: thread.id, input: textInput("a new task for the fleet") });
    const queued = await until(
      "OpenClaw's queued system events to name the new session",
      async () => {
        const s = await gateway!.call("status");
        const events = (s.queuedSystemEvents ?? []) as string[];
        return events.find((e) => e.includes(thread.id) && e.includes("new session"));
      },
      60_000,
    );
    expect(queued).toContain(`${HOST}/${thread.id}`);
    expect(processAlive(report.nats.pid)).toBe(true);
  });
});
