/**
 * Idle unload end to end, every part real: nats-server, gateway, registry, policy service, the host agent on a
 * real codex 0.169 app-server with the fake model. A thread idle past the agent's idleUnloadMs is released, codex
 * unloads it and the registry shows it `closed`, its transcript still readable; one a person is attached to stays
 * loaded until they leave; `send` to a closed one resumes it and the turn runs; a released thread another client
 * works on again is followed again. Each thread is started with `thread_unload_delay_secs = 0` (codex then
 * unloads a thread as soon as nobody is subscribed) and the test's own client unsubscribes after its turn, so
 * the agent is the only subscriber left: whether codex unloads it is the agent's doing alone.
 */
import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import { textInput } from "../../schemas/codex/index.js";
import type { CommandEnvelopeOut } from "../clients/command-request.js";
import { requestCommand } from "../clients/command-request.js";
import { listAllSessions } from "../clients/registry-queries.js";
import { readStream, STREAM_NAMES } from "../bus/index.js";
import { connectCodex, parseEndpoint, type CodexRpcClient } from "../codex-rpc/index.js";
import { startPolicyService } from "../policy/index.js";
import { recordNotifications, type NotificationLog } from "../../test/support/notifications.js";
import { userTexts } from "../../test/support/fake-model.js";
import { startStack, type Stack } from "../../test/support/stack.js";
import { untilWith } from "../../test/support/wait.js";
import type { HostAgent } from "./agent.js";
import { releasable, sweepPeriodMs, type IdleFacts } from "./idle-unload.js";
import { removePresenceRecord, writePresenceRecord } from "./presence-record.js";
import type { TrackedThread } from "./thread-state.js";

const HOST = "idle-host";
const IDLE_MS = 1_500;
const ANSWER = "Hello from the fake model.";

let stack: Stack;
let nc: NatsConnection;
let agent: HostAgent;
let client: CodexRpcClient;
let log: NotificationLog;
const until = untilWith({ timeoutMs: 30_000 });

const session = async (id: string) =>
  (await listAllSessions(nc, { host: HOST })).sessions.find((s) => s.sessionId === id);
const loaded = async () => (await client.request("thread/loaded/list", {})).data;
/** Every envelope of a thread in CODEX_EVENTS, in stream order. */
async function stored(threadId: string): Promise<SessionEventEnvelope[]> {
  const out: SessionEventEnvelope[] = [];
  for await (const m of readStream(nc, STREAM_NAMES.events)) {
    const e = JSON.parse(new TextDecoder().decode(m.data)) as SessionEventEnvelope;
    if (e.threadId === threadId) out.push(e);
  }
  return out;
}
const turnOf = (e: SessionEventEnvelope) => (e.payload as { turn?: { id?: string } }).turn?.id;
const command = (verb: "send" | "read", sessionId: string, args: Record<string, unknown>) =>
  requestCommand(
    nc,
    {
      verb,
      caller: { role: "operator", id: "erin" },
      idempotencyKey: randomUUID(),
      args: { target: { sessionId, hostId: HOST }, ...args },
    } as CommandEnvelopeOut,
    30_000,
  );

/**
 * A thread with one finished turn that only the agent still follows: started and run by the test's client with
 * `thread_unload_delay_secs = 0`, stored by the agent (its turn/completed is in CODEX_EVENTS, so the agent was
 * subscribed), then left by the client. Returns the thread and when its turn completed (codex's clock).
 */
async function agentOnlyThread(prompt: string): Promise<{ threadId: string; completedAtMs: number }> {
  const { thread } = await client.request("thread/start", {
    cwd: stack.server.workspace,
    config: { thread_unload_delay_secs: 0 },
  });
  const { turn } = await client.request("turn/start", { threadId: thread.id, input: textInput(prompt) });
  await log.waitFor("turn/completed", (p) => p.turn.id === turn.id, 30_000);
  const completed = await until("the agent to store the turn's completion", async () =>
    (await stored(thread.id)).find((e) => e.type === "turn/completed" && turnOf(e) === turn.id),
  );
  await client.request("thread/unsubscribe", { threadId: thread.id });
  return { threadId: thread.id, completedAtMs: completed.emittedAtMs };
}

