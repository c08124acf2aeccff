/**
 * Approvals that ask, end to end with every part real: nats-server, gateway, registry, policy service, a host
 * agent on the real codex app-server, the fake model asking to run shell commands (escalated, so an autonomous
 * session's command needs an approval), and the built `claw-supervisor` CLI. Under an `ask` rule the host agent
 * holds the request: it shows in the session record and as a high-priority `approval-requested` FLEET notice;
 * `approve` lets the command run; `decline` refuses it and is audited with its caller; a short per-rule deadline
 * declines another; a command no rule matches is declined by the rules and shows in `audit --session`.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionRecord } from "../../schemas/registry.js";
import { startPolicyService, type PolicyService } from "../../services/policy/index.js";
import { functionCallOutputs, type FakeModel } from "../support/fake-model.js";
import { auditOfSession, noticesAbout, sessionOn } from "../support/fleet-reads.js";
import { startStack, type Stack } from "../support/stack.js";
import { untilWith } from "../support/wait.js";

const HOST = "ask-host";
const DEADLINE_MS = 2_000;

let stack: Stack;
let nc: NatsConnection;
let model: FakeModel;
let policy: PolicyService | undefined;
const until = untilWith({ timeoutMs: 30_000 });
const cli = (...args: string[]) => stack.cli(...args);

const session = (id: string, pred?: (s: SessionRecord) => boolean) => sessionOn(nc, HOST, id, pred);
const notices = (sessionId: string) => noticesAbout(nc, sessionId);
const auditOf = (sessionId: string) => auditOfSession(cli, sessionId);
/** What Codex told the model about the command `cmd`, once it did (its function call output). */
const outputFor = async (cmd: string): Promise<string> =>
  JSON.stringify(
    functionCallOutputs(
      await model.waitForRequest(
        (r) => functionCallOutputs(r).length > 0 && JSON.stringify(r).includes(cmd),
        DEADLINE_MS * 10,
      ),
    ),
  );
const sawOutputFor = (cmd: string): boolean =>
  model.requests.some((r) => functionCallOutputs(r).length > 0 && JSON.stringify(r).includes(cmd));

/** Spawns an autonomous task whose model asks to run `cmd`; resolves with its session id. */
async function spawnRunning(cmd: string): Promise<string> {
  const spawned = await cli(
    "spawn",
    `please run-a-command cmd=${cmd.replaceAll(" ", "_")}`,
    "--cwd",
    stack.server.workspace,
    "--host",
    HOST,
    "--json",
  );
  expect(spawned.code, spawned.stderr).toBe(0);
  return (JSON.parse(spawned.stdout) as { data: { sessionId: string } }).data.sessionId;
}
/** Waits for the session's held approval in the registry. */
const heldApproval = (sessionId: string) =>
  until("the approval held in the session record", async () => (await session(sessionId))?.approval ?? undefined);

