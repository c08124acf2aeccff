/**
 * The edge's tools over the SDK's in-memory transport, on the real command path: a real nats-server, registry,
 * gateway and policy service, with a scripted host agent (services/policy/test-policy.ts). Every tool, every
 * policy gate and every error; nothing refused reaches the host.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { DEFAULT_POLICY, type PolicyDocumentInput } from "../../schemas/policy.js";
import { oneTurnRead, usePolicyRig } from "../policy/test-policy.js";
import { edgeClient, textOf } from "./test-edge.js";

const withRules = (
  rules: PolicyDocumentInput["rules"],
  extra: Partial<PolicyDocumentInput> = {},
): PolicyDocumentInput => ({ ...DEFAULT_POLICY, ...extra, rules: [...rules, ...DEFAULT_POLICY.rules] });
const TOOLS = [
  "codex_sessions_list",
  "codex_session_read",
  "codex_session_send",
  "codex_session_interrupt",
  "codex_endpoint_probe",
  "claw_report_progress",
  "claw_ask",
  "codex_spawn",
  "codex_handoff",
];

describe("MCP edge tools", () => {
  const rig = usePolicyRig();
  let a: Awaited<ReturnType<typeof edgeClient>>;
  let b: Awaited<ReturnType<typeof edgeClient>>;

  beforeAll(async () => {
    await rig.session("sa", { repo: "claw" });
    await rig.session("sb", { repo: "claw", activeTurnId: "turn-live", status: { type: "active", activeFlags: [] } });
    rig.answer = (req) => {
      if (req.op === "send")
        return req.expectedTurnId && req.expectedTurnId !== "turn-live"
          ? {
              ok: false,
              code: "conflict",
              message: `expected turn ${req.expectedTurnId} is not running (turn-live is)`,
              retryable: false,
            }
          : { ok: true, data: { action: "started", turnId: "turn-2" } };
      if (req.op === "read")
        return oneTurnRead(
          [
            { role: "user", text: "x".repeat(5_000) },
            { role: "agent", text: "key sk-abcdefghijklmnopqrstuvwxyz0123456789" },
          ],
          [{ type: "agentMessage", text: "raw" }],
        );
      if (req.op === "interrupt") return { ok: true, data: { turnId: "turn-live" } };
      if (req.op === "annotate") return { ok: true, data: { recorded: true } };
      return { ok: true, data: {} };
    };
    a = await edgeClient(rig.bus.nc, "sa");
    b = await edgeClient(rig.bus.nc, "sb");
  }, 60_000);
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });
  beforeEach(async () => {
    rig.ops.length = 0;
  });

  it("lists the nine tools, each with an input and output schema and annotations", async () => {
    const { tools } = await a.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([...TOOLS].sort());
    for (const t of tools) {
      expect(t.description, t.name).toBeTruthy();
      expect(t.outputSchema, t.name).toBeTruthy();
      expect(typeof t.annotations?.readOnlyHint, t.name).toBe("boolean");
      expect(typeof t.annotations?.destructiveHint, t.name).toBe("boolean");
    }
    expect(tools.find((t) => t.name === "codex_sessions_list")!.annotations).toMatchObject({
      readOnlyHint: true,
      idempotentHint: true,
    });
    expect(tools.find((t) => t.name === "codex_session_interrupt")!.annotations).toMatchObject({
      readOnlyHint: false,
      destructiveHint: true,
    });
  });

  it("codex_sessions_list shows the caller's peers and marks itself, as structured content", async () => {
    const r = await a.call("codex_sessions_list", {});
    expect(r.isError).toBeFalsy();
    const sessions = (r.structuredContent as { sessions: { sessionId: string; self: boolean }[] }).sessions;
    expect(sessions.map((s) => [s.sessionId, s.self]).sort()).toEqual([
      ["sa", true],
      ["sb", false],
    ]);
    expect(JSON.parse(textOf(r))).toEqual(r.structuredContent);
    const filtered = await a.call("codex_sessions_list", { status: "active" });
    expect(
      (filtered.structuredContent as { sessions: { sessionId: string }[] }).sessions.map((s) => s.sessionId),
    ).toEqual(["sb"]);
  });

  it("codex_session_read returns a bounded, redacted summary of the caller's own session; raw reads are off by default and the error says so", async () => {
    const r = await a.call("codex_session_read", { sessionId: "sa", limit: 3 });
    expect(r.isError).toBeFalsy();
    const turn = (r.structuredContent as { turns: { messages: { text: string }[]; items?: unknown }[] }).turns[0]!;
    expect(turn.messages[0]!.text).toMatch(/more characters cut\]$/);
    expect(turn.messages[0]!.text.length).toBeLessThan(4_100);
    expect(turn.messages[1]!.text).not.toContain("sk-abcdefghijklmnopqrstuvwxyz");
    expect(turn.items).toBeUndefined();
    expect(rig.ops).toEqual([{ op: "read", threadId: "sa", limit: 3, cursor: null, view: "summary" }]);
    rig.ops.length = 0;
    // Without a session id the tool reads the caller's own.
    const own = await a.call("codex_session_read", {});
    expect(own.isError).toBeFalsy();
    expect(own.structuredContent).toMatchObject({ sessionId: "sa" });
    expect(rig.ops).toEqual([{ op: "read", threadId: "sa", limit: 5, cursor: null, view: "summary" }]);
    rig.ops.length = 0;
    const raw = await a.call("codex_session_read", { sessionId: "sa", raw: true });
    expect(raw.isError).toBe(true);
    expect(textOf(raw)).toMatch(
      /^denied: no policy rule lets role 'session' readRaw .*disabled unless a trusted policy rule enables them/,
    );
    expect(rig.ops).toEqual([]);
  });

  it("by default a session may not read another session's transcript, and the error says what to do", async () => {
    const r = await a.call("codex_session_read", { sessionId: "sb" });
    expect(r.isError).toBe(true);
    expect(textOf(r)).toMatch(
      /^denied: no policy rule lets role 'session' read session sb .*Reading another session's transcript .*disabled unless a trusted policy rule enables them for this session \(you may read your own\)/,
    );
    expect(rig.ops).toEqual([]);
  });

  it("write controls are refused by default with a message that says so, and nothing reaches the host", async () => {
    const calls: [string, Record<string, unknown>][] = [
      ["codex_session_send", { sessionId: "sb", text: "hi peer" }],
      ["codex_session_interrupt", { sessionId: "sb" }],
      ["codex_spawn", { task: "help me", cwd: "/work/sa" }],
      ["codex_handoff", { to: "human", who: "dana", note: "needs a person" }],
    ];
    for (const [name, args] of calls) {
      const r = await a.call(name, args);
      expect(r.isError, name).toBe(true);
      expect(textOf(r), name).toMatch(/^denied: .*disabled unless a trusted policy rule enables them for this session/);
    }
    expect(rig.ops).toEqual([]);
  });

  it("with a policy allowing it, send reaches the peer as the caller, with originSessionId set", async () => {
    await rig.setPolicy(
      withRules([{ id: "peers", role: "session", callerId: "sa", allow: ["send", "interrupt", "handoff", "spawn"] }]),
    );
    const r = await a.call("codex_session_send", { sessionId: "sb", text: "please review the parser" });
    expect(r.isError, textOf(r)).toBeFalsy();
    expect(r.structuredContent).toEqual({ sessionId: "sb", action: "started", turnId: "turn-2" });
    expect(rig.ops).toEqual([{ op: "send", threadId: "sb", text: "please review the parser", mode: "auto" }]);
    const request = (await rig.audit()).filter((x) => x.kind === "request" && x.verb === "send").at(-1)!;
    expect(request.caller).toEqual({ id: "sa", role: "session" });
    expect(request.detail).toMatchObject({ originSessionId: "sa", hops: 1 });
    const intr = await a.call("codex_session_interrupt", { sessionId: "sb" });
    expect(intr.structuredContent).toEqual({ sessionId: "sb", turnId: "turn-live" });
    const hand = await a.call("codex_handoff", { to: "human", who: "dana" });
    expect(hand.structuredContent).toMatchObject({
      sessionId: "sa",
      to: "human:dana",
      attachCommand: "claw-supervisor launch --resume sa",
    });
    expect(rig.ops.at(-1)).toMatchObject({
      op: "annotate",
      threadId: "sa",
      annotation: { kind: "handoff", handoff: { to: { kind: "human", who: "dana" }, by: "session:sa" } },
    });
    // The grant names caller sa: the same tool from sb is still refused.
    const fromB = await b.call("codex_session_send", { sessionId: "sa", text: "not allowed" });
    expect(textOf(fromB)).toMatch(/^denied:/);
  });

  it("peers answering back and forth are stopped by the hop bound", async () => {
    await rig.setPolicy(
      withRules([{ id: "peers", role: "session", allow: ["send"] }], { loops: { maxHops: 3, cycleWindowMs: 0 } }),
    );
    rig.ops.length = 0;
    expect((await a.call("codex_session_send", { sessionId: "sb", text: "ping 1" })).isError).toBeFalsy();
    expect((await b.call("codex_session_send", { sessionId: "sa", text: "pong 2" })).isError).toBeFalsy();
    expect((await a.call("codex_session_send", { sessionId: "sb", text: "ping 3" })).isError).toBeFalsy();
    const fourth = await b.call("codex_session_send", { sessionId: "sa", text: "pong 4" });
    expect(fourth.isError).toBe(true);
    expect(textOf(fourth)).toMatch(
      /^denied: loop prevention \(hops\): the message has travelled 4 agent hops, more than the policy's maxHops of 3/,
    );
    expect(rig.ops.map((o) => (o as { text?: string }).text)).toEqual(["ping 1", "pong 2", "ping 3"]);
  });

  it("claw_report_progress and claw_ask are recorded for the calling session itself", async () => {
    await rig.setPolicy(DEFAULT_POLICY);
    const p = await a.call("claw_report_progress", { summary: "parser done, tests next", percent: 60, step: "tests" });
    expect(p.structuredContent).toEqual({ sessionId: "sa", summary: "parser done, tests next", recorded: true });
    expect(rig.ops).toEqual([
      {
        op: "annotate",
        threadId: "sa",
        annotation: {
          kind: "progress",
          summary: "parser done, tests next",
          progress: { percent: 60, step: "tests", atMs: expect.any(Number) },
        },
      },
    ]);
    const q = await a.call("claw_ask", { question: "which database should the tests use?", kind: "decision" });
    const data = q.structuredContent as { correlationId: string; kind: string };
    expect(data).toMatchObject({
      sessionId: "sa",
      kind: "decision",
      correlationId: expect.stringMatching(/^ask-[0-9a-f]{20}$/),
    });
    expect(rig.ops[1]).toEqual({
      op: "annotate",
      threadId: "sa",
      annotation: {
        kind: "ask",
        ask: {
          correlationId: data.correlationId,
          kind: "decision",
          question: "which database should the tests use?",
          atMs: expect.any(Number),
        },
      },
    });
    // The command path itself refuses a session reporting for another one.
    const other = await rig.command(
      "progress",
      { target: { sessionId: "sb" }, summary: "fake" },
      { role: "session", callerId: "sa" },
    );
    expect(other).toMatchObject({ ok: false, code: "denied", message: expect.stringContaining("only for itself") });
    expect(rig.ops).toHaveLength(2);
  });

  it("codex_endpoint_probe reports the host and the session; default target is the caller", async () => {
    const r = await a.call("codex_endpoint_probe", {});
    expect(r.isError, textOf(r)).toBeFalsy();
    expect(r.structuredContent).toMatchObject({
      hostId: "h1",
      sessionId: "sa",
      hostStatus: "online",
      sessionStatus: "idle",
    });
    const peer = await a.call("codex_endpoint_probe", { sessionId: "sb" });
    expect(peer.structuredContent).toMatchObject({
      sessionId: "sb",
      sessionStatus: "active",
      activeTurnId: "turn-live",
    });
  });

  it("bad input is an isError with a clear message, runs nothing, and the server keeps answering", async () => {
    // No cycle window: the test before had sb message sa, and loop memory (shared by policy instances in KV)
    // outlives a policy change; this test is about bad input, not loops.
    await rig.setPolicy(
      withRules([{ id: "peers", role: "session", allow: ["send", "handoff"] }], {
        loops: { maxHops: 3, cycleWindowMs: 0 },
      }),
    );
    rig.ops.length = 0;
    const cases: [string, Record<string, unknown>, RegExp][] = [
      ["codex_session_send", { sessionId: "sb" }, /text/],
      ["codex_session_send", { sessionId: 42, text: "x" }, /sessionId/],
      ["codex_sessions_list", { limit: "ten" }, /limit/],
      ["codex_session_send", { sessionId: "sb", text: "x".repeat(20_001) }, /text/],
      ["claw_report_progress", { summary: "" }, /summary must not be empty/],
      ["codex_session_read", { sessionId: "sb", bogus: true }, /bogus/],
      ["codex_handoff", { to: "session" }, /needs sessionId/],
      ["codex_spawn", { task: "t", cwd: "relative/dir" }, /cwd must be an absolute path/],
    ];
    for (const [name, args, pattern] of cases) {
      const r = await a.call(name, args);
      expect(r.isError, `${name} ${JSON.stringify(args).slice(0, 60)}`).toBe(true);
      expect(textOf(r)).toMatch(pattern);
    }
    const unknown = await a.call("codex_session_send", { sessionId: "no-such-session", text: "hello?" });
    expect(textOf(unknown)).toMatch(
      /^not_found: no session no-such-session is known to the registry\. Call codex_sessions_list/,
    );
    const stale = await a.call("codex_session_send", {
      sessionId: "sb",
      text: "steer this",
      mode: "steer",
      expectedTurnId: "turn-old",
    });
    expect(stale.isError).toBe(true);
    expect(textOf(stale)).toMatch(
      /^conflict: expected turn turn-old is not running.*read it again with codex_session_read/,
    );
    // The stale steer reached the agent, which refused it without acting; nothing else was sent.
    expect(rig.ops).toEqual([
      { op: "send", threadId: "sb", text: "steer this", mode: "steer", expectedTurnId: "turn-old" },
    ]);
    const after = await a.call("codex_sessions_list", {});
    expect(after.isError).toBeFalsy();
  });
});
