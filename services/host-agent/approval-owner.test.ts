/**
 * The approval owner against the real codex 0.169.0 app-server and the fake model: a spawned (autonomous)
 * thread's command approvals are answered by policy, declined by default; a thread the agent did not spawn is
 * left to its own client; every request the agent owns is answered. Plus the hook's edge cases, directly.
 */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { textInput, type RequestId } from "../../schemas/codex/index.js";
import { HostSpawnResult, type ApprovalRules, type HostRpcRequest } from "../../schemas/host-rpc.js";
import { leaveToOwner } from "../codex-rpc/index.js";
import { functionCallOutputs } from "../../test/support/fake-model.js";
import { ApprovalHolds } from "./approval-holds.js";
import { createApprovalOwner, type ApprovalDecisionRecord } from "./approval-owner.js";
import { AutonomousThreads } from "./autonomous.js";
import { startCommandsRig } from "./test-commands-rig.js";
import { useFixture } from "../../test/support/fixture.js";
import type { ServerRequestHook } from "./watcher.js";

const decisions: ApprovalDecisionRecord[] = [];
/** Every request the watcher's hook was asked about, and those it answered, by thread. */
const seen: { threadId: string; id: RequestId; answered: boolean }[] = [];

const rig = useFixture(() =>
  startCommandsRig({
    approvals: (autonomous) => {
      const owner = createApprovalOwner({
        autonomous,
        humanAttached: () => false,
        record: (d) => void decisions.push(d),
      });
      return (method, params, ctx) => {
        const reply = owner(method, params, ctx);
        seen.push({
          threadId: (params as { threadId: string }).threadId,
          id: ctx.id,
          answered: reply !== leaveToOwner,
        });
        return reply;
      };
    },
  }),
);
const hookDirs: string[] = [];
afterAll(async () => {
  for (const dir of hookDirs) rmSync(dir, { recursive: true, force: true });
});

const spawnRequest = (task: string, approvals: Partial<ApprovalRules>): HostRpcRequest => ({
  op: "spawn",
  cwd: rig.server.workspace,
  task,
  sandbox: "read-only",
  approvalPolicy: "untrusted",
  config: {},
  approvals: { commandPrefixes: [], pathPrefixes: [], tools: [], ...approvals },
});

/** Spawns a thread whose model asks to run `cmd`; resolves with the output Codex fed back to the model. */
async function spawnRunning(cmd: string, callId: string, approvals: Partial<ApprovalRules>) {
  rig.model.script({ kind: "functionCall", name: "exec_command", arguments: { cmd }, callId });
  const result = await rig.executor.execute(spawnRequest(`please run ${callId}`, approvals), 15_000);
  const { threadId, turnId } = HostSpawnResult.parse((result as { data: unknown }).data);
  const next = await rig.model.waitForRequest((r) => functionCallOutputs(r).some((o) => o.callId === callId), 20_000);
  const output = JSON.stringify(functionCallOutputs(next).find((o) => o.callId === callId)?.output);
  await rig.until(
    () => rig.agentSeen.some((n) => n.method === "turn/completed" && JSON.stringify(n.params).includes(turnId)),
    "the turn to complete",
    30_000,
  );
  return { threadId, output };
}