beforeAll(async () => {
  stack = await startStack({
    hostId: HOST,
    model: {
      route: (r) => {
        if (functionCallOutputs(r).length > 0) return { kind: "text", text: "The command finished." };
        const last = JSON.stringify(r);
        const cmd = /run-a-command cmd=([^\s"\\]+)/.exec(last)?.[1]?.replaceAll("_", " ");
        if (cmd)
          return {
            kind: "functionCall",
            name: "exec_command",
            arguments: { cmd, sandbox_permissions: "require_escalated", justification: "the test asks for it" },
          };
        return { kind: "text", text: "Hello." };
      },
    },
  });
  ({ nc, model } = stack);
  policy = await startPolicyService({ nc, logger: stack.quiet });
  stack.defer(() => policy?.stop());
  await stack.startAgent();
  await stack.hostOnline();
  const doc = JSON.parse((await cli("policy", "get", "--json")).stdout) as {
    data?: { inForce: { document: Record<string, unknown> } };
    inForce?: { document: Record<string, unknown> };
  };
  const current = (doc.data ?? doc).inForce!.document;
  const file = path.join(stack.stateDir, "policy-ask.json");
  writeFileSync(
    file,
    JSON.stringify({
      ...current,
      approvals: [
        { id: "ask-echo", target: { host: HOST }, ask: { commandPrefixes: ["echo ask-approve", "echo ask-decline"] } },
        {
          id: "ask-fast",
          target: { host: HOST },
          ask: { commandPrefixes: ["echo ask-deadline"], deadlineMs: DEADLINE_MS },
        },
      ],
    }),
  );
  const set = await cli("policy", "set", file);
  expect(set.code, set.stderr).toBe(0);
  await until("the ask policy in force", () => policy!.policyRevision() !== null);
}, 90_000);

afterAll(() => stack?.stop());

describe("approvals that ask", () => {
  it("holds a command an ask rule matches: in the session record and a high-priority approval-requested notice; approve lets it run", async () => {
    const sessionId = await spawnRunning("echo ask-approve 1");
    const approval = await heldApproval(sessionId);
    expect(approval).toMatchObject({ kind: "command", summary: "echo ask-approve 1" });
    expect(approval.deadlineAtMs - approval.atMs).toBe(600_000);
    expect((await session(sessionId))?.waitingOn).toBe("approval");
    const requested = await until("the approval-requested notice", async () =>
      (await notices(sessionId)).find((n) => n.kind === "approval-requested"),
    );
    expect(requested).toMatchObject({ priority: "high", session: { approval: { requestId: approval.requestId } } });
    // Held: Codex has not run it, so the model has had no output for it.
    expect(sawOutputFor("ask-approve 1")).toBe(false);
    const attention = await cli("attention", "--json");
    expect(attention.code, attention.stderr).toBe(0);
    expect((JSON.parse(attention.stdout) as { data: { items: unknown[] } }).data.items).toContainEqual(
      expect.objectContaining({ needs: "approval", sessionId, requestId: approval.requestId }),
    );

    const approved = await cli("approve", sessionId, "--json");
    expect(approved.code, approved.stderr).toBe(0);
    expect(JSON.parse(approved.stdout)).toMatchObject({
      ok: true,
      data: { requestId: approval.requestId, decision: "accept", summary: "echo ask-approve 1" },
    });
    const output = await outputFor("ask-approve 1");
    expect(output).toContain("ask-approve 1\\n");
    expect(output).not.toMatch(/rejected/i);
    await until("the approval cleared from the record", () => session(sessionId, (s) => s.approval === null));

    const again = await cli("approve", sessionId, approval.requestId, "--json");
    expect(again.code).toBe(5);
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: false, code: "conflict" });
    const none = await cli("decline", sessionId, "--json");
    expect(none.code).toBe(4);
    const answered = await until("the approval-answered notice", async () =>
      (await notices(sessionId)).find((n) => n.kind === "approval-answered"),
    );
    expect(answered).toMatchObject({
      priority: "normal",
      answer: {
        decision: "accept",
        by: { kind: "caller", caller: { role: "operator", id: expect.stringMatching(/^erin@/) } },
      },
    });
  });

  it("a decline by request id refuses the command, and is audited with its caller", async () => {
    const sessionId = await spawnRunning("echo ask-decline 2");
    const approval = await heldApproval(sessionId);
    const declined = await cli("decline", sessionId, approval.requestId, "--caller", "dana", "--json");
    expect(declined.code, declined.stderr).toBe(0);
    const output = await outputFor("ask-decline 2");
    expect(output).toMatch(/rejected/i);
    expect(output).not.toContain("ask-decline 2\\n");
    const records = await until("the decline's approval record", async () => {
      const all = await auditOf(sessionId);
      return all.some((r) => r.kind === "approval" && r.decision !== null) ? all : undefined;
    });
    expect(records).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ kind: "request", verb: "approve", caller: { id: "dana", role: "operator" } }),
        expect.objectContaining({
          kind: "result",
          verb: "approve",
          caller: { id: "dana", role: "operator" },
          outcome: expect.objectContaining({ ok: true }),
        }),
        expect.objectContaining({
          kind: "approval",
          caller: { id: `host-agent:${HOST}`, role: "host" },
          decision: null,
        }),
        expect.objectContaining({
          kind: "approval",
          caller: { id: "dana", role: "operator" },
          decision: expect.objectContaining({ allow: false }),
          detail: expect.objectContaining({ requestId: approval.requestId, decision: "decline" }),
        }),
      ]),
    );
  });

  it("nobody answers: its rule's short deadline declines it, the host agent says so, and it is audited", async () => {
    const sessionId = await spawnRunning("echo ask-deadline 3");
    const approval = await heldApproval(sessionId);
    expect(approval.deadlineAtMs - approval.atMs).toBe(DEADLINE_MS);
    const output = await outputFor("ask-deadline 3");
    expect(output).toMatch(/rejected/i);
    await until("the approval cleared from the record", () => session(sessionId, (s) => s.approval === null));
    const answered = await until("the approval-answered notice", async () =>
      (await notices(sessionId)).find((n) => n.kind === "approval-answered"),
    );
    expect(answered.answer).toMatchObject({
      decision: "decline",
      by: { kind: "deadline" },
      reason: expect.stringMatching(/nobody answered/),
    });
    const record = await until("the deadline's approval record", async () =>
      (await auditOf(sessionId)).find((r) => r.kind === "approval" && r.decision !== null),
    );
    expect(record).toMatchObject({ caller: { id: "deadline", role: "host" }, decision: { allow: false } });
    const late = await cli("approve", sessionId, approval.requestId);
    expect(late.code).toBe(5);
  });

  it("a command no rule matches is declined by the rules, and that is in audit --session", async () => {
    const sessionId = await spawnRunning("echo no-rule-matches 4");
    expect(await outputFor("no-rule-matches 4")).toMatch(/rejected/i);
    const record = await until("the rules' approval record", async () =>
      (await auditOf(sessionId)).find((r) => r.kind === "approval"),
    );
    expect(record).toMatchObject({
      caller: { id: `host-agent:${HOST}`, role: "host" },
      target: { hostId: HOST, sessionId },
      decision: { allow: false, reason: expect.stringMatching(/no allowed prefix/) },
    });
    const text = await cli("audit", "--session", sessionId, "--kind", "approval");
    expect(text.stdout).toMatch(/approval .*host:host-agent:ask-host .*decline request \d+ "echo no-rule-matches 4"/);
    expect((await session(sessionId))?.approval).toBeNull();
  });
});
