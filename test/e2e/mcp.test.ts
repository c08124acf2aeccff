/**
 * The MCP edge end to end, every part real: nats-server, gateway, registry, the policy service with the edge's
 * spawn config, the MCP edge over Streamable HTTP on a loopback port, a host agent on a real codex app-server,
 * and the fake model. Sessions are spawned through the command path (the built CLI); their model then calls
 * the `openclaw-codex-supervisor` tools as function calls, and the next model request shows what Codex got back.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CommandResult } from "../../schemas/commands.js";
import type { FleetEvent } from "../../schemas/fleet.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { STREAM_NAMES, readStream } from "../../services/bus/index.js";
import { newEdgeSecret, spawnMcpConfig, startMcpHttpEdge, type McpHttpEdge } from "../../services/mcp-edge/index.js";
import { startPolicyService, type PolicyService } from "../../services/policy/index.js";
import { listAllSessions } from "../../services/clients/registry-queries.js";
import type { CodexAppServer } from "../support/codex-harness.js";
import {
  functionCallOutputs,
  userTexts,
  type FakeModel,
  type ModelRequest,
  type ScriptedReply,
} from "../support/fake-model.js";
import { startStack, type Stack } from "../support/stack.js";
import { until } from "../support/wait.js";

const HOST = "mcp-host";

let stack: Stack;
let nc: NatsConnection;
let policy: PolicyService;
let model: FakeModel;
let server: CodexAppServer;
let stateDir: string;

const cli = (...args: string[]) => stack.cli(...args);
const json = (out: { stdout: string }) => JSON.parse(out.stdout) as CommandResult & { data?: Record<string, unknown> };

/**
 * The fake model's behaviour: a session whose input holds a user message `[[call <tool> <json args>]]` not yet
 * acted on gets a function call of that `openclaw-codex-supervisor` tool, named the way Codex offered it in the
 * request's `tools` (inside the MCP server's namespace); any other request gets a short text answer. A directive
 * counts as acted on once a request answered with its call finished streaming (a steer may abort one, or land
 * before or after the tool's output in the next request).
 */
const CALL = /\[\[call (\w+) (\{.*\})\]\]/s;
/** Writes the directive that makes a session's model call `tool` with `args`. Pure. */
const call = (tool: string, args: Record<string, unknown>) => `[[call ${tool} ${JSON.stringify(args)}]]`;
/** Appended to a directive: once the call's output is in, the model streams slowly, keeping the turn running (to be steered). */
const THEN_SLOW = "[[then-stream-slowly]]";
/** `<sessionId>\0<directive text>` → index of the request that answered it with the call. */
const actedOn = new Map<string, number>();

/** The namespace Codex put `tool` of the supervisor's MCP server in (e.g. `mcp__openclaw_codex_supervisor`), if offered. */
function offeredNamespace(request: ModelRequest, tool: string): string | undefined {
  const tools = Array.isArray(request.tools) ? (request.tools as Record<string, unknown>[]) : [];
  const ns = tools.find(
    (t) =>
      t.type === "namespace" &&
      typeof t.name === "string" &&
      t.name.includes("openclaw") &&
      Array.isArray(t.tools) &&
      (t.tools as Record<string, unknown>[]).some((x) => x.name === tool),
  );
  return ns?.name as string | undefined;
}

function toolDirectives(r: ModelRequest): ScriptedReply {
  const done: ScriptedReply = { kind: "text", text: "Done for now." };
  const index = model.requests.indexOf(r);
  const pending = userTexts(r).filter((t) => {
    const at = actedOn.get(`${String(r.prompt_cache_key)}\0${t}`);
    return CALL.test(t) && (at === undefined || model.abortedIndexes.includes(at));
  });
  const text = pending.at(-1);
  if (text === undefined) {
    const lastDirective = userTexts(r)
      .filter((t) => CALL.test(t))
      .at(-1);
    const afterOutput = (r.input as Record<string, unknown>[]).at(-1)?.type === "function_call_output";
    return afterOutput && lastDirective?.endsWith(THEN_SLOW)
      ? { kind: "slow", text: "still working on it", chunks: 40, delayMs: 250 }
      : done;
  }
  const m = CALL.exec(text)!;
  const namespace = offeredNamespace(r, m[1]!);
  if (!namespace) return { kind: "text", text: `no MCP tool ${m[1]} was offered` };
  actedOn.set(`${String(r.prompt_cache_key)}\0${text}`, index);
  return { kind: "functionCall", name: m[1]!, namespace, arguments: m[2]! };
}

