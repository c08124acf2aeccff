/**
 * Waiting and following end to end, every part real: the built CLI runs `up` (its nats-server with credentials,
 * the services and a host agent) against a real codex app-server whose model is the fake model on loopback, and
 * the verbs run as the operator user the CLI logs in as, so the ordered consumers `--wait` and `--follow` make
 * on CODEX_EVENTS are checked against the operator's permissions.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnCli, type CliProcess } from "../support/cli-process.js";
import { startCodexAppServer, type CodexAppServer } from "../support/codex-harness.js";
import { SLOW, startFakeModel, userTexts, type FakeModel } from "../support/fake-model.js";
import { untilWith } from "../support/wait.js";

const HOST = "wait-host";
const ANSWER = "Hello from the fake model.";
const until = untilWith({ timeoutMs: 60_000, stepMs: 250 });

let model: FakeModel;
let server: CodexAppServer;
let base: string;
let env: Record<string, string>;
let up: CliProcess;
const running: CliProcess[] = [];

/** Runs the built CLI as the operator of `up`'s state dir; resolves with its exit code and output. */
async function cli(...args: string[]) {
  const p = spawnCli(args, env);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

/** Starts the built CLI and leaves it running (stopped after the file if a test did not). */
function start(...args: string[]): CliProcess {
  const p = spawnCli(args, env);
  running.push(p);
  return p;
}

/** `data` of a `{ok, data}` answer (or the answer itself, for a bare list). */
const data = (stdout: string): unknown => {
  const parsed = JSON.parse(stdout) as { data?: unknown };
  return Array.isArray(parsed) ? parsed : parsed.data;
};

beforeAll(async () => {
  model = await startFakeModel({
    route: (r) =>
      userTexts(r).at(-1)?.includes(SLOW)
        ? // Far longer than any test: the turn is still running when it is interrupted.
          { kind: "slow", text: "still thinking", chunks: 1_000, delayMs: 250 }
        : { kind: "text", text: ANSWER },
  });
  server = await startCodexAppServer({ model, listen: "unix" });
  base = mkdtempSync(path.join(os.tmpdir(), "claw-wait-"));
  env = { ...server.env, CLAW_SUPERVISOR_STATE_DIR: path.join(base, "state") };
  up = spawnCli(
    [
      "up",
      "--json",
      "--gateway-port",
      "0",
      "--mcp-port",
      "0",
      "--dashboard-port",
      "0",
      "--host-id",
      HOST,
      "--endpoint",
      server.endpoint,
    ],
    env,
  );
  await up.waitForLine((l) => l.startsWith("{"), 60_000);
  await until("the host online", async () => {
    const r = await cli("hosts", "--json");
    return r.code === 0 && (data(r.stdout) as { hostId: string; status: string }[]).some((h) => h.status === "online");
  });
}, 180_000);

afterAll(async () => {
  for (const p of running) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGINT");
  await Promise.all(running.map((p) => p.exited));
  if (up && up.child.exitCode === null) {
    up.child.kill("SIGINT");
    await up.exited;
  }
  await server?.stop();
  await model?.stop();
  if (base) rmSync(base, { recursive: true, force: true });
}, 60_000);

describe("--wait and read --follow as up's operator, with the real codex", () => {
  let sessionId: string;

  it("spawn --wait returns when the first turn has ended, with its answer", async () => {
    const r = await cli("spawn", "say hello", "--cwd", server.workspace, "--host", HOST, "--wait", "--json");
    expect(r.code, `stderr: ${r.stderr}\nstdout: ${r.stdout}`).toBe(0);
    const d = data(r.stdout) as { sessionId: string; turnId: string; turn: Record<string, unknown> };
    expect(d.turn).toMatchObject({ id: d.turnId, status: "completed", lastAgentMessage: ANSWER });
    sessionId = d.sessionId;
  });

  it("send --wait exits 0 once the turn completed, and the model's answer is in the transcript by then", async () => {
    const r = await cli("send", sessionId, "and once more", "--wait");
    expect(r.code, `stderr: ${r.stderr}\nstdout: ${r.stdout}`).toBe(0);
    const turnId = /^started turn (\S+)$/m.exec(r.stdout)?.[1];
    expect(r.stdout).toContain(`turn ${turnId} completed\ncodex: ${ANSWER}\n`);
    const read = await cli("read", sessionId, "--limit", "1", "--json");
    expect(read.code, read.stderr).toBe(0);
    expect((data(read.stdout) as { turns: unknown[] }).turns[0]).toMatchObject({
      id: turnId,
      status: "completed",
      messages: [
        { role: "user", text: "and once more" },
        { role: "agent", text: ANSWER },
      ],
    });
  });

  it("a turn interrupted from another CLI call while send --wait waits gives the interrupted exit code, also to a steer that waits", async () => {
    const waiting = start("send", sessionId, `think it over ${SLOW}`, "--wait");
    const turnId = /^started turn (\S+)$/.exec(await waiting.waitForLine((l) => l.startsWith("started turn ")))?.[1];
    await model.waitForRequest((r) => userTexts(r).at(-1)?.includes("think it over") ?? false, 30_000);
    const steering = start("send", sessionId, `and consider this ${SLOW}`, "--steer", "--wait");
    expect(await steering.waitForLine((l) => l.startsWith("steered turn "))).toBe(`steered turn ${turnId}`);
    await model.waitForRequest((r) => userTexts(r).some((t) => t.includes("and consider this")), 30_000);
    const interrupted = await cli("interrupt", sessionId, "--turn", turnId!);
    expect(interrupted.code, interrupted.stderr).toBe(0);
    expect(await waiting.exited).toBe(10);
    expect(waiting.stdout()).toContain(`turn ${turnId} interrupted`);
    expect(await steering.exited).toBe(10);
    expect(steering.stdout()).toContain(`turn ${turnId} interrupted`);
  });

  it("read --follow prints the items of a turn started after it began, and stops on Ctrl-C", async () => {
    const follower = start("read", sessionId, "--follow");
    await follower.waitForLine((l) => l.startsWith("── turn "));
    const sent = await cli("send", sessionId, "follow-me please");
    expect(sent.code, sent.stderr).toBe(0);
    await follower.waitForLine((l) => l === "user : follow-me please");
    await follower.waitForLine((l) => l === `codex: ${ANSWER}`);
    follower.child.kill("SIGINT");
    expect(await follower.exited).toBe(0);
  });
});
