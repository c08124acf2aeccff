import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { cliEntry, spawnCli, type CliProcess } from "../../test/support/cli-process.js";
import { startNatsServer, type NatsTestServer } from "../../test/support/nats-server.js";
import { processAlive, waitForProcessGone } from "../../test/support/processes.js";
import { until } from "../../test/support/wait.js";
import { isNatsServerOn } from "../bus/orphan-server.js";
import { findExecutable } from "../bus/server-process.js";
import { readBusLogin } from "../clients/bus-credentials.js";

const tmp: string[] = [];
const procs: CliProcess[] = [];
/** nats-servers the `up`s of a test started: stopped by pid after it if they are still running. */
const natsPids: number[] = [];
let nats: NatsTestServer | undefined;
let listener: Server | undefined;

afterEach(async () => {
  // SIGTERM first so an `up` stops its nats-server; SIGKILL what is left, and any nats-server it left behind.
  for (const p of procs) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGTERM");
  for (const p of procs.splice(0)) {
    const timer = setTimeout(() => p.child.kill("SIGKILL"), 10_000);
    await p.exited;
    clearTimeout(timer);
  }
  for (const pid of natsPids.splice(0)) {
    if (processAlive(pid)) process.kill(pid, "SIGKILL");
    await waitForProcessGone(pid, 5_000);
  }
  await nats?.stop();
  nats = undefined;
  await new Promise<void>((resolve) => (listener ? listener.close(() => resolve()) : resolve()));
  listener = undefined;
  for (const d of tmp.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A port free on 127.0.0.1 right now (the OS picks it). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

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

/** Pids of the nats-servers running on `stateDir`'s store, from /proc (whoever started them). */
function natsServersOn(stateDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0").filter(Boolean);
    } catch {
      continue;
    }
    const pid = Number(entry);
    if (isNatsServerOn(argv, path.join(stateDir, "nats")) && processAlive(pid)) pids.push(pid);
  }
  return pids.sort();
}

/** The environment the CLI needs to find the `up` of `stateDir`. */
const cliEnv = (home: string, stateDir: string) => ({
  PATH: process.env.PATH,
  HOME: home,
  CLAW_SUPERVISOR_STATE_DIR: stateDir,
});

/** Stream names on the bus at `url`, logged in as `admin` of `stateDir` when it has credentials. */
async function streamNames(url: string, stateDir?: string): Promise<string[]> {
  const login = stateDir === undefined ? undefined : readBusLogin(stateDir, "admin");
  const nc = await connect({ servers: url, ...(login ? { user: login.user, pass: login.pass } : {}) });
  try {
    const jsm = await jetstreamManager(nc);
    const names: string[] = [];
    for await (const s of jsm.streams.list()) names.push(s.config.name);
    return names.sort();
  } finally {
    await nc.close();
  }
}

/**
 * A fake NATS server on 127.0.0.1:`port` (what another local user could bind once up's nats-server is gone):
 * greets every client, records all it sends, and refuses its CONNECT.
 */
async function fakeNatsOn(port: number): Promise<() => string> {
  let received = "";
  const server = createServer((socket) => {
    const info = { server_id: "FAKE", version: "2.10.0", proto: 1, max_payload: 1048576, auth_required: true };
    socket.write(`INFO ${JSON.stringify(info)}\r\n`);
    socket.on("data", (chunk) => {
      received += chunk.toString("utf8");
      if (received.includes("CONNECT ")) socket.end("-ERR 'Authorization Violation'\r\n");
    });
    socket.on("error", () => undefined);
  });
  // A killed multi-threaded server may hold its socket a moment after its main thread is reaped: retry a while.
  await until(
    `listening on 127.0.0.1:${port}`,
    () =>
      new Promise<boolean>((resolve) => {
        server.once("error", () => resolve(false));
        server.listen(port, "127.0.0.1", () => resolve(true));
      }),
    { timeoutMs: 10_000, stepMs: 50 },
  );
  listener = server;
  return () => received;
}

describe("claw-supervisor up", () => {
  it("starts an embedded nats-server with the bus, keeps its data, and stops everything on Ctrl-C", async () => {
    const home = tempDir();
    const stateDir = path.join(home, "state");
    const env = { PATH: process.env.PATH, HOME: home };
    const args = [
      "--state-dir",
      stateDir,
      "--gateway-port",
      "0",
      "--mcp-port",
      "0",
      "--dashboard-port",
      "0",
      "--host-id",
      "test-host",
    ];
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
    natsPids.push(report.nats.pid);
    expect(await streamNames(report.nats.url, stateDir)).toEqual(
      expect.arrayContaining(["AUDIT", "CODEX_EVENTS", "FLEET", "KV_codex-sessions"]),
    );
    expect(report.bus.kept).toEqual([]);
    expect(readFileSync(path.join(stateDir, "up.lock"), "utf8")).toBe(`${first.child.pid}\n`);
    const upFile = JSON.parse(readFileSync(path.join(stateDir, "up.json"), "utf8"));
    expect(upFile).toMatchObject({ natsUrl: report.nats.url, gatewayUrl: report.gateway.url, mcpUrl: report.mcp.url });
    expect(statSync(path.join(stateDir, "host-token.test-host")).mode & 0o777).toBe(0o600);
    const hosts = spawnCli(["hosts", "--json"], {
      PATH: process.env.PATH,
      HOME: home,
      CLAW_SUPERVISOR_STATE_DIR: stateDir,
    });
    expect(await hosts.exited, hosts.stderr()).toBe(0);
    expect(JSON.parse(hosts.stdout())).toEqual({ ok: true, data: [expect.objectContaining({ hostId: "test-host" })] });
    first.child.kill("SIGINT");
    expect(await first.exited).toBe(0);
    expect(processAlive(report.nats.pid)).toBe(false);
    expect(existsSync(path.join(stateDir, "up.json"))).toBe(false);
    expect(existsSync(path.join(stateDir, "up.lock"))).toBe(false);

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
    const p = up(["--json", "--gateway-port", "0", "--mcp-port", "0", "--dashboard-port", "0", "--no-host-agent"], {
      PATH: process.env.PATH,
      HOME: home,
      NATS_URL: nats.url,
    });
    const report = JSON.parse(await p.waitForLine((l) => l.startsWith("{")));
    expect(report.nats).toEqual({ url: nats.url, embedded: false });
    expect(report.stateDir).toBe(path.join(home, ".local", "state", "claw-supervisor"));
    expect(report.hostAgent).toBeNull();
    // Not its own server: the state dir's credentials (from any earlier embedded run) are not for this bus.
    const upFile = JSON.parse(readFileSync(path.join(report.stateDir, "up.json"), "utf8"));
    expect(upFile).toMatchObject({ natsUrl: nats.url, embedded: false });
    expect(upFile.natsPid).toBeUndefined();
    expect(await streamNames(nats.url)).toEqual(expect.arrayContaining(["AUDIT", "CODEX_EVENTS", "FLEET"]));
    p.child.kill("SIGINT");
    expect(await p.exited).toBe(0);
  });

  it("keeps its NATS port across restarts: the same URL every time, in ports.json; --nats-port or the env moves it", async () => {
    const home = tempDir();
    const stateDir = path.join(home, "state");
    const env = { PATH: process.env.PATH, HOME: home };
    const args = [
      "--state-dir",
      stateDir,
      "--gateway-port",
      "0",
      "--mcp-port",
      "0",
      "--dashboard-port",
      "0",
      "--no-host-agent",
      "--json",
    ];
    const urls: string[] = [];
    const start = async (extra: string[] = [], more: NodeJS.ProcessEnv = {}): Promise<string> => {
      const p = up([...args, ...extra], { ...env, ...more });
      const report = JSON.parse(await p.waitForLine((l) => l.startsWith("{")));
      natsPids.push(report.nats.pid);
      expect(report.nats.portsFile).toBe(path.join(stateDir, "ports.json"));
      expect(JSON.parse(readFileSync(path.join(stateDir, "up.json"), "utf8")).natsUrl).toBe(report.nats.url);
      p.child.kill("SIGTERM");
      expect(await p.exited).toBe(0);
      urls.push(report.nats.url);
      return report.nats.url;
    };
    const first = await start();
    const port = Number(new URL(first).port);
    expect(port).toBeGreaterThanOrEqual(20_000);
    expect(port).toBeLessThanOrEqual(32_767);
    expect(JSON.parse(readFileSync(path.join(stateDir, "ports.json"), "utf8"))).toEqual({ nats: port });
    expect(statSync(path.join(stateDir, "ports.json")).mode & 0o777).toBe(0o600);
    expect(await start()).toBe(first);

    const [moved, fromEnv] = [await freePort(), await freePort()];
    expect(await start(["--nats-port", String(moved)])).toBe(`nats://127.0.0.1:${moved}`);
    expect(await start()).toBe(`nats://127.0.0.1:${moved}`);
    expect(await start([], { CLAW_SUPERVISOR_NATS_PORT: String(fromEnv) })).toBe(`nats://127.0.0.1:${fromEnv}`);
    expect(JSON.parse(readFileSync(path.join(stateDir, "ports.json"), "utf8"))).toEqual({ nats: fromEnv });
    expect(urls).toHaveLength(5);
  });

  it("when another process holds the kept port, says which and starts nothing; it never moves the port itself", async () => {
    const home = tempDir();
    const stateDir = path.join(home, "state");
    const env = { PATH: process.env.PATH, HOME: home };
    const args = [
      "--state-dir",
      stateDir,
      "--gateway-port",
      "0",
      "--mcp-port",
      "0",
      "--dashboard-port",
      "0",
      "--no-host-agent",
      "--json",
    ];
    const first = up(args, env);
    const report = JSON.parse(await first.waitForLine((l) => l.startsWith("{")));
    natsPids.push(report.nats.pid);
    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
    const port = Number(new URL(report.nats.url).port);

    // This test process takes the port meanwhile.
    const taker = createServer();
    await new Promise<void>((resolve) => taker.listen(port, "127.0.0.1", () => resolve()));
    listener = taker;
    const second = up(args, env);
    expect(await second.exited).toBe(1);
    const said = second.stderr();
    expect(said).toContain(
      `claw-supervisor up: cannot start nats-server on 127.0.0.1:${port} (this state dir's NATS port, kept in ` +
        `${path.join(stateDir, "ports.json")}): it is taken by pid ${process.pid} (`,
    );
    expect(said).toMatch(
      /\); stop it, or move the bus with --nats-port PORT \(kept for next time; configs naming the old URL must change\)\n$/,
    );
    expect(said.split("\n")).toHaveLength(2);
    expect(JSON.parse(second.stdout())).toMatchObject({ ok: false, code: "failure" });
    expect(natsServersOn(stateDir)).toEqual([]);
    expect(existsSync(path.join(stateDir, "up.json"))).toBe(false);
    expect(JSON.parse(readFileSync(path.join(stateDir, "ports.json"), "utf8"))).toEqual({ nats: port });
    // The same for a port asked for.
    const asked = up([...args, "--nats-port", String(port)], env);
    expect(await asked.exited).toBe(1);
    expect(asked.stderr()).toContain(
      `cannot start nats-server on 127.0.0.1:${port} (given with --nats-port): it is taken by pid ${process.pid} (`,
    );
  });

  // As root, up would run the real /usr/bin/apt-get (by absolute path, never a stand-in on PATH), so the install
  // itself is tested in services/stack/nats-install.test.ts with stand-ins; here only what a user is told.
  it("without nats-server: as a user it prints the exact command to run and runs nothing", async () => {
    const home = tempDir();
    chmodSync(home, 0o755);
    const noNats = path.join(home, "no-nats");
    const bin = path.join(home, "bin");
    mkdirSync(noNats, { mode: 0o755 });
    mkdirSync(bin, { mode: 0o755 });
    const log = path.join(home, "apt.log");
    // Stand-ins that record being run: neither may be.
    writeFileSync(path.join(bin, "apt-get"), `#!/bin/sh\necho "apt-get $*" >> ${log}\nexit 0\n`);
    writeFileSync(path.join(bin, "sudo"), `#!/bin/sh\necho "sudo $*" >> ${log}\nexit 1\n`);
    chmodSync(path.join(bin, "apt-get"), 0o755);
    chmodSync(path.join(bin, "sudo"), 0o755);
    // PATH lacks nats-server, and so does the rest of the search (which would find /usr/sbin/nats-server here).
    const env = { PATH: bin, HOME: home, CLAW_SUPERVISOR_NATS_PATH: noNats };
    const userLine = "\n    sudo apt-get install -y nats-server\n";

    const setpriv = findExecutable("setpriv", process.env.PATH) ?? "/usr/bin/setpriv";
    const nobodyReads =
      process.getuid?.() === 0 &&
      spawnSync(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", "--", "test", "-r", cliEntry]).status ===
        0;
    if (process.getuid?.() === 0 && !nobodyReads) {
      // CI clones into a private mktemp dir: nobody cannot load the CLI, and root would run the real apt-get.
      console.log(`${cliEntry} is not readable by nobody: the missing-nats-server message is not checked as a user`);
      return;
    }
    if (nobodyReads) {
      // As a user (nobody, through setpriv, which needs root): the command to run, exit 1, nothing run.
      const asUser = spawnSync(
        setpriv,
        ["--reuid=65534", "--regid=65534", "--clear-groups", "--", process.execPath, cliEntry, "up"],
        { encoding: "utf8", env, timeout: 60_000 },
      );
      expect(asUser.status, asUser.stderr).toBe(1);
      expect(asUser.stderr).toBe(
        `claw-supervisor up: nats-server was not found in $CLAW_SUPERVISOR_NATS_PATH (${noNats}). Install it ` +
          `(Debian/Ubuntu), then start 'claw-supervisor up' again:${userLine}`,
      );
    } else {
      const p = up([], env);
      expect(await p.exited).toBe(1);
      expect(p.stderr()).toContain(userLine);
    }
    expect(existsSync(log)).toBe(false);
  });

  it("a second up on the same state dir says who runs it and starts nothing", async () => {
    const home = tempDir();
    const stateDir = path.join(home, "state");
    const env = { PATH: process.env.PATH, HOME: home };
    const args = [
      "--state-dir",
      stateDir,
      "--gateway-port",
      "0",
      "--mcp-port",
      "0",
      "--dashboard-port",
      "0",
      "--host-id",
      "lock-host",
    ];
    const first = up([...args, "--json"], env);
    const report = JSON.parse(await first.waitForLine((l) => l.startsWith("{")));
    natsPids.push(report.nats.pid);
    expect(natsServersOn(stateDir)).toEqual([report.nats.pid]);

    const second = up([...args, "--json"], env);
    expect(await second.exited).toBe(1);
    expect(second.stderr()).toBe(
      `claw-supervisor up: claw-supervisor is already running on ${stateDir} (pid ${first.child.pid}); stop it ` +
        `first (if pid ${first.child.pid} is not claw-supervisor, remove ${path.join(stateDir, "up.lock")})\n`,
    );
    expect(JSON.parse(second.stdout())).toMatchObject({ ok: false, code: "failure" });
    // No second nats-server on the store (nor anywhere else for this state dir), and the first still serves.
    expect(natsServersOn(stateDir)).toEqual([report.nats.pid]);
    expect(JSON.parse(readFileSync(path.join(stateDir, "up.json"), "utf8")).pid).toBe(first.child.pid);
    const hosts = spawnCli(["hosts", "--json"], cliEnv(home, stateDir));
    expect(await hosts.exited, hosts.stderr()).toBe(0);
    expect(JSON.parse(hosts.stdout())).toEqual({ ok: true, data: [expect.objectContaining({ hostId: "lock-host" })] });

    first.child.kill("SIGINT");
    expect(await first.exited).toBe(0);
    expect(natsServersOn(stateDir)).toEqual([]);
  });

  it("up after kill -9 of the previous one stops the nats-server it left, takes over its lock, and serves", async () => {
    const home = tempDir();
    const stateDir = path.join(home, "state");
    const env = { PATH: process.env.PATH, HOME: home };
    const args = [
      "--state-dir",
      stateDir,
      "--gateway-port",
      "0",
      "--mcp-port",
      "0",
      "--dashboard-port",
      "0",
      "--host-id",
      "crash-host",
    ];
    const crashed = up([...args, "--json"], env);
    const before = JSON.parse(await crashed.waitForLine((l) => l.startsWith("{")));
    const orphan = before.nats.pid as number;
    natsPids.push(orphan);
    expect(readFileSync(path.join(stateDir, "nats", "nats-server.pid"), "utf8").trim()).toBe(String(orphan));
    crashed.child.kill("SIGKILL");
    expect(await crashed.exited).toBe("SIGKILL");
    // SIGKILL runs no exit hook: the nats-server outlives its `up`, still on the store, and so does the lock.
    expect(processAlive(orphan)).toBe(true);
    expect(natsServersOn(stateDir)).toEqual([orphan]);
    expect(readFileSync(path.join(stateDir, "up.lock"), "utf8")).toBe(`${crashed.child.pid}\n`);

    const next = up([...args, "--json"], env);
    const after = JSON.parse(await next.waitForLine((l) => l.startsWith("{")));
    natsPids.push(after.nats.pid);
    expect(after.nats.pid).not.toBe(orphan);
    expect(await waitForProcessGone(orphan, 10_000)).toBe(true);
    expect(natsServersOn(stateDir)).toEqual([after.nats.pid]);
    expect(next.stderr()).toContain(`taking over a stale lock: pid ${crashed.child.pid}`);
    expect(next.stderr()).toContain(
      `stopping nats-server pid ${orphan}, left running on ${path.join(stateDir, "nats")}`,
    );
    expect(after.bus.streams.every((s: { action: string }) => s.action === "unchanged")).toBe(true);

    for (const argv of [
      ["hosts", "--json"],
      ["sessions", "--json"],
    ]) {
      const run = spawnCli(argv, cliEnv(home, stateDir));
      expect(await run.exited, run.stderr()).toBe(0);
      expect(JSON.parse(run.stdout())).toMatchObject({ ok: true });
    }
    next.child.kill("SIGTERM");
    expect(await next.exited).toBe(0);
    expect(natsServersOn(stateDir)).toEqual([]);
  });

  it("stops, non-zero, when its nats-server dies; the CLI then sends the operator password to nobody on that port", async () => {
    const home = tempDir();
    const stateDir = path.join(home, "state");
    const env = { PATH: process.env.PATH, HOME: home };
    const args = [
      "--state-dir",
      stateDir,
      "--gateway-port",
      "0",
      "--mcp-port",
      "0",
      "--dashboard-port",
      "0",
      "--no-host-agent",
      "--json",
    ];
    const p = up(args, env);
    const report = JSON.parse(await p.waitForLine((l) => l.startsWith("{")));
    natsPids.push(report.nats.pid);
    const upFile = JSON.parse(readFileSync(path.join(stateDir, "up.json"), "utf8"));
    expect(upFile).toMatchObject({ pid: p.child.pid, embedded: true, natsPid: report.nats.pid });
    const password = readBusLogin(stateDir, "operator")!.pass;

    process.kill(report.nats.pid, "SIGKILL");
    expect(await waitForProcessGone(report.nats.pid, 5_000)).toBe(true);
    const received = await fakeNatsOn(Number(new URL(report.nats.url).port));
    // Whether up has stopped yet or not, the CLI aimed at that port logs in as nobody.
    const hosts = spawnCli(["hosts", "--json", "--nats-url", report.nats.url], cliEnv(home, stateDir));
    expect(await hosts.exited).toBe(1);
    expect(hosts.stderr()).toMatch(/cannot connect to NATS.*Authorization Violation/);
    expect(received()).toMatch(/^CONNECT /);
    expect(received()).not.toContain(password);

    expect(await p.exited).toBe(1);
    // Nor did up's own connections redial the port with theirs: they were closed when the server died.
    for (const user of ["admin", "policy", "gateway", "registry", "client"] as const)
      expect(received()).not.toContain(readBusLogin(stateDir, user)!.pass);
    expect(p.stderr()).toMatch(/"level":50,.*"msg":"the nats-server \(pid \d+\) exited \(signal SIGKILL\) while up/);
    expect(p.stderr()).toContain(
      `claw-supervisor up: the nats-server (pid ${report.nats.pid}) exited (signal SIGKILL) while up was running: ` +
        "there is no bus; stopping\n",
    );
    expect(existsSync(path.join(stateDir, "up.json"))).toBe(false);
    expect(existsSync(path.join(stateDir, "up.lock"))).toBe(false);
  });

  it("refuses a state dir others can read that is not one (a home), and starts nothing in it", async () => {
    const home = tempDir();
    const dir = path.join(home, "someones-home");
    mkdirSync(dir);
    writeFileSync(path.join(dir, ".profile"), "x");
    chmodSync(dir, 0o755);
    const p = up(
      ["--state-dir", dir, "--gateway-port", "0", "--mcp-port", "0", "--dashboard-port", "0", "--no-host-agent"],
      {
        PATH: process.env.PATH,
        HOME: home,
      },
    );
    expect(await p.exited).toBe(1);
    expect(p.stderr()).toBe(
      `claw-supervisor up: ${dir} is readable by other users and is not a claw-supervisor state dir: use a new or ` +
        "empty directory, or chmod 700 it yourself\n",
    );
    expect(p.stdout()).toBe("");
    expect(statSync(dir).mode & 0o777).toBe(0o755);
    expect(readdirSync(dir)).toEqual([".profile"]);
  });

  it("refuses --replicas 3 for the embedded one-node server, and a replica count that is not 1, 3 or 5", async () => {
    const home = tempDir();
    const env = { PATH: process.env.PATH, HOME: home };
    const three = up(["--replicas", "3"], env);
    expect(await three.exited).toBe(2);
    expect(three.stderr()).toContain("--replicas 3 needs a JetStream cluster: the embedded nats-server is one node");
    const fromEnv = up([], { ...env, CLAW_BUS_REPLICAS: "5" });
    expect(await fromEnv.exited).toBe(2);
    expect(fromEnv.stderr()).toContain("CLAW_BUS_REPLICAS 5 needs a JetStream cluster");
    const four = up(["--replicas", "4"], env);
    expect(await four.exited).toBe(2);
    expect(four.stderr()).toBe("claw-supervisor up: --replicas: must be 1, 3 or 5\n");
    expect(existsSync(path.join(home, ".local", "state", "claw-supervisor", "up.lock"))).toBe(false);
  });
});