/** The model requests Codex sent for one session (its thread id is the request's `prompt_cache_key`). */
const requestsOf = (sessionId: string) => model.requests.filter((r) => r.prompt_cache_key === sessionId);
/** The call ids of the tool outputs in a request. */
const callIds = (r: ModelRequest) => new Set(functionCallOutputs(r).map((o) => o.callId));
/**
 * What the session's next tool call answered, as one string: the first tool output, in a request for the
 * session from index `after` on, whose call no earlier request of that session carried.
 */
async function nextToolOutput(sessionId: string, after: number, timeoutMs = 30_000): Promise<string> {
  const seen = new Set(
    model.requests
      .slice(0, after)
      .filter((r) => r.prompt_cache_key === sessionId)
      .flatMap((r) => [...callIds(r)]),
  );
  const isNew = (o: { callId: string }) => !seen.has(o.callId);
  const r = await model
    .waitForRequest(
      (x, i) => i >= after && x.prompt_cache_key === sessionId && functionCallOutputs(x).some(isNew),
      timeoutMs,
    )
    .catch((e: Error) => {
      throw new Error(`${e.message}: no new tool output for ${sessionId} from request ${after}\n${trace()}`);
    });
  return JSON.stringify(functionCallOutputs(r).find(isNew)!.output);
}
/** One line per model request (session, then its newest input items), to explain a failed wait. */
const trace = () =>
  model.requests
    .map(
      (r, i) =>
        `${i} ${String(r.prompt_cache_key)} ${(r.input as unknown[])
          .slice(-2)
          .map((x) => JSON.stringify(x).slice(0, 300))
          .join(" | ")}`,
    )
    .join("\n");

/** True once the session's model has been sent a user message starting with `text` (from request `after` on). */
const sawUserText = (sessionId: string, text: string, after: number) =>
  model
    .waitForRequest(
      (r, i) => i >= after && r.prompt_cache_key === sessionId && userTexts(r).some((t) => t.startsWith(text)),
      30_000,
    )
    .catch((e: Error) => {
      throw new Error(`${e.message}: ${sessionId} was not sent '${text}' from request ${after}\n${trace()}`);
    });

const session = async (id: string, pred: (s: SessionRecord) => boolean = () => true) => {
  const s = (await listAllSessions(nc, { host: HOST })).sessions.find((x) => x.sessionId === id);
  return s && pred(s) ? s : undefined;
};
const idle = (id: string) =>
  until(`session ${id} idle`, () => session(id, (x) => x.status === "idle" && x.activeTurnId === null));

/** Every record of a stream, parsed. */
async function records<T>(stream: string): Promise<T[]> {
  const out: T[] = [];
  for await (const m of readStream(nc, stream)) out.push(JSON.parse(new TextDecoder().decode(m.data)) as T);
  return out;
}
/** The approval requests the host agent answered for a session (none may arise for the edge's tools). */
const approvalsOf = async (sessionId: string) =>
  (await records<{ threadId: string; type: string; payload: unknown }>(STREAM_NAMES.events)).filter(
    (e) => e.threadId === sessionId && e.type === "agent/approval",
  );

/** Spawns a task through the command path, as the CLI does; resolves with the new session's id. */
async function spawnTask(task: string): Promise<string> {
  const spawned = await cli("spawn", task, "--cwd", server.workspace, "--host", HOST, "--json");
  expect(spawned.code, spawned.stderr).toBe(0);
  return (json(spawned).data as { sessionId: string }).sessionId;
}
/** Starts a turn in `sessionId` with `text`, as an operator's `send`; resolves once the session is idle again. */
async function operatorSend(sessionId: string, text: string): Promise<void> {
  const sent = await cli("send", sessionId, text, "--start", "--json");
  expect(sent.code, sent.stderr).toBe(0);
}

/** Writes a policy document (the one in force plus `change`) and sets it with the CLI; waits until it applies. */
async function setPolicy(
  change: (doc: Record<string, unknown> & { rules: unknown[] }) => Record<string, unknown>,
): Promise<void> {
  const before = policy.policyRevision() ?? 0;
  const doc = (
    JSON.parse((await cli("policy", "get", "--json")).stdout).data as {
      inForce: { document: Record<string, unknown> & { rules: unknown[] } };
    }
  ).inForce.document;
  const file = path.join(stateDir, `policy-${before + 1}.json`);
  writeFileSync(file, JSON.stringify(change(doc)));
  const set = await cli("policy", "set", file);
  expect(set.code, set.stderr).toBe(0);
  await until("the policy applied", () => (policy.policyRevision() ?? 0) > before);
}

