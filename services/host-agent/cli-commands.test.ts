/**
 * `claw-supervisor host-agent` and `claw-supervisor launch` run in-process: usage errors, a short run of the
 * agent against a fake app-server and a test gateway, and launch with a stand-in codex script (the real TUI
 * is exercised in launch-presence.test.ts).
 */
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startFakeAppServer, type FakeAppServer } from "../../test/support/fake-app-server.js";
import type { CliIo } from "../cli/io.js";
import { runCli } from "../cli/run.js";
import { startTestGateway, type TestGateway } from "./test-gateway.js";

let tmp: string;
let fake: FakeAppServer | undefined;
let gateway: TestGateway | undefined;

beforeAll(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "host-agent-cli-"));
});
afterEach(async () => {
  await fake?.stop();
  await gateway?.close();
  fake = undefined;
  gateway = undefined;
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cli(argv: string[], env: NodeJS.ProcessEnv = {}, stop: Promise<string> = new Promise(() => undefined)) {
  const out = { stdout: "", stderr: "" };
  const io: CliIo = {
    stdout: (t) => void (out.stdout += t),
    stderr: (t) => void (out.stderr += t),
    env,
    stopRequested: stop,
  };
  return { out, code: runCli(argv, io) };
}

/** A stand-in codex: records its arguments and the presence folder, then exits with `code`. */
function fakeCodex(name: string, code: number): { bin: string; record: string } {
  const bin = path.join(tmp, name);
  const record = path.join(tmp, `${name}.out`);
  // launch writes the presence record just after the spawn: give it a moment before listing the folder.
  const waitForRecord =
    'i=0; while [ -n "$PRESENCE_DIR" ] && [ -z "$(ls "$PRESENCE_DIR" 2>/dev/null)" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done';
  writeFileSync(
    bin,
    `#!/bin/sh\necho "args: $*" > "${record}"\necho "cwd: $(pwd)" >> "${record}"\n${waitForRecord}\nls "$PRESENCE_DIR" >> "${record}" 2>/dev/null\nexit ${code}\n`,
  );
  chmodSync(bin, 0o755);
  return { bin, record };
}

describe("claw-supervisor host-agent", () => {
  it("explains missing or invalid settings with exit 2", async () => {
    let run = cli(["host-agent"], { HOME: tmp });
    expect(await run.code).toBe(2);
    expect(run.out.stderr).toContain('missing the gateway URL (--gateway or "gatewayUrl") and the host token file');
    const config = path.join(tmp, "bad.json");
    writeFileSync(config, JSON.stringify({ gatewayUrl: "http://nope", heartbeatMs: -1 }));
    run = cli(["host-agent", "--config", config], { HOME: tmp });
    expect(await run.code).toBe(2);
    expect(run.out.stderr).toMatch(
      /bad\.json: gatewayUrl: must be a ws:\/\/ or wss:\/\/ URL; heartbeatMs: must be greater than 0/,
    );
    run = cli(["host-agent", "--gateway", "ws://127.0.0.1:9/", "--token-file", path.join(tmp, "absent")], {
      HOME: tmp,
    });
    expect(await run.code).toBe(1);
    expect(run.out.stderr).toContain("cannot read the host token file");
  });

  it("runs until asked to stop, saying hello to the gateway as the configured host", async () => {
    fake = await startFakeAppServer();
    fake.handle("thread/loaded/list", () => ({ result: { data: [], nextCursor: null } }));
    gateway = await startTestGateway({ token: "cli-token" });
    const tokenFile = path.join(tmp, "cli-token");
    writeFileSync(tokenFile, "cli-token\n");
    const config = path.join(tmp, "agent.json");
    writeFileSync(
      config,
      JSON.stringify({ hostId: "from-file", tokenFile: "cli-token", heartbeatMs: 100, logLevel: "silent" }),
    );
    let stop!: (signal: string) => void;
    const endpoint = `unix://${fake.endpoint.kind === "unix" ? fake.endpoint.socketPath : ""}`;
    const run = cli(
      [
        "host-agent",
        "--config",
        config,
        "--gateway",
        gateway.url,
        "--host-id",
        "from-flag",
        "--endpoint",
        endpoint,
        "--state-dir",
        path.join(tmp, "s"),
        "--json",
      ],
      { HOME: tmp },
      new Promise((resolve) => (stop = resolve)),
    );
    const hello = await gateway.waitFor(() => gateway!.frames.find((f) => f.type === "hello"), 10_000, "hello");
    expect(hello).toMatchObject({ hostId: "from-flag", agentVersion: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    await gateway.waitFor(
      () => gateway!.frames.some((f) => f.type === "heartbeat" && f.appServer === "connected"),
      10_000,
      "heartbeat",
    );
    stop("SIGTERM");
    expect(await run.code).toBe(0);
    expect(JSON.parse(run.out.stdout)).toMatchObject({ hostId: "from-flag", endpoint, gatewayUrl: gateway.url });
  });
});

describe("claw-supervisor launch", () => {
  it("runs codex --remote in the workspace with a presence record while it runs, and exits with its code", async () => {
    fake = await startFakeAppServer();
    const { bin, record } = fakeCodex("codex-exit-3", 3);
    const stateDir = path.join(tmp, "launch-state");
    const endpoint = `unix://${fake.endpoint.kind === "unix" ? fake.endpoint.socketPath : ""}`;
    const run = cli(
      [
        "launch",
        "--endpoint",
        endpoint,
        "--cd",
        tmp,
        "--codex",
        bin,
        "--state-dir",
        stateDir,
        "--",
        "-m",
        "fake-model",
      ],
      {
        PATH: process.env.PATH,
        PRESENCE_DIR: path.join(stateDir, "presence"),
      },
    );
    expect(await run.code).toBe(3);
    const lines = readFileSync(record, "utf8").trim().split("\n");
    expect(lines[0]).toBe(`args: --remote ${endpoint} --cd ${tmp} -m fake-model`);
    expect(lines[1]).toBe(`cwd: ${tmp}`);
    expect(lines[2]).toMatch(/^\d+\.json$/);
    expect(readdirSync(path.join(stateDir, "presence"))).toEqual([]);
  });

  it("attaches with codex resume when given a thread id", async () => {
    fake = await startFakeAppServer();
    const { bin, record } = fakeCodex("codex-resume", 0);
    const endpoint = `unix://${fake.endpoint.kind === "unix" ? fake.endpoint.socketPath : ""}`;
    const run = cli(["launch", "--endpoint", endpoint, "--resume", "01a2-thread", "--state-dir", path.join(tmp, "r")], {
      PATH: process.env.PATH,
      CODEX_BIN: bin,
    });
    expect(await run.code).toBe(0);
    expect(readFileSync(record, "utf8").split("\n")[0]).toBe(`args: resume --remote ${endpoint} 01a2-thread`);
  });

  it("refuses an endpoint where nothing answers, and starts the daemon only for the daemon's own socket", async () => {
    let run = cli(
      ["launch", "--endpoint", `unix://${path.join(tmp, "nothing.sock")}`, "--codex", "/bin/false", "--state-dir", tmp],
      {},
    );
    expect(await run.code).toBe(1);
    expect(run.out.stderr).toContain(`no Codex app-server answers at unix://${path.join(tmp, "nothing.sock")}`);

    const { bin, record } = fakeCodex("codex-daemon", 1);
    const codexHome = path.join(tmp, "codex-home");
    run = cli(["launch", "--codex", bin, "--state-dir", tmp], { CODEX_HOME: codexHome, PATH: process.env.PATH });
    expect(await run.code).toBe(1);
    expect(readFileSync(record, "utf8").split("\n")[0]).toBe("args: app-server daemon start");
    expect(run.out.stderr).toContain(
      `no Codex daemon answers at unix://${codexHome}/app-server-control/app-server-control.sock`,
    );
    expect(run.out.stderr).toContain("app-server daemon start' failed (exit 1)");
    expect(existsSync(path.join(tmp, "presence"))).toBe(false);
  });
});