describe("approvals of autonomous sessions on a real app-server", () => {
  it("declines a command by default: the model is told it was rejected, and the command never ran", async () => {
    const { threadId, output } = await spawnRunning("echo declined-by-policy", "call_declined", {});
    expect(output).toMatch(/reject|declin/i);
    expect(output).not.toContain("declined-by-policy\\n");
    expect(decisions.filter((d) => d.threadId === threadId)).toEqual([
      {
        threadId,
        method: "item/commandExecution/requestApproval",
        requestId: expect.anything(),
        allow: false,
        reason: expect.stringMatching(/no allowed prefix/),
        state: "answered",
        by: { kind: "rule" },
        kind: "command",
        summary: "echo declined-by-policy",
      },
    ]);
  });

  it("accepts a command its rules allow: it runs and its output goes back to the model", async () => {
    const { threadId, output } = await spawnRunning("echo accepted-by-policy 42", "call_accepted", {
      commandPrefixes: ["echo accepted-by-policy"],
    });
    expect(output).toContain("accepted-by-policy 42");
    expect(decisions.filter((d) => d.threadId === threadId)).toMatchObject([
      { allow: true, reason: expect.stringContaining("echo accepted-by-policy") },
    ]);
  });

  it("declines a command that chains another after an allowed prefix", async () => {
    const { output } = await spawnRunning("echo accepted-by-policy; echo chained-command", "call_chained", {
      commandPrefixes: ["echo accepted-by-policy"],
    });
    expect(output).toMatch(/reject|declin/i);
    expect(output).not.toContain("chained-command\\n");
  });

  it("leaves a thread it did not spawn to that thread's own client: pending and waitingOnApproval until it answers", async () => {
    const threadId = await rig.startThread({ approvalPolicy: "untrusted" });
    await rig.runTurn(threadId, "warm up so the agent subscribes");
    await rig.until(() => rig.tracked(threadId).subscription === "subscribed", "the watcher to subscribe");
    let answer!: (decision: "decline") => void;
    const decided = new Promise<"decline">((resolve) => (answer = resolve));
    let asked = 0;
    const unhandle = rig.client.handleServerRequest("item/commandExecution/requestApproval", async (params) => {
      if (params.threadId !== threadId) throw new Error("unexpected approval");
      asked++;
      return { decision: await decided };
    });
    try {
      rig.model.script({
        kind: "functionCall",
        name: "exec_command",
        arguments: { cmd: "echo owner-decides" },
        callId: "call_owner",
      });
      const { turn } = await rig.client.request("turn/start", { threadId, input: textInput("run it") });
      await rig.until(
        () => asked === 1 && seen.some((s) => s.threadId === threadId),
        "both connections to get the approval",
      );
      await rig.until(
        () => JSON.stringify(rig.tracked(threadId).thread.status).includes("waitingOnApproval"),
        "waitingOnApproval",
      );
      expect(seen.filter((s) => s.threadId === threadId).every((s) => !s.answered)).toBe(true);
      expect(rig.log.matching("serverRequest/resolved", (p) => p.threadId === threadId)).toEqual([]);
      expect(rig.tracked(threadId).thread.status).toMatchObject({ type: "active", activeFlags: ["waitingOnApproval"] });
      answer("decline");
      await rig.log.waitFor("turn/completed", (p) => p.turn.id === turn.id, 30_000);
      expect(rig.log.matching("serverRequest/resolved", (p) => p.threadId === threadId)).toHaveLength(1);
      expect(decisions.some((d) => d.threadId === threadId)).toBe(false);
    } finally {
      unhandle();
    }
  });

  it("answered every request it owns, and each answer resolved the request", () => {
    const owned = seen.filter((s) => rig.autonomous.isAutonomous(s.threadId));
    expect(owned.length).toBeGreaterThanOrEqual(3);
    expect(owned.every((s) => s.answered)).toBe(true);
    expect(decisions).toHaveLength(owned.length);
    const resolved = rig.agentSeen.filter(
      (n) =>
        n.method === "serverRequest/resolved" &&
        rig.autonomous.isAutonomous((n.params as { threadId: string }).threadId),
    );
    expect(resolved).toHaveLength(owned.length);
  });
});

