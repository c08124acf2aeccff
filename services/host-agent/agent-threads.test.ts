/**
 * The host agent against the real codex 0.169.0 app-server and a test gateway: discovery of existing and new
 * threads, ephemeral threads ignored, a brand-new thread's first turn delivered whole, seq order, redaction,
 * and approvals left to their owner.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { SessionEventEnvelopeSchema } from "../../schemas/bus.js";
import { notifications, textInput, ThreadStatus } from "../../schemas/codex/index.js";
import { ThreadSyncedPayload } from "../../schemas/agent-events.js";
import { SLOW, startAgentRig, type AgentRig } from "./test-rig.js";
import { useFixture } from "../../test/support/fixture.js";

const rig = useFixture(() => startAgentRig({}));
let existingId: string;

beforeAll(async () => {
  existingId = await rig.startThread();
  await rig.runTurn(existingId, "a turn before the agent starts");
  await rig.startAgent();
});

const turnEventsOf = (rigEvents: ReturnType<AgentRig["threadEvents"]>, turnId: string) =>
  rigEvents
    .filter((e) => {
      const p = e.payload as { turn?: { id?: string }; turnId?: string };
      return p.turn?.id === turnId || p.turnId === turnId;
    })
    .map((e) => {
      const p = e.payload as { item?: { type: string } };
      return p.item ? `${e.type}:${p.item.type}` : e.type;
    });

describe("host agent on a real app-server", () => {
  it("discovers a thread that existed before it started, with workspace, repo and branch", async () => {
    const synced = await rig.gateway.waitFor(
      () => rig.threadEvents(existingId).find((e) => e.type === "agent/thread.synced"),
      20_000,
      "thread.synced for the existing thread",
    );
    const payload = ThreadSyncedPayload.parse(synced.payload);
    expect(payload).toMatchObject({
      thread: { id: existingId, status: { type: "idle" }, ephemeral: false, cwd: rig.server.workspace },
      activeTurnId: null,
      workspace: rig.server.workspace,
      repo: "https://github.com/acme/widgets.git",
      branch: "feature-x",
      humanAttached: false,
      autonomous: false,
    });
    // The thread's model, as codex reports it (Thread.model): what the registry prices the session's tokens by.
    expect(payload.thread.model).toBe("fake-model");
    expect(synced).toMatchObject({ hostId: "host-a", epoch: rig.agent!.epoch });
  });

  it("follows a new thread from thread/started and loses none of its first turn's events", async () => {
    const threadId = await rig.startThread();
    const turnId = await rig.runTurn(threadId, "a quick first turn");
    await rig.gateway.waitFor(
      () => rig.threadEvents(threadId).some((e) => e.type === "turn/completed"),
      20_000,
      "turn/completed",
    );
    const events = rig.threadEvents(threadId);
    expect(events[0]!.type).toBe("thread/started");
    expect(
      turnEventsOf(events, turnId).filter(
        (t) =>
          t !== "thread/tokenUsage/updated" && t !== "item/started:userMessage" && t !== "item/started:agentMessage",
      ),
    ).toEqual(["turn/started", "item/completed:userMessage", "item/completed:agentMessage", "turn/completed"]);
    // Codex's token usage is forwarded as it comes, cumulative totals and all (the registry meters from it).
    const usage = events.filter((e) => e.type === "thread/tokenUsage/updated");
    expect(usage.length).toBeGreaterThan(0);
    for (const e of usage) {
      const params = notifications["thread/tokenUsage/updated"].params.parse(e.payload);
      expect(params).toMatchObject({ threadId, turnId });
      expect(params.tokenUsage.total.totalTokens).toBeGreaterThan(0);
    }
    // Later turns arrive live, not recovered.
    const second = await rig.runTurn(threadId, "a second turn");
    await rig.gateway.waitFor(() =>
      rig
        .threadEvents(threadId)
        .some((e) => e.type === "turn/completed" && (e.payload as { turn: { id: string } }).turn.id === second),
    );
    const live = rig.threadEvents(threadId).filter((e) => (e.payload as { turn?: { id: string } }).turn?.id === second);
    expect(live.map((e) => e.type)).toEqual(["turn/started", "turn/completed"]);
    expect(live.every((e) => (e.payload as { recoveredByAgent?: boolean }).recoveredByAgent === undefined)).toBe(true);
  });

  it("subscribes to a brand-new thread during its first turn and reports the active turn", async () => {
    const threadId = await rig.startThread();
    const { turn } = await rig.client.request("turn/start", {
      threadId,
      input: textInput(`${SLOW} a slow first turn`),
    });
    const synced = await rig.gateway.waitFor(
      () =>
        rig
          .threadEvents(threadId)
          .find(
            (e) =>
              e.type === "agent/thread.synced" &&
              (e.payload as { activeTurnId: string | null }).activeTurnId === turn.id,
          ),
      20_000,
      "a thread.synced with the active turn",
    );
    expect(ThreadStatus.parse((synced.payload as { thread: { status: unknown } }).thread.status).type).toBe("active");
    await rig.log.waitFor("turn/completed", (p) => p.turn.id === turn.id, 30_000);
    await rig.gateway.waitFor(
      () => rig.threadEvents(threadId).some((e) => e.type === "turn/completed"),
      20_000,
      "turn/completed",
    );
    const types = turnEventsOf(rig.threadEvents(threadId), turn.id);
    for (const type of [
      "turn/started",
      "item/completed:userMessage",
      "item/completed:agentMessage",
      "turn/completed",
    ]) {
      expect(
        types.filter((t) => t === type),
        type,
      ).toHaveLength(1);
    }
    expect(types.indexOf("turn/started")).toBeLessThan(types.indexOf("item/completed:agentMessage"));
  });

  it("never sends anything about an ephemeral thread", async () => {
    const ephemeralId = await rig.startThread({ ephemeral: true });
    await rig.runTurn(ephemeralId, "an ephemeral turn");
    const marker = await rig.runTurn(existingId, "a turn after the ephemeral one");
    await rig.gateway.waitFor(() =>
      rig
        .threadEvents(existingId)
        .some((e) => (e.payload as { turn?: { id: string } }).turn?.id === marker && e.type === "turn/completed"),
    );
    expect(rig.gateway.events().filter((e) => e.threadId === ephemeralId)).toEqual([]);
    expect(rig.gateway.rawFrames.some((f) => f.includes(ephemeralId))).toBe(false);
  });

  it("redacts a secret typed into a prompt from every frame it sends", async () => {
    const secret = "sk-proj-Zq8sEcReTkEy0123456789abcdef";
    const password = "correct-horse-battery-staple";
    const threadId = await rig.startThread();
    const turnId = await rig.runTurn(threadId, `deploy with ${secret} and DB_PASSWORD=${password}`);
    await rig.gateway.waitFor(() =>
      rig
        .threadEvents(threadId)
        .some((e) => e.type === "turn/completed" && (e.payload as { turn: { id: string } }).turn.id === turnId),
    );
    await rig.gateway.waitFor(
      () => rig.threadEvents(threadId).filter((e) => e.type === "agent/thread.synced").length >= 2,
      10_000,
      "second snapshot",
    );
    expect(
      rig.log.all.some((n) => JSON.stringify(n.params).includes(secret)),
      "the app-server itself carries the secret",
    ).toBe(true);
    const everything = rig.gateway.rawFrames.join("\n");
    expect(everything).not.toContain(secret);
    expect(everything).not.toContain(password);
    expect(everything).not.toContain("bob:pw@");
    expect(everything).toContain("[REDACTED:api-key]");
    expect(everything).toContain("DB_PASSWORD=[REDACTED:secret]");
  });

  it("leaves approvals to the connection that owns them", async () => {
    const threadId = await rig.startThread({ approvalPolicy: "untrusted" });
    await rig.runTurn(threadId, "first turn so the agent subscribes");
    let askedAtMs = 0;
    let resolvedBeforeAnswer = false;
    let answered!: () => void;
    const answer = new Promise<void>((resolve) => (answered = resolve));
    const unhandle = rig.client.handleServerRequest("item/commandExecution/requestApproval", async () => {
      askedAtMs = Date.now();
      const resolvedAtAsk = rig.log.matching("serverRequest/resolved", (p) => p.threadId === threadId).length;
      await new Promise((r) => setTimeout(r, 1_500));
      resolvedBeforeAnswer =
        rig.log.matching("serverRequest/resolved", (p) => p.threadId === threadId).length > resolvedAtAsk;
      answered();
      return { decision: "decline" as const };
    });
    try {
      await rig.gateway.waitFor(() =>
        rig
          .threadEvents(threadId)
          .some(
            (e) =>
              e.type === "agent/thread.synced" &&
              (e.payload as { thread: { status: { type: string } } }).thread.status.type !== "notLoaded",
          ),
      );
      rig.model.script({
        kind: "functionCall",
        name: "exec_command",
        arguments: { cmd: "echo approved-by-owner" },
        callId: "call_owner",
      });
      await rig.runTurn(threadId, "run the command");
      await answer;
      expect(askedAtMs).toBeGreaterThan(0);
      expect(resolvedBeforeAnswer).toBe(false);
      const waiting = rig
        .threadEvents(threadId)
        .find((e) => e.type === "thread/status/changed" && JSON.stringify(e.payload).includes("waitingOnApproval"));
      expect(waiting).toBeDefined();
    } finally {
      unhandle();
    }
  });

  it("numbers its events 0, 1, 2, ... in the order it sends them, each a valid envelope", async () => {
    const events = rig.gateway.uniqueEvents();
    expect(events.length).toBeGreaterThan(20);
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i));
    for (const e of events) {
      expect(SessionEventEnvelopeSchema.safeParse(e).success).toBe(true);
      expect(e.epoch).toBe(rig.agent!.epoch);
    }
    expect(rig.gateway.invalid).toEqual([]);
    // A heartbeat sent before the watcher reached the app-server says "disconnected"; a later one says connected.
    await expect
      .poll(() =>
        rig.gateway.frames.filter((f) => f.type === "heartbeat").map((f) => (f as { appServer?: string }).appServer),
      )
      .toContain("connected");
  });
});
