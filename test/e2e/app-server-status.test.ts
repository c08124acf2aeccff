/**
 * Truthful status end to end, every part real: nats-server, gateway, registry, policy service, a host agent on a
 * real codex app-server with the fake model. A session started while the stack runs shows its first message as
 * its preview without any restart; when the app-server is killed the host's sessions leave `idle` for `unknown`,
 * and when it is back they show what it says of them (not loaded: closed; resumed: idle); replaying CODEX_EVENTS
 * gives the same view.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readlinkSync, rmSync } from "node:fs";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionEventEnvelopeSchema } from "../../schemas/bus.js";
import { textInput } from "../../schemas/codex/index.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { STREAM_NAMES, readStream } from "../../services/bus/index.js";
import { listAllSessions, listHosts } from "../../services/clients/registry-queries.js";
import { requestCommand } from "../../services/clients/command-request.js";
import { connectCodex, parseEndpoint, type CodexRpcClient } from "../../services/codex-rpc/index.js";
import { startPolicyService } from "../../services/policy/index.js";
import { replayEnvelopes } from "../../services/registry/index.js";
import { codexBinPath } from "../support/codex-bin.js";
import type { CodexAppServer } from "../support/codex-harness.js";
import { processAlive } from "../support/processes.js";
import { startStack, type Stack } from "../support/stack.js";
import { untilWith } from "../support/wait.js";

const HOST = "status-host";

let stack: Stack;
let nc: NatsConnection;
let server: CodexAppServer;
let restarted: ChildProcess | undefined;
const until = untilWith({ timeoutMs: 30_000 });

const hostSessions = async (): Promise<SessionRecord[]> => (await listAllSessions(nc, { host: HOST })).sessions;
const session = async (id: string, pred: (s: SessionRecord) => boolean = () => true) => {
  const s = (await hostSessions()).find((x) => x.sessionId === id);
  return s && pred(s) ? s : undefined;
};

async function connectClient(): Promise<CodexRpcClient> {
  const client = await connectCodex(parseEndpoint(server.endpoint));
  await client.initialize({ clientInfo: { name: "status-test", version: "0" } });
  return client;
}

/** A second `codex app-server` on the first one's socket and CODEX_HOME (its threads' rollouts are still there). */
async function restartAppServer(): Promise<void> {
  rmSync(server.socketPath!, { force: true });
  const child = spawn(codexBinPath(), ["app-server", "--listen", server.endpoint, "--disable", "daemon_auto_start"], {
    cwd: server.workspace,
    env: server.env,
    stdio: "ignore",
  });
  restarted = child;
  await until("the restarted app-server answering", async () => {
    const client = await connectClient().catch(() => undefined);
    client?.close();
    return client !== undefined;
  });
}

async function stopRestarted(): Promise<void> {
  const child = restarted;
  if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
  let target: string | undefined;
  try {
    target = path.resolve(path.dirname(server.socketPath!), readlinkSync(server.socketPath!));
  } catch {
    target = undefined;
  }
  const exited = new Promise((resolve) => child.once("exit", resolve));
  process.kill(child.pid, "SIGTERM");
  await exited;
  // The unix listener is a symlink into /tmp/codex-daemon-<uid>/: remove what it points at too.
  if (target) for (const f of [target, `${target}.lock`]) rmSync(f, { force: true });
}

beforeAll(async () => {
  stack = await startStack({
    hostId: HOST,
    model: { defaultReply: { kind: "text", text: "Hello from the fake model." } },
  });
  ({ nc, server } = stack);
  const policy = await startPolicyService({ nc, logger: stack.quiet });
  stack.defer(() => policy.stop());
  await stack.startAgent({ backoff: { initialMs: 100, maxMs: 500 } });
  await stack.hostOnline();
  await until("the agent connected to its app-server", async () =>
    (await listHosts(nc)).find((h) => h.hostId === HOST && h.appServer === "connected"),
  );
}, 60_000);

afterAll(async () => {
  await stopRestarted();
  await stack?.stop();
  if (restarted?.pid) expect(processAlive(restarted.pid)).toBe(false);
});

