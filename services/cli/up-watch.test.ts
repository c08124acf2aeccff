/**
 * `sessions --watch` across a restart of `up` (both the built CLI, as child processes, on one state dir): the
 * watch says when it lost the bus and when it is back, and prints the changes made after the restart. That
 * works because `up` keeps its NATS port and its bus passwords across restarts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterEach, describe, expect, it } from "vitest";
import { spawnCli, type CliProcess } from "../../test/support/cli-process.js";
import { processAlive, waitForProcessGone } from "../../test/support/processes.js";
import { until } from "../../test/support/wait.js";
import { readBusLogin } from "../clients/bus-credentials.js";
import { FakeHost } from "../registry/test-fleet.js";

const tmp: string[] = [];
const procs: CliProcess[] = [];
const natsPids: number[] = [];

afterEach(async () => {
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
  for (const d of tmp.splice(0)) rmSync(d, { recursive: true, force: true });
});

/**
 * A fake NATS server on 127.0.0.1:`port` (someone binding the port while `up` is down): greets every client,
 * records what it sends and refuses its CONNECT (with `accept`, takes it and answers PINGs). `close()` frees
 * the port.
 */
async function fakeNatsOn(
  port: number,
  o: { accept?: boolean } = {},
): Promise<{ received(): string; close(): Promise<void> }> {
  let received = "";
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.write(`INFO ${JSON.stringify({ server_id: "FAKE", version: "2.10.0", proto: 1, auth_required: true })}\r\n`);
    socket.on("data", (chunk) => {
      const text = chunk.toString("utf8");
      received += text;
      // With `accept`, it lets any CONNECT in and answers PINGs, as an impostor would.
      if (o.accept) {
        for (const _ of text.matchAll(/^PING\r$/gm)) socket.write("PONG\r\n");
      } else if (received.includes("CONNECT ")) socket.end("-ERR 'Authorization Violation'\r\n");
    });
    socket.on("error", () => undefined);
  });
  await until(
    `listening on 127.0.0.1:${port}`,
    () =>
      new Promise<boolean>((resolve) => {
        server.once("error", () => resolve(false));
        server.listen(port, "127.0.0.1", () => resolve(true));
      }),
    { timeoutMs: 10_000, stepMs: 50 },
  );
  return {
    received: () => received,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function cli(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  const p = spawnCli(args, env);
  procs.push(p);
  return p;
}

describe("sessions --watch across a restart of up", () => {
  it("says it lost the bus, says it is back, and prints a change made after the restart", async () => {
    const home = mkdtempSync(path.join(tmpdir(), "claw-upwatch-"));
    tmp.push(home);
    const stateDir = path.join(home, "state");
    const env = { PATH: process.env.PATH, HOME: home, CLAW_SUPERVISOR_STATE_DIR: stateDir };
    const upArgs = [
      "up",
      "--gateway-port",
      "0",
      "--mcp-port",
      "0",
      "--dashboard-port",
      "0",
      "--no-host-agent",
      "--json",
    ];
    const startUp = async (): Promise<{ proc: CliProcess; url: string }> => {
      const proc = cli(upArgs, env);
      const report = JSON.parse(await proc.waitForLine((l) => l.startsWith("{")));
      natsPids.push(report.nats.pid);
      return { proc, url: report.nats.url };
    };

    const first = await startUp();
    const watch = cli(["sessions", "--watch", "--json"], env);
    await watch.waitForLine((l) => l.startsWith("{"));

    first.proc.child.kill("SIGTERM");
    expect(await first.proc.exited).toBe(0);
    await until("the watch to say it lost the bus", () =>
      watch.stderr().includes(`claw-supervisor sessions: lost the bus at ${first.url}; reconnecting…\n`),
    );
    expect(watch.stderr()).not.toContain("back on the bus");

    // (Whoever binds the port meanwhile is refused: the next test.)
    const second = await startUp();
    expect(second.url).toBe(first.url);
    await until("the watch to say it is back", () =>
      watch.stderr().includes(`claw-supervisor sessions: back on the bus at ${first.url}\n`),
    );

    // A host reports a new session through the restarted stack's bus (as the gateway would publish it).
    const login = readBusLogin(stateDir, "gateway")!;
    const nc = await connect({ servers: second.url, user: login.user, pass: login.pass });
    try {
      const sessionId = "0195bbbb-3333-7000-8000-000000000003";
      await new FakeHost({ nc, js: jetstream(nc) }, "restart-host").synced(sessionId, { workspace: "/w/after" });
      const line = await watch.waitForLine((l) => l.includes(sessionId));
      expect(JSON.parse(line)).toMatchObject({ ok: true, data: { session: { sessionId, host: "restart-host" } } });
    } finally {
      await nc.close();
    }
    expect(watch.child.exitCode).toBeNull();
    watch.child.kill("SIGINT");
    expect(await watch.exited).toBe(0);
    // Nothing went wrong on the way but the outage itself.
    expect(watch.stderr()).toBe(
      `claw-supervisor sessions: lost the bus at ${first.url}; reconnecting…\n` +
        `claw-supervisor sessions: back on the bus at ${first.url}\n`,
    );
  });

  it("refuses a server that is not up's on the port while up is down: no credentials, no 'back on the bus', says why and stops", async () => {
    const home = mkdtempSync(path.join(tmpdir(), "claw-upwatch-"));
    tmp.push(home);
    const stateDir = path.join(home, "state");
    const env = { PATH: process.env.PATH, HOME: home, CLAW_SUPERVISOR_STATE_DIR: stateDir };
    const up = cli(
      ["up", "--gateway-port", "0", "--mcp-port", "0", "--dashboard-port", "0", "--no-host-agent", "--json"],
      env,
    );
    const report = JSON.parse(await up.waitForLine((l) => l.startsWith("{")));
    natsPids.push(report.nats.pid);
    const url: string = report.nats.url;
    const watch = cli(["sessions", "--watch", "--json"], env);
    await watch.waitForLine((l) => l.startsWith("{"));

    up.child.kill("SIGTERM");
    expect(await up.exited).toBe(0);
    await until("the watch to say it lost the bus", () => watch.stderr().includes("lost the bus"));
    // An impostor that accepts any CONNECT (with or without credentials) and answers PINGs.
    const fake = await fakeNatsOn(Number(new URL(url).port), { accept: true });
    try {
      const code = await watch.exited;
      expect(code).toBe(1);
      // It got nothing at all: not the password, not even a CONNECT without one, no subscription or request.
      expect(fake.received()).toBe("");
      expect(watch.stderr()).not.toContain("back on the bus");
      expect(watch.stderr()).toContain(
        `claw-supervisor sessions: the bus at ${url} is no longer claw-supervisor up's (no ${path.join(stateDir, "up.json")}); not sending credentials; stopped\n`,
      );
    } finally {
      await fake.close();
    }
  });
});