beforeAll(async () => {
  stack = await startStack({ hostId: HOST, model: { defaultReply: { kind: "text", text: ANSWER } } });
  nc = stack.nc;
  const policy = await startPolicyService({ nc, logger: stack.quiet });
  stack.defer(() => policy.stop());
  agent = await stack.startAgent({ idleUnloadMs: IDLE_MS, presencePollMs: 200 });
  client = await connectCodex(parseEndpoint(stack.server.endpoint));
  stack.defer(() => client.close());
  log = recordNotifications(client);
  await client.initialize({
    clientInfo: { name: "idle-unload-test", version: "0" },
    optOutNotificationMethods: ["item/agentMessage/delta"],
  });
  await stack.hostOnline();
}, 60_000);

afterAll(() => stack?.stop());

describe("idle threads unload", () => {
  let closedId: string;

  it("releases a thread idle past idleUnloadMs: codex unloads it, the registry shows it closed, read still works", async () => {
    const { threadId, completedAtMs } = await agentOnlyThread("tidy the release notes");
    closedId = threadId;
    await until("the session closed in the registry", async () => (await session(threadId))?.status === "closed");
    expect(await loaded()).not.toContain(threadId);
    const closed = (await stored(threadId)).find((e) => e.type === "thread/closed");
    expect(closed, "thread/closed stored").toBeDefined();
    // Never released sooner than the idle time after its last activity (both times are codex's).
    expect(closed!.emittedAtMs - completedAtMs).toBeGreaterThanOrEqual(IDLE_MS);

    const read = await command("read", threadId, { limit: 10, view: "summary" });
    expect(read, JSON.stringify(read)).toMatchObject({ ok: true, result: { ok: true } });
    const text = JSON.stringify((read as { result: { data: unknown } }).result.data);
    expect(text).toContain("tidy the release notes");
    expect(text).toContain(ANSWER);
    // An interrupt finds nothing running, and says so without loading it either.
    const interrupt = await requestCommand(
      nc,
      {
        verb: "interrupt",
        caller: { role: "operator", id: "erin" },
        idempotencyKey: randomUUID(),
        args: { target: { sessionId: threadId, hostId: HOST } },
      },
      30_000,
    );
    expect(interrupt).toMatchObject({ ok: true, result: { ok: false, code: "conflict" } });
    // Reading the history did not load the thread again.
    expect(await loaded()).not.toContain(threadId);
    expect((await session(threadId))?.status).toBe("closed");
  });

  it("keeps a thread a person is attached to subscribed and loaded, and releases it once they leave", async () => {
    const { threadId } = await agentOnlyThread("a thread with a person on it");
    // The record `claw-supervisor launch` writes for a TUI resuming this thread; this process stands in for the TUI.
    await writePresenceRecord(stack.stateDir, {
      version: 1,
      tuiPid: process.pid,
      launcherPid: process.pid,
      tty: null,
      workspace: stack.server.workspace,
      resumeThreadId: threadId,
      endpoint: stack.server.endpoint,
      startedAtMs: Date.now(),
    });
    try {
      await until("the session human-attached", async () => (await session(threadId))?.humanAttached === true);
      // Three idle times and a sweep: long enough for a release, which codex would follow with an unload at once.
      await new Promise((r) => setTimeout(r, 3 * IDLE_MS + sweepPeriodMs(IDLE_MS)));
      expect(await loaded()).toContain(threadId);
      expect((await session(threadId))?.status).toBe("idle");
    } finally {
      await removePresenceRecord(stack.stateDir, process.pid);
    }
    await until("the session detached", async () => (await session(threadId))?.humanAttached === false);
    await until("the session closed once the person left", async () => (await session(threadId))?.status === "closed");
    expect(await loaded()).not.toContain(threadId);
  });

  it("follows a released thread again when another client works on it, its turn stored once", async () => {
    const { thread } = await client.request("thread/start", {
      cwd: stack.server.workspace,
      config: { thread_unload_delay_secs: 0 },
    });
    const first = await client.request("turn/start", { threadId: thread.id, input: textInput("first") });
    await log.waitFor("turn/completed", (p) => p.turn.id === first.turn.id, 30_000);
    // The client stays subscribed (a TUI not started through launch): the released thread stays loaded.
    await until("the agent to release the idle thread", () => agent.status().releasedThreads === 1);
    expect(await loaded()).toContain(thread.id);
    const second = await client.request("turn/start", { threadId: thread.id, input: textInput("second") });
    await log.waitFor("turn/completed", (p) => p.turn.id === second.turn.id, 30_000);
    await until("the agent to store the second turn's completion", async () =>
      (await stored(thread.id)).some((e) => e.type === "turn/completed" && turnOf(e) === second.turn.id),
    );
    const events = await stored(thread.id);
    for (const turnId of [first.turn.id, second.turn.id])
      expect(events.filter((e) => e.type === "turn/completed" && turnOf(e) === turnId)).toHaveLength(1);
    await client.request("thread/unsubscribe", { threadId: thread.id });
    await until("the session closed", async () => (await session(thread.id))?.status === "closed");
  });

  it("send to a closed session resumes it and the turn runs; the registry shows it idle again with both turns", async () => {
    expect((await session(closedId))?.status).toBe("closed");
    const sent = await command("send", closedId, { text: "one more thing after the unload" });
    expect(sent, JSON.stringify(sent)).toMatchObject({ ok: true, result: { ok: true, data: { action: "started" } } });
    const turnId = (sent as { result: { data: { turnId: string } } }).result.data.turnId;
    await stack.model.waitForRequest((r) => userTexts(r).some((t) => t.includes("one more thing after the unload")));
    const completed = await until("the new turn's completion stored", async () =>
      (await stored(closedId)).find((e) => e.type === "turn/completed" && turnOf(e) === turnId),
    );
    expect((completed.payload as { turn: { status: string } }).turn.status).toBe("completed");
    await until("the session idle again in the registry", async () => {
      const s = await session(closedId);
      return s?.status === "idle" && s.activeTurnId === null;
    });
    const read = await command("read", closedId, { limit: 10, view: "summary" });
    const turns = (read as { result: { data: { turns: unknown[] } } }).result.data.turns;
    expect(turns).toHaveLength(2);
    expect(JSON.stringify(turns)).toContain("one more thing after the unload");
  });
});