beforeAll(async () => {
  stack = await startStack({ hostId: HOST, model: { route: toolDirectives } });
  ({ nc, model, server, stateDir } = stack);
  const secret = newEdgeSecret();
  const edge: McpHttpEdge = await startMcpHttpEdge({ nc, secret, port: 0, logger: stack.quiet });
  stack.defer(() => edge.stop());
  policy = await startPolicyService({ nc, logger: stack.quiet, spawnConfig: spawnMcpConfig(edge.url, secret) });
  stack.defer(() => policy?.stop());
  await stack.startAgent();
  await stack.hostOnline(30_000);
}, 60_000);

afterAll(() => stack?.stop());

describe("a spawned session's model calls the openclaw-codex-supervisor tools", () => {
  let peer: string;
  let asker: string;

  beforeAll(async () => {
    peer = await spawnTask("stand by as the peer session");
    await idle(peer);
  });

  it("codex_sessions_list: the next model request carries the tool's output listing the peer session", async () => {
    const from = model.requests.length;
    asker = await spawnTask(call("codex_sessions_list", {}));
    const output = JSON.parse(await nextToolOutput(asker, from)) as string;
    const listed = JSON.parse(/\{.*\}/s.exec(output)![0]) as {
      sessions: { sessionId: string; self: boolean; autonomous: boolean }[];
    };
    expect(listed.sessions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ sessionId: peer, self: false, autonomous: true }),
        expect.objectContaining({ sessionId: asker, self: true }),
      ]),
    );
    // The tool ran without an approval prompt: the host agent, which declines every one on an autonomous session, saw none.
    expect(await approvalsOf(asker)).toEqual([]);
    await idle(asker);
  });

  it("claw_report_progress: the registry then shows the session's summary and progress", async () => {
    const from = model.requests.length;
    await operatorSend(
      asker,
      call("claw_report_progress", { summary: "parser done, tests next", percent: 40, step: "tests" }),
    );
    expect(await nextToolOutput(asker, from)).toContain('\\"recorded\\":true');
    const s = await until("the progress in the registry", () =>
      session(asker, (x) => x.summary === "parser done, tests next"),
    );
    expect(s.progress).toMatchObject({ percent: 40, step: "tests" });
    await idle(asker);
  });

  it("claw_ask: FLEET announces the question with its correlation id, and reply starts a turn in the asking session carrying the answer", async () => {
    const from = model.requests.length;
    await operatorSend(
      asker,
      call("claw_ask", { question: "which database should the migration target?", kind: "decision" }),
    );
    const output = await nextToolOutput(asker, from);
    const correlationId = /ask-[A-Za-z0-9-]+/.exec(output)?.[0];
    expect(correlationId, output).toBeDefined();
    const notice = await until("the session-ask notice on FLEET", async () =>
      (await records<FleetEvent>(STREAM_NAMES.fleet)).find(
        (n) => n.kind === "session-ask" && n.sessionId === asker && n.session?.ask?.correlationId === correlationId,
      ),
    );
    expect(notice.session?.ask).toMatchObject({
      question: "which database should the migration target?",
      kind: "decision",
    });
    await idle(asker);

    // A correlation id that is not the session's unanswered ask: not_found (exit 4), nothing sent, no turn.
    const before = model.requests.length;
    const wrong = await cli("reply", asker, "an answer to nothing", "--correlation", "ask-nonexistent", "--json");
    expect(wrong.code, wrong.stdout + wrong.stderr).toBe(4);
    expect(json(wrong)).toMatchObject({ ok: false, code: "not_found" });
    expect((json(wrong) as { message: string }).message).toContain(correlationId!);
    expect((await session(asker))?.ask?.correlationId).toBe(correlationId);

    const answered = model.requests.length;
    const reply = await cli("reply", asker, "use the staging database", "--correlation", correlationId!, "--json");
    expect(reply.code, reply.stderr).toBe(0);
    expect(json(reply)).toMatchObject({ ok: true, data: { action: "started", correlationId, askCleared: true } });
    expect(userTexts(await sawUserText(asker, "use the staging database", answered)).at(-1)).toBe(
      "use the staging database",
    );
    await idle(asker);
    // Answered, the ask clears from the view (and `sessions --json`); replying to it again is not_found.
    await until("the ask cleared", () => session(asker, (x) => x.ask === null));
    const listed = await cli("sessions", "--json");
    const rows = JSON.parse(listed.stdout) as
      | SessionRecord[]
      | { data: SessionRecord[] | { sessions: SessionRecord[] } };
    const all = Array.isArray(rows) ? rows : Array.isArray(rows.data) ? rows.data : rows.data.sessions;
    expect(all.find((x) => x.sessionId === asker)?.ask).toBeNull();
    const again = await cli("reply", asker, "again", "--correlation", correlationId!, "--json");
    expect(again.code).toBe(4);
    expect(model.requests.slice(before).some((r) => userTexts(r).some((t) => t.includes("an answer to nothing")))).toBe(
      false,
    );
    expect(model.requests.slice(before).some((r) => userTexts(r).some((t) => t === "again"))).toBe(false);
  });

  describe("codex_session_send between peers", () => {
    it("is refused by default and the peer never sees the text; a destructive tool is not stopped by an approval prompt either", async () => {
      const from = model.requests.length;
      await operatorSend(asker, call("codex_session_send", { sessionId: peer, text: "refused-by-default text" }));
      const output = await nextToolOutput(asker, from);
      expect(output).toMatch(/denied/);
      expect(output).toMatch(/policy/i);
      await idle(asker);
      const interruptFrom = model.requests.length;
      await operatorSend(asker, call("codex_session_interrupt", { sessionId: peer }));
      const interrupted = await nextToolOutput(asker, interruptFrom);
      // The edge's policy answer, not Codex's "user rejected MCP tool call" after a declined approval.
      expect(interrupted).toMatch(/denied/);
      expect(interrupted).not.toMatch(/rejected/);
      await idle(asker);
      expect(await approvalsOf(asker)).toEqual([]);
      expect(requestsOf(peer).some((r) => userTexts(r).some((t) => t.includes("refused-by-default text")))).toBe(false);
    });

    it("with a policy allowing it, reaches the peer with originSessionId in AUDIT; answering back and forth stops at the hop bound", async () => {
      await setPolicy((doc) => ({
        ...doc,
        rules: [...doc.rules, { id: "sessions-send", role: "session", allow: ["send"] }],
        loops: { maxHops: 2, cycleWindowMs: 0 },
      }));
      // asker → peer (hop 1) carries peer → asker (hop 2), which carries asker → peer (hop 3): over maxHops 2.
      // The asker's turn keeps running after its send, so the peer's answer steers it (a send never turns a
      // steer that finds its turn just ended into a new turn: it would be a conflict and end the exchange).
      const third = call("codex_session_send", { sessionId: peer, text: "third hop text" });
      const second = call("codex_session_send", { sessionId: asker, text: `second hop text ${third}` });
      const first = call("codex_session_send", { sessionId: peer, text: `first hop text ${second}` });
      const from = model.requests.length;
      await operatorSend(asker, `${first} ${THEN_SLOW}`);
      expect(await nextToolOutput(asker, from)).toMatch(/started|steered/);
      await sawUserText(peer, "first hop text", from);
      expect(await nextToolOutput(peer, from)).toMatch(/steered/);
      const reached = await sawUserText(asker, "second hop text", from);
      const refused = await nextToolOutput(asker, model.requests.indexOf(reached) + 1);
      expect(refused).toMatch(
        /denied: loop prevention \(hops\): the message has travelled 3 agent hops, more than the policy's maxHops of 2/,
      );
      await idle(asker);
      await idle(peer);
      expect(
        model.requests.some(
          (r) => r.prompt_cache_key === peer && userTexts(r).some((t) => t.startsWith("third hop text")),
        ),
      ).toBe(false);

      type Audit = {
        kind: string;
        verb: string | null;
        caller: { id: string; role: string } | null;
        target: { sessionId: string | null } | null;
        decision: { allow: boolean; reason: string | null } | null;
        detail: { originSessionId?: string | null; hops?: number } | null;
      };
      const audit = (await records<Audit>(STREAM_NAMES.audit)).filter(
        (a) => a.verb === "send" && a.caller?.role === "session",
      );
      const requestsFrom = (id: string) => audit.filter((a) => a.kind === "request" && a.caller?.id === id);
      expect(requestsFrom(asker).map((a) => a.detail?.originSessionId)).toContain(asker);
      expect(requestsFrom(peer).map((a) => a.detail?.originSessionId)).toContain(peer);
      expect(audit.some((a) => a.kind === "execution" && a.caller?.id === asker && a.target?.sessionId === peer)).toBe(
        true,
      );
      expect(
        audit.some((a) => a.kind === "decision" && a.decision?.allow === false && /hops/.test(a.decision.reason ?? "")),
      ).toBe(true);
    });
  });
});
