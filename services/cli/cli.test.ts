import { afterEach, describe, expect, it } from "vitest";
import { startFakeAppServer, type FakeAppServer } from "../../test/support/fake-app-server.js";
import { runCliInProcess } from "./test-cli.js";

let fake: FakeAppServer | undefined;
afterEach(async () => {
  await fake?.stop();
  fake = undefined;
});

/** Runs the CLI in-process and captures what it prints. */
const cli = runCliInProcess;

const thread = (id: string, status: unknown, extra: Record<string, unknown> = {}) => ({
  id,
  sessionId: id,
  preview: `task ${id}`,
  ephemeral: false,
  createdAt: 1,
  updatedAt: 2,
  status,
  cwd: "/work/repo",
  cliVersion: "0.169.0",
  modelProvider: "fake",
  source: "vscode",
  turns: [],
  ...extra,
});

describe("claw-supervisor CLI", () => {
  it("prints help, the version, and refuses unknown commands and options with exit 2", async () => {
    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/\n  probe +check an app-server endpoint/);
    expect((await cli(["--version"])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
    const unknown = await cli(["frobnicate"]);
    expect(unknown).toMatchObject({ code: 2, stderr: expect.stringContaining("unknown command 'frobnicate'") });
    const badOption = await cli(["probe", "--bogus"]);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toContain("Unknown option '--bogus'. See 'claw-supervisor probe --help'.");
    expect((await cli(["probe", "--timeout", "0"])).stderr).toContain("--timeout: must be greater than 0");
    expect((await cli(["probe", "--timeout"])).stderr).toBe(
      "claw-supervisor probe: Option '--timeout <value>' argument missing. See 'claw-supervisor probe --help'.\n",
    );
    expect((await cli(["probe", "http://x"])).stderr).toContain('unsupported endpoint "http://x"');
    expect((await cli(["up", "--nats-port", "70000"])).stderr).toContain("--nats-port: must be between 1 and 65535");
  });

  it("probe lists loaded threads with truthful status, as text and as JSON", async () => {
    fake = await startFakeAppServer();
    fake.handle("thread/loaded/list", () => ({
      result: { data: ["th-1", "th-2", "th-gone", "th-title"], nextCursor: null },
    }));
    fake.handle("thread/read", (params) => {
      const id = (params as { threadId: string }).threadId;
      if (id === "th-1") return { result: { thread: thread(id, { type: "idle" }) } };
      if (id === "th-2")
        return { result: { thread: thread(id, { type: "active", activeFlags: ["waitingOnApproval"] }) } };
      if (id === "th-title") return { result: { thread: thread(id, { type: "idle" }, { ephemeral: true }) } };
      return { error: { code: -32600, message: "thread not loaded" } };
    });
    const endpoint = `unix://${(fake.endpoint as { socketPath: string }).socketPath}`;
    const text = await cli(["probe", endpoint]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain("fake-app-server/0.0.0 (linux)");
    expect(text.stdout).toContain("4 loaded threads (1 ephemeral)");
    expect(text.stdout).toMatch(/th-1\s+idle\s+\/work\/repo\s+"task th-1"/);
    expect(text.stdout).toMatch(/th-2\s+active \(waitingOnApproval\)/);
    expect(text.stdout).toMatch(/th-gone\s+unknown\s+could not read: thread not loaded \(-32600\)/);
    expect(text.stdout).toMatch(/th-title .*\[ephemeral\]/);

    const json = await cli(["probe", endpoint, "--json"]);
    const report = JSON.parse(json.stdout).data;
    expect(report.server.userAgent).toBe("fake-app-server/0.0.0");
    expect(report.threads.map((t: { id: string; status: string }) => `${t.id}:${t.status}`)).toEqual([
      "th-1:idle",
      "th-2:active",
      "th-gone:unknown",
      "th-title:idle",
    ]);
  });

  it("probe exits 1 with a one-line reason when the endpoint is unreachable or not an app-server", async () => {
    const missing = await cli(["probe", "unix:///nonexistent/dir/app.sock"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(
      "claw-supervisor probe: cannot reach unix:///nonexistent/dir/app.sock: connect ENOENT /nonexistent/dir/app.sock\n",
    );
    fake = await startFakeAppServer();
    fake.handle("initialize", () => ({ error: { code: -32601, message: "method not found" } }));
    const endpoint = `unix://${(fake.endpoint as { socketPath: string }).socketPath}`;
    const notCodex = await cli(["probe", endpoint]);
    expect(notCodex.code).toBe(1);
    expect(notCodex.stderr).toBe(
      `claw-supervisor probe: ${endpoint} is not a Codex app-server: method not found (-32601)\n`,
    );
    fake.handle("initialize", () => "silence");
    const silent = await cli(["probe", endpoint, "--timeout", "200"]);
    expect(silent.code).toBe(1);
    expect(silent.stderr).toContain("is not a Codex app-server: initialize got no answer within 200 ms");
    expect(silent.stderr.trim().split("\n")).toHaveLength(1);
  });

  it("probe sends the bearer token named by --token-env, and says when the variable is unset", async () => {
    fake = await startFakeAppServer({ listen: "tcp", requireBearer: "tok-123" });
    fake.handle("thread/loaded/list", () => ({ result: { data: [], nextCursor: null } }));
    const url = (fake.endpoint as { url: string }).url;
    const ok = await cli(["probe", url, "--token-env", "CODEX_TOKEN", "--json"], { CODEX_TOKEN: "tok-123" });
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).data.threads).toEqual([]);
    const refused = await cli(["probe", url]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("HTTP 401");
    const unset = await cli(["probe", url, "--token-env", "NOPE"]);
    expect(unset).toMatchObject({ code: 2, stderr: expect.stringContaining("environment variable NOPE is not set") });
  });
});