describe("releasable (pure)", () => {
  const t = (over: Partial<TrackedThread> = {}): TrackedThread =>
    ({
      id: "t",
      thread: { status: { type: "idle" } },
      activeTurnId: null,
      subscription: "subscribed",
      lastActivityMs: 0,
      ...over,
    }) as TrackedThread;
  const facts: IdleFacts = { settled: true, humanAttached: false, heldApprovals: 0, idleSinceMs: 0 };

  it("releases an idle, settled, unattached thread quiet for the idle time, and nothing else", () => {
    expect(releasable(t(), facts, 1_000, 1_000)).toBe(true);
    expect(releasable(t(), facts, 999, 1_000)).toBe(false);
    expect(releasable(t(), facts, 10_000, 0)).toBe(false);
    expect(releasable(t(), { ...facts, humanAttached: true }, 10_000, 1_000)).toBe(false);
    expect(releasable(t(), { ...facts, heldApprovals: 1 }, 10_000, 1_000)).toBe(false);
    expect(releasable(t(), { ...facts, settled: false }, 10_000, 1_000)).toBe(false);
    expect(releasable(t({ activeTurnId: "turn" }), facts, 10_000, 1_000)).toBe(false);
    expect(releasable(t({ subscription: "released" }), facts, 10_000, 1_000)).toBe(false);
    expect(releasable(t({ subscription: "pending" }), facts, 10_000, 1_000)).toBe(false);
    for (const status of [
      { type: "active", activeFlags: ["waitingOnApproval"] },
      { type: "active", activeFlags: [] },
      { type: "systemError" },
      { type: "notLoaded" },
    ])
      expect(
        releasable(t({ thread: { status } as TrackedThread["thread"] }), facts, 10_000, 1_000),
        JSON.stringify(status),
      ).toBe(false);
  });

  it("sweeps four times per idle time, between 50 ms and 30 s", () => {
    expect(sweepPeriodMs(1_000)).toBe(250);
    expect(sweepPeriodMs(10)).toBe(50);
    expect(sweepPeriodMs(600_000)).toBe(30_000);
  });
});
