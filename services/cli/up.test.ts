import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { spawnCli, type CliProcess } from "../../test/support/cli-process.js";
import { startNatsServer, type NatsTestServer } from "../../test/support/nats-server.js";
import { processAlive } from "../../test/support/processes.js";

const tmp: string[] = [];
const procs: CliProcess[] = [];
let nats: NatsTestServer | undefined;

afterEach(async () => {
  for (const p of procs.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL");
    await p.exited;
  }
  await nats?.stop();
  nats = undefined;
  for (const d of tmp.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "claw-up-"));
  tmp.push(d);
  return d;
}

function up(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  const p = spawnCli(["up", ...args], env);
  procs.push(p);
  return p;
}

async function streamNames(url: string): Promise<string[]> {
  const nc = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const s of jsm.streams.list()) names.push(s.config.name);
    return names.sort();
  } finally {
    await nc.close();
  }
}

describe("claw-supervisor up", () => {
  it("starts an embedded nats-server with the bus, keeps its data, and stops everything on Ctrl-C", async () => {
    const home = tempDir();
    const stateDir = path.join(home, "state");
    const env = { PATH: process.env.PATH, HOME: home };
    const args = ["--state-dir", stateDir, "--gateway-port", "0", "--mcp-port", "0", "--host-id", "test-host"];
    const first = up([...args, "--json"], env);
    const report = JSON.parse(await first.waitForLine((l) => l.startsWith("{")));
    expect(report.nats).toMatchObject({ embedded: true, storeDir: path.join(stateDir, "nats") });
    expect(report.bus.streams).toEqual([
      { name: "CODEX_EVENTS", action: "created" },
      { name: "AUDIT", action: "created" },
      { name: "FLEET", action: "created" },
    ]);
    expect(report.gateway.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/$/);
    expect(report.mcp.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    expect(statSync(path.join(stateDir, "mcp-secret")).mode & 0o777).toBe(0o600);
    expect(report.hostAgent).toMatchObject({ hostId: "test-host", appServerReachable: false });
    expect(report.hostAgent.endpoint).toBe(
      `unix://${path.join(home, ".codex", "app-server-control", "app-server-control.sock")}`,
    );
    expect(await streamNames(report.nats.url)).toEqual(
      expect.arrayContaining(["AUDIT", "CODEX_EVENTS", "FLEET", "KV_codex-sessions"]),
    );
    const upFile = JSON.parse(readFileSync(path.join(stateDir, "up.json"), "utf8"));
    expect(upFile).toMatchObject({ natsUrl: report.nats.url, gatewayUrl: report.gateway.url, mcpUrl: report.mcp.url });
    expect(statSync(path.join(stateDir, "host-token.test-host")).mode & 0o777).toBe(0o600);
    const hosts = spawnCli(["hosts", "--json"], {
      PATH: process.env.PATH,
      HOME: home,
      CLAW_SUPERVISOR_STATE_DIR: stateDir,
    });
    expect(await hosts.exited, hosts.stderr()).toBe(0);
    expect(JSON.parse(hosts.stdout())).toEqual([expect.objectContaining({ hostId: "test-host" })]);
    first.child.kill("SIGINT");
    expect(await first.exited).toBe(0);
    expect(processAlive(report.nats.pid)).toBe(false);
    expect(existsSync(path.join(stateDir, "up.json"))).toBe(false);

    const second = up(args, env);
    await second.waitForLine((l) => l.startsWith("Press Ctrl-C to stop"));
    expect(second.stdout()).toContain("CODEX_EVENTS (unchanged)");
    expect(second.stdout()).toContain("host agent: host test-host watching unix://");
    expect(second.stdout()).toMatch(/mcp edge: +http:\/\/127\.0\.0\.1:\d+\/mcp/);
    second.child.kill("SIGTERM");
    expect(await second.exited).toBe(0);
    expect(second.stdout()).toContain("claw-supervisor up: stopped");
  });

  it("uses the server NATS_URL names instead of starting one", async () => {
    nats = await startNatsServer();
    const home = tempDir();
    const p = up(["--json", "--gateway-port", "0", "--mcp-port", "0", "--no-host-agent"], {
      PATH: process.env.PATH,
      HOME: home,
      NATS_URL: nats.url,
    });
    const report = JSON.parse(await p.waitForLine((l) => l.startsWith("{")));
    expect(report.nats).toEqual({ url: nats.url, embedded: false });
    expect(report.stateDir).toBe(path.join(home, ".local", "state", "claw-supervisor"));
    expect(report.hostAgent).toBeNull();
    expect(await streamNames(nats.url)).toEqual(expect.arrayContaining(["AUDIT", "CODEX_EVENTS", "FLEET"]));
    p.child.kill("SIGINT");
    expect(await p.exited).toBe(0);
  });

  it("says how to install nats-server when it is not on PATH", async () => {
    const home = tempDir();
    const p = up([], { PATH: path.join(home, "empty-bin"), HOME: home });
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toContain("nats-server was not found on PATH. Install it with `apt-get install nats-server`");
  });
});