describe("the approvals hook", () => {
  const ctx = { id: 7 };
  const setup = async (humanAttached = false) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "approval-hook-"));
    hookDirs.push(dir);
    const autonomous = await AutonomousThreads.load(dir);
    const mine = "thread-mine";
    await autonomous.mark(mine, { commandPrefixes: ["ls"], pathPrefixes: [], tools: [] });
    const records: ApprovalDecisionRecord[] = [];
    const hook: ServerRequestHook = createApprovalOwner({
      autonomous,
      humanAttached: () => humanAttached,
      record: (d) => void records.push(d),
    });
    return { hook, mine, records };
  };

  it("answers every kind for its own threads, refusing what the rules do not allow, unreadable params included", async () => {
    const { hook, mine, records } = await setup();
    const turn = { threadId: mine, turnId: "u", itemId: "i" };
    expect(hook("item/commandExecution/requestApproval", { ...turn, command: "ls -la" }, ctx)).toEqual({
      decision: "accept",
    });
    expect(hook("item/commandExecution/requestApproval", { ...turn, command: 42 }, ctx)).toEqual({
      decision: "decline",
    });
    expect(hook("item/fileChange/requestApproval", turn, ctx)).toEqual({ decision: "decline" });
    expect(hook("item/tool/requestUserInput", { ...turn, questions: [] }, ctx)).toEqual({ answers: {} });
    expect(hook("item/permissions/requestApproval", { ...turn, permissions: {} }, ctx)).toEqual({
      permissions: {},
      scope: "turn",
    });
    expect(hook("item/tool/call", { ...turn, callId: "c", tool: "x", arguments: {} }, ctx)).toMatchObject({
      success: false,
    });
    expect(hook("mcpServer/elicitation/request", { threadId: mine, serverName: "x" }, ctx)).toEqual({
      action: "decline",
    });
    expect(
      hook("execCommandApproval", { conversationId: mine, callId: "c", command: "not an array" }, ctx),
    ).toMatchObject({ decision: { denied: {} } });
    expect(records.map((r) => r.allow)).toEqual([true, false, false, false, false, false, false, false]);
    expect(records.every((r) => r.requestId === 7 && r.reason.length > 0)).toBe(true);
  });

  it("holds what an ask rule matches (a promise of the answer, recorded as held); declines it where it cannot be held", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "approval-hook-"));
    hookDirs.push(dir);
    const autonomous = await AutonomousThreads.load(dir);
    await autonomous.mark("t-ask", {
      commandPrefixes: [],
      pathPrefixes: [],
      tools: [],
      ask: [{ commandPrefixes: ["git"] }],
    });
    const records: ApprovalDecisionRecord[] = [];
    const holds = new ApprovalHolds({
      onAnswered: () => undefined,
      setTimer: () => 0,
      clearTimer: () => undefined,
      newId: () => "c0ffee01",
    });
    const hook = createApprovalOwner({
      autonomous,
      humanAttached: () => false,
      holds,
      record: (d) => void records.push(d),
    });
    const params = { threadId: "t-ask", turnId: "u", itemId: "i", command: "git push" };
    const held = hook("item/commandExecution/requestApproval", params, { id: 11 });
    expect(held).toBeInstanceOf(Promise);
    expect(records).toEqual([
      // The hold's own id, not the app-server's 11 (which a restarted app-server reuses).
      expect.objectContaining({
        state: "held",
        allow: false,
        requestId: "c0ffee01",
        kind: "command",
        summary: "git push",
      }),
    ]);
    expect(holds.answer("t-ask", "11", "accept", { id: "erin", role: "operator" })).toMatchObject({
      code: "not_found",
    });
    expect(holds.answer("t-ask", "c0ffee01", "accept", { id: "erin", role: "operator" })).toMatchObject({ ok: true });
    expect(await held).toEqual({ decision: "accept" });
    expect(hook("item/commandExecution/requestApproval", params, { id: 12, canHold: false })).toEqual({
      decision: "decline",
    });
    const noHolds = createApprovalOwner({ autonomous, humanAttached: () => false });
    expect(noHolds("item/commandExecution/requestApproval", params, { id: 13 })).toEqual({ decision: "decline" });
    expect(records.at(-1)).toMatchObject({
      state: "answered",
      requestId: 12,
      reason: expect.stringMatching(/cannot be held/),
    });
  });

  it("leaves other threads, requests without a thread, and threads a person is attached to", async () => {
    const { hook } = await setup();
    expect(
      hook(
        "item/commandExecution/requestApproval",
        { threadId: "someone-else", turnId: "u", itemId: "i", command: "ls" },
        ctx,
      ),
    ).toBe(leaveToOwner);
    expect(hook("account/chatgptAuthTokens/refresh", {}, ctx)).toBe(leaveToOwner);
    const attached = await setup(true);
    expect(
      attached.hook(
        "item/commandExecution/requestApproval",
        { threadId: attached.mine, turnId: "u", itemId: "i", command: "ls" },
        ctx,
      ),
    ).toBe(leaveToOwner);
    expect(attached.records).toEqual([]);
  });
});