describe("truthful status", () => {
  const ids: string[] = [];

  it("shows the first message of a session another client starts while the stack runs, without a restart", async () => {
    const client = await connectClient();
    try {
      const { thread } = await client.request("thread/start", { cwd: server.workspace });
      await client.request("turn/start", { threadId: thread.id, input: textInput("tidy the release notes") });
      ids.push(thread.id);
      const s = await until("the session idle with its preview", () =>
        session(thread.id, (x) => x.status === "idle" && x.preview !== null),
      );
      expect(s.preview).toBe("tidy the release notes");
    } finally {
      client.close();
    }
  });

  it("shows the task of a session spawned while the stack runs, without a restart", async () => {
    const answer = await requestCommand(
      nc,
      {
        verb: "spawn",
        caller: { role: "operator", id: "erin" },
        idempotencyKey: randomUUID(),
        args: { host: { hostId: HOST }, cwd: server.workspace, task: "write the changelog" },
      },
      30_000,
    );
    expect(answer, JSON.stringify(answer)).toMatchObject({ ok: true, result: { ok: true } });
    const threadId = (answer as { result: { data: { sessionId: string } } }).result.data.sessionId;
    ids.push(threadId);
    const s = await until("the spawned session idle with its preview", () =>
      session(threadId, (x) => x.status === "idle" && x.preview !== null),
    );
    expect(s.preview).toBe("write the changelog");
  });

  it("when the app-server is killed its sessions leave idle for unknown, and come back when it is back", async () => {
    await until("both sessions idle", async () => {
      const all = await hostSessions();
      return ids.every((id) => all.some((s) => s.sessionId === id && s.status === "idle"));
    });
    process.kill(server.pid, "SIGKILL");
    const gone = await until("every session of the host unknown", async () => {
      const all = await hostSessions();
      return all.length === ids.length && all.every((s) => s.status === "unknown") ? all : undefined;
    });
    expect(gone.every((s) => s.activeTurnId === null && s.preview !== null)).toBe(true);
    await until("the host reporting its app-server disconnected", async () =>
      (await listHosts(nc)).find((h) => h.hostId === HOST && h.appServer === "disconnected"),
    );

    await restartAppServer();
    // The new app-server has loaded none of them: they are closed, as it says.
    await until("every session closed (not loaded by the new app-server)", async () => {
      const all = await hostSessions();
      return all.length === ids.length && all.every((s) => s.status === "closed") ? all : undefined;
    });
    // One loaded again (resumed by a client) is followed again: idle, and a turn on it is seen.
    const client = await connectClient();
    try {
      await client.request("thread/resume", { threadId: ids[0]! });
      await until("the resumed session idle again", () => session(ids[0]!, (x) => x.status === "idle"));
      const { turn } = await client.request("turn/start", { threadId: ids[0]!, input: textInput("after the restart") });
      await until("the new turn seen and finished", async () => {
        const stored = await storedEnvelopes();
        return stored.some(
          (e) => e.type === "turn/completed" && (e.payload as { turn: { id: string } }).turn.id === turn.id,
        );
      });
      await until("the resumed session idle after its turn", () =>
        session(ids[0]!, (x) => x.status === "idle" && x.activeTurnId === null),
      );
    } finally {
      client.close();
    }
  });

  it("replaying CODEX_EVENTS from the start yields the live view", async () => {
    const replayed = replayEnvelopes(await storedEnvelopes()).sessions.filter((s) => s.host === HOST);
    const live = await hostSessions();
    const comparable = (s: SessionRecord) => ({ ...s, lastSeenAt: 0 });
    const byId = (a: SessionRecord, b: SessionRecord) => a.sessionId.localeCompare(b.sessionId);
    expect(replayed.map(comparable).sort(byId)).toEqual(live.map(comparable).sort(byId));
  });
});

/** Every envelope of this host in CODEX_EVENTS, in stream order. */
async function storedEnvelopes() {
  const out = [];
  for await (const m of readStream(nc, STREAM_NAMES.events)) {
    const env = SessionEventEnvelopeSchema.parse(JSON.parse(new TextDecoder().decode(m.data)));
    if (env.hostId === HOST) out.push(env);
  }
  return out;
}
