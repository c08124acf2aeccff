/** `claw-supervisor sessions` and `hosts` in-process against a real nats-server and a running registry. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRegistry, type Registry } from "../registry/registry.js";
import { FakeHost } from "../registry/test-fleet.js";
import { useBus } from "../../test/support/bus.js";
import { eventually } from "../../test/support/wait.js";
import type { CliIo } from "./io.js";
import { runCli } from "./run.js";

/** Runs the CLI in-process; `stop` resolves `stopRequested` (for --watch). */
function cli(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const out = { stdout: "", stderr: "" };
  let stop: (signal: string) => void = () => undefined;
  const io: CliIo = {
    stdout: (t) => void (out.stdout += t),
    stderr: (t) => void (out.stderr += t),
    env,
    stopRequested: new Promise((resolve) => (stop = resolve)),
  };
  const code = runCli(argv, io);
  return { out, code, stop: (signal = "SIGINT") => stop(signal) };
}
const run = async (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const c = cli(argv, env);
  return { code: await c.code, ...c.out };
};

describe("claw-supervisor sessions / hosts", () => {
  const bus = useBus({ ensure: true });
  let registry: Registry;
  let url: string;
  let host: FakeHost;
  beforeAll(() => void (url = bus.url));
  afterAll(() => registry?.stop());

  it("says in one line when nothing answers: no NATS, or no registry", async () => {
    const noNats = await run(["sessions", "--nats-url", "nats://127.0.0.1:1"]);
    expect(noNats.code).toBe(1);
    expect(noNats.stderr).toMatch(
      /^claw-supervisor sessions: cannot connect to NATS at nats:\/\/127\.0\.0\.1:1: .+\n$/,
    );
    const noRegistry = await run(["hosts", "--nats-url", url]);
    expect(noRegistry).toMatchObject({ code: 1, stdout: "" });
    expect(noRegistry.stderr).toBe(
      "claw-supervisor hosts: no registry is answering on codex.registry.hosts.list (no responders): is 'claw-supervisor up' or 'service registry' running?\n",
    );
  });

  it("refuses bad options with exit 2", async () => {
    expect(await run(["sessions", "--status", "running"])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^claw-supervisor sessions: --status: Invalid option: expected one of "idle"\|/),
    });
    expect(await run(["sessions", "--human", "--autonomous"])).toMatchObject({
      code: 2,
      stderr: "claw-supervisor sessions: --human and --autonomous cannot be combined\n",
    });
    expect(await run(["sessions", "--limit", "0"])).toMatchObject({
      code: 2,
      stderr: "claw-supervisor sessions: --limit: must be greater than 0\n",
    });
    expect((await run(["hosts", "extra"])).code).toBe(2);
    expect((await run(["sessions", "--help"])).stdout).toContain(
      "--watch         print again whenever a session changes",
    );
  });

  it("lists sessions as a table and as JSON, with filters and a limit", async () => {
    registry = await startRegistry({
      nc: bus.nc,
      sweepIntervalMs: 60_000,
      degradedAfterMs: 60_000,
      offlineAfterMs: 60_000,
      staleAfterMs: 60_000,
    });
    host = new FakeHost(bus, "devbox");
    host.nowMs = Date.now() - 5 * 60_000;
    await host.lifecycle("connected");
    await host.synced("0195aaaa-1111-7000-8000-000000000001", {
      workspace: "/home/me/claw",
      branch: "fix-ci",
      humanAttached: true,
      preview: "make CI green again",
    });
    await host.synced("0195aaaa-2222-7000-8000-000000000002", {
      status: { type: "active", activeFlags: ["waitingOnApproval"] },
      autonomous: true,
      repo: "docs",
    });
    await eventually(async () =>
      expect(JSON.parse((await run(["sessions", "--nats-url", url, "--json"])).stdout)).toHaveLength(2),
    );

    const table = await run(["sessions"], { NATS_URL: url });
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^HOST\s+SESSION\s+WORKSPACE\s+BRANCH\s+STATUS\s+MODE\s+LAST SEEN\s+SUMMARY$/);
    expect(lines[1]).toMatch(
      /^devbox\s+0195aaaa\s+\/home\/me\/claw\s+fix-ci\s+idle\s+human\s+5m ago\s+make CI green again$/,
    );
    // A long workspace keeps its end, where the folder name is.
    expect(lines[2]).toMatch(
      /^devbox\s+0195aaaa\s+…rk\/0195aaaa-2222-7000-8000-000000000002\s+main\s+active \(approval\)\s+autonomous\s+5m ago\s+task of 0195aaaa-2222/,
    );

    const json = JSON.parse((await run(["sessions", "--nats-url", url, "--json", "--human"])).stdout);
    expect(json).toEqual([
      expect.objectContaining({
        sessionId: "0195aaaa-1111-7000-8000-000000000001",
        humanAttached: true,
        branch: "fix-ci",
      }),
    ]);
    expect(JSON.parse((await run(["sessions", "--nats-url", url, "--json", "--repo", "docs"])).stdout)).toHaveLength(1);
    expect((await run(["sessions", "--nats-url", url, "--host", "elsewhere"])).stdout).toBe(
      "no sessions matching the filter\n",
    );
    const limited = await run(["sessions", "--nats-url", url, "--limit", "1"]);
    expect(limited.stdout.trimEnd().split("\n")).toHaveLength(3);
    expect(limited.stdout).toMatch(/\nshowing 1 of 2 sessions\n$/);
  });

  it("lists hosts as a table and as JSON", async () => {
    await eventually(async () =>
      expect(JSON.parse((await run(["hosts", "--nats-url", url, "--json"])).stdout)).toEqual([
        expect.objectContaining({ hostId: "devbox", status: "online", sessions: 2 }),
      ]),
    );
    const table = await run(["hosts", "--nats-url", url]);
    expect(table.stdout).toMatch(
      /^HOST\s+STATUS\s+HOSTNAME\s+AGENT\s+APP-SERVER\s+SESSIONS\s+LAST HEARTBEAT\s+CONNECTED\n/,
    );
    expect(table.stdout).toMatch(
      /\ndevbox\s+online\s+devbox\.example\s+0\.1\.0\s+-\s+2\s+never\s+(just now|\d+s ago)\n$/,
    );
  });

  it("--watch prints again when a session changes, and stops on Ctrl-C", async () => {
    const watching = cli(["sessions", "--nats-url", url, "--watch", "--host", "devbox"]);
    await eventually(() => expect(watching.out.stdout).toContain("active (approval)"));
    const before = watching.out.stdout.length;
    await host.status("0195aaaa-2222-7000-8000-000000000002", { type: "active", activeFlags: [] });
    await eventually(() =>
      expect(watching.out.stdout.slice(before)).toMatch(/\n\d{1,2}:\d{2}:\d{2}.*\nHOST .*\n.*\n.*active\s+autonomous/),
    );
    watching.stop();
    expect(await watching.code).toBe(0);
    expect(watching.out.stderr).toBe("");
  });
});
