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

const S1 = "0195aaaa-1111-7000-8000-000000000001";
const S2 = "0195aaaa-2222-7000-8000-000000000002";
const S3 = "0195aaaa-3333-7000-8000-000000000003";
const S4 = "0195aaaa-4444-7000-8000-000000000004";

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
      `claw-supervisor hosts: no registry is answering on codex.registry.hosts.list (no responders): is 'claw-supervisor up' or 'service registry' running? (asked the bus at ${url})\n`,
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
    expect(await run(["sessions", "-o", "yaml"])).toMatchObject({
      code: 2,
      stderr: "claw-supervisor sessions: --output: must be wide or json\n",
    });
    expect((await run(["sessions", "--help"])).stdout).toContain(
      "--waiting       only sessions waiting on an approval",
    );
  });

  it("lists sessions as a table with short ids and what they need, and as {ok,data:{sessions,total}}", async () => {
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
    await host.synced(S1, {
      workspace: "/home/me/claw",
      branch: "fix-ci",
      humanAttached: true,
      preview: "make CI green again",
    });
    await host.synced(S2, {
      status: { type: "active", activeFlags: ["waitingOnApproval"] },
      autonomous: true,
      repo: "docs",
    });
    await eventually(async () =>
      expect(JSON.parse((await run(["sessions", "--nats-url", url, "--json"])).stdout).data.total).toBe(2),
    );

    const table = await run(["sessions"], { NATS_URL: url });
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(
      /^HOST\s+SESSION\s+WORKSPACE\s+STATUS\s+NEEDS\s+GROUP\s+OWNER\s+TOKENS\s+COST\s+LAST SEEN\s+SUMMARY$/,
    );
    // The two ids share their first 8 hex digits of the last group: the short ids grow until they differ.
    expect(lines[1]).toMatch(
      /^devbox\s+000000000001\s+\/home\/me\/claw\s+idle\s+-\s+-\s+-\s+-\s+-\s+5m ago\s+make CI green again$/,
    );
    // A long workspace keeps its end, where the folder name is.
    expect(lines[2]).toMatch(
      /^devbox\s+000000000002\s+…rk\/0195aaaa-2222-7000-8000-000000000002\s+active\s+approval\s+-\s+-\s+-\s+-\s+5m ago\s+task of 0195aaaa-2222/,
    );

    const wide = await run(["sessions", "--nats-url", url, "-o", "wide", "--no-headers"]);
    expect(wide.stdout.split("\n")[0]).toMatch(
      new RegExp(`^devbox\\s+000000000001\\s+${S1}\\s+/home/me/claw\\s+claw\\s+fix-ci\\s+idle\\s+-\\s+human\\s+`),
    );
    expect(wide.stdout).not.toContain("HOST");

    const json = JSON.parse((await run(["sessions", "--nats-url", url, "--json", "--human"])).stdout);
    expect(json).toEqual({
      ok: true,
      data: {
        sessions: [
          expect.objectContaining({
            sessionId: S1,
            humanAttached: true,
            branch: "fix-ci",
            lastSeenAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          }),
        ],
        total: 1,
      },
    });
    expect(
      JSON.parse((await run(["sessions", "--nats-url", url, "-o", "json", "--repo", "docs"])).stdout),
    ).toMatchObject({
      ok: true,
      data: { sessions: [{ sessionId: S2 }], total: 1 },
    });
    expect((await run(["sessions", "--nats-url", url, "--host", "elsewhere"])).stdout).toBe(
      "no sessions matching the filter\n",
    );
    const limited = await run(["sessions", "--nats-url", url, "--limit", "1"]);
    expect(limited.stdout.trimEnd().split("\n")).toHaveLength(3);
    expect(limited.stdout).toMatch(/\nshowing 1 of 2 sessions\n$/);
  });

  it("filters by group, owner and waiting in the registry", async () => {
    await host.publish(host.envelope(S1, "agent/annotation", { kind: "assign", group: "ci", owner: "erin" }));
    await host.synced(S3, { workspace: "/home/me/docs" });
    const ask = { correlationId: "ask-1", kind: "decision", question: "merge or rebase?", atMs: host.nowMs };
    await host.publish(host.envelope(S3, "agent/annotation", { kind: "ask", ask }));
    const ids = async (...flags: string[]) =>
      (
        JSON.parse((await run(["sessions", "--nats-url", url, "--json", ...flags])).stdout).data.sessions as {
          sessionId: string;
        }[]
      ).map((r) => r.sessionId);
    await eventually(async () => expect(await ids("--waiting")).toEqual([S2, S3]));
    expect(await ids("--group", "ci")).toEqual([S1]);
    expect(await ids("--owner", "erin")).toEqual([S1]);
    expect(await ids("--owner", "erin", "--waiting")).toEqual([]);
    const table = await run(["sessions", "--nats-url", url, "--waiting", "--no-headers"]);
    expect(table.stdout).toMatch(/^devbox\s+000000000002\s+.*\s+active\s+approval\s+/m);
    expect(table.stdout).toMatch(/^devbox\s+000000000003\s+\/home\/me\/docs\s+idle\s+ask\s+/m);
    expect((await run(["sessions", "--nats-url", url, "--group", "ci"])).stdout).toMatch(
      // Short ids are unique in the fleet, not only among the sessions listed: alone in the list, S1 still needs
      // all 12 hex digits, as S2 and S3 share its first 11.
      /\ndevbox\s+000000000001\s+\/home\/me\/claw\s+idle\s+-\s+ci\s+erin\s+/,
    );
  });

  it("lists hosts as a table and as JSON", async () => {
    await eventually(async () =>
      expect(JSON.parse((await run(["hosts", "--nats-url", url, "--json"])).stdout).data).toEqual([
        expect.objectContaining({ hostId: "devbox", status: "online", sessions: 3 }),
      ]),
    );
    const table = await run(["hosts", "--nats-url", url]);
    expect(table.stdout).toMatch(
      /^HOST\s+STATUS\s+HOSTNAME\s+AGENT\s+APP-SERVER\s+SESSIONS\s+LAST HEARTBEAT\s+CONNECTED\n/,
    );
    expect(table.stdout).toMatch(
      /\ndevbox\s+online\s+devbox\.example\s+0\.1\.0\s+-\s+3\s+never\s+(just now|\d+s ago)\n$/,
    );
  });

  it("--watch prints the table once, then one line per change, and stops on Ctrl-C", async () => {
    const watching = cli(["sessions", "--nats-url", url, "--watch", "--host", "devbox"]);
    await eventually(() => expect(watching.out.stdout).toMatch(/^HOST .*\n(.*\n){3}$/));
    const table = watching.out.stdout;
    await host.status(S2, { type: "active", activeFlags: [] });
    await eventually(() =>
      expect(watching.out.stdout.slice(table.length)).toMatch(
        /^devbox\s+000000000002\s+.*\s+active\s+-\s+.*\(needs approval→-\)\n$/,
      ),
    );
    const afterOne = watching.out.stdout.length;
    await host.delta(S2, "turn-x"); // activity alone changes nothing shown
    await host.publish(host.envelope(S2, "agent/annotation", { kind: "assign", owner: "sam" }));
    await eventually(() =>
      expect(watching.out.stdout.slice(afterOne)).toMatch(/^devbox\s+000000000002\s+.*\s+sam\s+.*\(owner -→sam\)\n$/),
    );
    const afterTwo = watching.out.stdout.length;
    await host.synced(S4, { workspace: "/home/me/new" });
    await eventually(() =>
      expect(watching.out.stdout.slice(afterTwo)).toMatch(
        /^devbox\s+000000000004\s+\/home\/me\/new\s+idle\s+.*\(new\)\n$/,
      ),
    );
    expect(watching.out.stdout.startsWith(table)).toBe(true);
    watching.stop();
    expect(await watching.code).toBe(0);
    expect(watching.out.stderr).toBe("");
  });

  it("--watch --json prints one JSON line for the list, then one per change", async () => {
    const watching = cli(["sessions", "--nats-url", url, "--watch", "--json", "--owner", "sam"]);
    await eventually(() => expect(watching.out.stdout).toMatch(/\n$/));
    const first = JSON.parse(watching.out.stdout);
    expect(first).toMatchObject({ ok: true, data: { total: 1, sessions: [{ sessionId: S2 }] } });
    await host.completeTurn(S2, "turn-x");
    await host.publish(host.envelope(S2, "agent/annotation", { kind: "assign", owner: null }));
    await eventually(() => expect(watching.out.stdout.trimEnd().split("\n")).toHaveLength(3));
    const [, changed, left] = watching.out.stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(changed).toEqual({
      ok: true,
      data: {
        change: "changed",
        shortId: "000000000002",
        changes: [{ field: "status", from: "active", to: "idle" }],
        session: expect.objectContaining({ sessionId: S2, status: "idle", owner: "sam" }),
      },
    });
    expect(left.data).toMatchObject({ change: "left", changes: [{ field: "owner", from: "sam", to: "-" }] });
    watching.stop();
    expect(await watching.code).toBe(0);
  });

  it("--watch --limit follows the listed sessions only: a change to one the table left out is not 'new'", async () => {
    const watching = cli(["sessions", "--nats-url", url, "--watch", "--host", "devbox", "--limit", "1"]);
    await eventually(() => expect(watching.out.stdout).toMatch(/\nshowing 1 of 4 sessions matching the filter\n$/));
    const table = watching.out.stdout;
    expect(table).toMatch(/\ndevbox\s+000000000001\s/);
    // S3 is not in the table; its change comes first in the KV watch, S1's after it.
    await host.publish(host.envelope(S3, "agent/annotation", { kind: "assign", owner: "zed" }));
    await host.publish(host.envelope(S1, "agent/annotation", { kind: "assign", owner: "kim" }));
    await eventually(() => expect(watching.out.stdout.slice(table.length)).toMatch(/\(owner erin→kim\)\n$/));
    expect(watching.out.stdout.slice(table.length)).toMatch(/^devbox\s+000000000001\s+.*\(owner erin→kim\)\n$/);
    watching.stop();
    expect(await watching.code).toBe(0);
  });
});
