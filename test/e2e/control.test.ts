/**
 * Control end to end, every part real: nats-server, gateway, registry, policy service, a host agent on a real
 * codex app-server (its socket where the daemon's would be, so `unix://` finds it), a person's TUI started
 * through `claw-supervisor launch` under tmux, and commands sent with the built `claw-supervisor` bin.
 */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { textInput } from "../../schemas/codex/index.js";
import type { CommandResult } from "../../schemas/commands.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { STREAM_NAMES, readStream } from "../../services/bus/index.js";
import { connectCodex, daemonSocketPath, parseEndpoint, type CodexRpcClient } from "../../services/codex-rpc/index.js";
import { startPolicyService, type PolicyService } from "../../services/policy/index.js";
import { listAllSessions } from "../../services/clients/registry-queries.js";
import { TUI_READY, type CodexAppServer } from "../support/codex-harness.js";
import { functionCallOutputs, isTitleRequest, SLOW, userTexts, type FakeModel } from "../support/fake-model.js";
import { startStack, type Stack } from "../support/stack.js";
import type { TmuxSession } from "../support/tmux.js";
import { untilWith } from "../support/wait.js";

const HOST = "ctl-host";
const ANSWER = "Hello from the fake model.";

let stack: Stack;
let nc: NatsConnection;
let policy: PolicyService | undefined;
let model: FakeModel;
let server: CodexAppServer;
let client: CodexRpcClient;
let stateDir: string;
const until = untilWith({ timeoutMs: 20_000 });

const session = async (id: string, pred: (s: SessionRecord) => boolean = () => true) => {
  const s = (await listAllSessions(nc, { host: HOST })).sessions.find((x) => x.sessionId === id);
  return s && pred(s) ? s : undefined;
};

/** Runs the built CLI with the test's environment; resolves with its exit code and output. */
const cli = (...args: string[]) => stack.cli(...args);
/** The approval decisions the host agent recorded for a thread: its agent/approval events in CODEX_EVENTS. */
async function agentDecisions(threadId: string): Promise<{ allow: boolean; reason: string }[]> {
  const out: { allow: boolean; reason: string }[] = [];
  for await (const m of readStream(nc, STREAM_NAMES.events)) {
    const env = JSON.parse(new TextDecoder().decode(m.data)) as {
      threadId: string;
      type: string;
      payload: { allow: boolean; reason: string };
    };
    if (env.threadId === threadId && env.type === "agent/approval") out.push(env.payload);
  }
  return out;
}
const json = (out: { stdout: string }) => JSON.parse(out.stdout) as CommandResult & { data?: Record<string, unknown> };
const turnCount = async (threadId: string) =>
  (await client.request("thread/turns/list", { threadId, limit: 50, itemsView: "notLoaded" })).data.length;

/** `claw-supervisor <words...>` in a private tmux, the way a person on the host runs it. */
async function inTmux(words: string[], name: string): Promise<TmuxSession> {
  const [bin, ...rest] = words;
  expect(bin).toBe("claw-supervisor");
  return stack.tui(rest, name);
}

beforeAll(async () => {
  stack = await startStack({
    hostId: HOST,
    model: {
      route: (r) => {
        const last = userTexts(r).at(-1) ?? "";
        if (functionCallOutputs(r).length > 0) return { kind: "text", text: "The command finished." };
        if (last.includes("run-a-command")) {
          const cmd = /cmd=(\S+)/.exec(last)?.[1]?.replaceAll("_", " ") ?? "echo nothing";
          // Escalation makes even an on-request session ask before running it.
          return {
            kind: "functionCall",
            name: "exec_command",
            arguments: { cmd, sandbox_permissions: "require_escalated", justification: "the test asks for it" },
          };
        }
        return last.includes(SLOW)
          ? { kind: "slow", text: "working on it slowly", chunks: 16, delayMs: 250 }
          : { kind: "text", text: ANSWER };
      },
    },
  });
  ({ nc, model, server, stateDir } = stack);
  policy = await startPolicyService({ nc, logger: stack.quiet });
  stack.defer(() => policy?.stop());
  // Where the daemon's socket would be, as the daemon itself links it: so `unix://` (launch's default) finds this server.
  const daemonSocket = daemonSocketPath(stack.env);
  mkdirSync(path.dirname(daemonSocket), { recursive: true });
  symlinkSync(server.socketPath!, daemonSocket);
  await stack.startAgent({ presencePollMs: 200 });
  client = await connectCodex(parseEndpoint(server.endpoint));
  stack.defer(() => client?.close());
  await client.initialize({ clientInfo: { name: "e2e-observer", version: "0" } });
  await stack.hostOnline();
}, 60_000);

afterAll(() => stack?.stop());

describe("control of a person's TUI session through the policy service", () => {
  let tui: TmuxSession;
  let threadId: string;

  it("send to an idle human-attached session starts a turn the TUI shows with its answer", async () => {
    tui = await inTmux(["claw-supervisor", "launch", "--cd", server.workspace], "tui");
    await tui.waitForScreen(TUI_READY, 30_000);
    const s = await until("the TUI's session, human-attached and idle", async () =>
      (await listAllSessions(nc, { host: HOST, humanAttached: true })).sessions.find((x) => x.status === "idle"),
    );
    threadId = s.sessionId;
    const sent = await cli("send", `${HOST}/${threadId}`, "hello from the operator", "--json");
    expect(sent.code, sent.stderr).toBe(0);
    expect(json(sent)).toMatchObject({ ok: true, data: { action: "started" } });
    const screen = await tui.waitForScreen(
      new RegExp(`hello from the operator[\\s\\S]*${ANSWER.replace(".", "\\.")}`),
      20_000,
    );
    expect(screen).toContain("hello from the operator");
    await until("the session idle again", () =>
      session(threadId, (x) => x.status === "idle" && x.activeTurnId === null),
    );
  });

  it("send during a slow turn steers it: the TUI and the model's next request show the text", async () => {
    const started = await cli("send", threadId, `think slowly ${SLOW}`, "--start", "--json");
    expect(json(started)).toMatchObject({ ok: true, data: { action: "started" } });
    const turnId = (json(started).data as { turnId: string }).turnId;
    await until("the slow turn active in the registry", () => session(threadId, (x) => x.activeTurnId === turnId));
    const before = await turnCount(threadId);
    // The steered request is slow too, so the turn is still running when it is interrupted.
    const steered = await cli("send", threadId, `steer toward the tests ${SLOW}`, "--json");
    expect(steered.code, steered.stderr).toBe(0);
    expect(json(steered)).toMatchObject({ ok: true, data: { action: "steered", turnId } });
    await model.waitForRequest((r) => userTexts(r).some((t) => t.includes("steer toward the tests")), 15_000);
    await tui.waitForScreen(/steer toward the tests/, 15_000);
    expect(await turnCount(threadId)).toBe(before);

    const interrupted = await cli("interrupt", threadId, "--json");
    expect(json(interrupted)).toMatchObject({ ok: true, data: { turnId } });
    await until("the turn interrupted", async () => {
      const turns = await client.request("thread/turns/list", {
        threadId,
        limit: 1,
        sortDirection: "desc",
        itemsView: "notLoaded",
      });
      return turns.data[0]?.id === turnId && turns.data[0].status === "interrupted";
    });
    await until("the registry sees it interrupted, then idle", () =>
      session(threadId, (x) => x.activeTurnId === null && (x.status === "interrupted" || x.status === "idle")),
    );
  });

  it("a steer against a turn that has just ended is a conflict and starts no turn", async () => {
    const { turn } = await client.request("turn/start", { threadId, input: textInput("a quick one") });
    await until(
      "the quick turn done",
      async () =>
        (
          await client.request("thread/turns/list", {
            threadId,
            limit: 1,
            sortDirection: "desc",
            itemsView: "notLoaded",
          })
        ).data[0]?.status === "completed",
    );
    const before = await turnCount(threadId);
    const requestsBefore = model.requests.length;
    const late = await cli("send", threadId, "too late", "--steer", "--turn", turn.id, "--json");
    expect(late.code).toBe(5);
    expect(json(late)).toMatchObject({ ok: false, code: "conflict" });
    await new Promise((r) => setTimeout(r, 500));
    expect(await turnCount(threadId)).toBe(before);
    expect(model.requests.slice(requestsBefore).some((r) => userTexts(r).some((t) => t.includes("too late")))).toBe(
      false,
    );
  });
});

describe("spawn and attach", () => {
  it("spawns an autonomous task on a chosen host; its attach command, run in tmux, shows its history and marks it human-attached until the TUI exits", async () => {
    const spawned = await cli(
      "spawn",
      "write the release notes for spawn-e2e",
      "--cwd",
      server.workspace,
      "--host",
      HOST,
      "--json",
    );
    expect(spawned.code, spawned.stderr).toBe(0);
    const data = json(spawned).data as { hostId: string; sessionId: string; attachCommand: string };
    expect(data).toMatchObject({ hostId: HOST, attachCommand: `claw-supervisor launch --resume ${data.sessionId}` });
    await until(
      "the spawned session autonomous and idle",
      () => session(data.sessionId, (x) => x.autonomous && !x.humanAttached && x.status === "idle"),
      30_000,
    );

    const attached = await inTmux(data.attachCommand.split(" "), "attach");
    await attached.waitForScreen(/write the release notes for spawn-e2e[\s\S]*Hello from the fake model\./, 30_000);
    await until("humanAttached after attach", () => session(data.sessionId, (x) => x.humanAttached && x.autonomous));
    await attached.sendKeys("/quit");
    await attached.sendEnter();
    await until("humanAttached cleared when the TUI exits", () => session(data.sessionId, (x) => !x.humanAttached));
  });
});

describe("approvals", () => {
  it("a human-attached session's approval is left to the TUI, and answered there", async () => {
    const tui = await inTmux(
      ["claw-supervisor", "launch", "--cd", server.workspace, "--", "-c", 'approval_policy="on-request"'],
      "tui-approve",
    );
    await tui.waitForScreen(TUI_READY, 30_000);
    await tui.sendKeys("please run-a-command cmd=echo_human-approved-it");
    await tui.sendEnter();
    const prompt = await tui
      // The approval prompt itself: from 0.171 the TUI's status line ends with the thread's title (the prompt,
      // "...human-approved-it"), which a looser pattern would take for the prompt's buttons.
      .waitForScreen(/Would you like to run[\s\S]*Yes, proceed/, 20_000)
      .catch(async (e) => {
        throw new Error(`${(e as Error).message}\nscreen:\n${await tui.capture()}`);
      });
    expect(prompt).toMatch(/Yes, proceed/);
    const s = await until("the session waiting on approval in the registry", async () =>
      (await listAllSessions(nc, { host: HOST, humanAttached: true })).sessions.find((x) => x.waitingOn === "approval"),
    );
    await new Promise((r) => setTimeout(r, 500));
    expect(await agentDecisions(s.sessionId)).toEqual([]);
    await tui.sendKeys("y");
    const next = await model.waitForRequest(
      (r) => functionCallOutputs(r).some((o) => JSON.stringify(o.output).includes("human-approved-it")),
      20_000,
    );
    expect(JSON.stringify(functionCallOutputs(next))).not.toMatch(/rejected/i);
    await until("the session idle after the TUI's answer", () => session(s.sessionId, (x) => x.status === "idle"));
    expect(await agentDecisions(s.sessionId)).toEqual([]);
  });

  /** Spawns a task whose model asks to run `cmd`; resolves with what Codex told the model about it. */
  async function spawnRunning(cmd: string): Promise<{ sessionId: string; output: string }> {
    const spawned = await cli(
      "spawn",
      `please run-a-command cmd=${cmd.replaceAll(" ", "_")}`,
      "--cwd",
      server.workspace,
      "--host",
      HOST,
      "--json",
    );
    expect(spawned.code, spawned.stderr).toBe(0);
    const sessionId = (json(spawned).data as { sessionId: string }).sessionId;
    const next = await model.waitForRequest(
      (r) => functionCallOutputs(r).length > 0 && JSON.stringify(r).includes(cmd),
      30_000,
    );
    return { sessionId, output: JSON.stringify(functionCallOutputs(next)) };
  }

  it("an autonomous session's command is denied by default, and runs once a policy rule allows it", async () => {
    const denied = await spawnRunning("echo policy-blocked-1");
    expect(denied.output).toMatch(/rejected/i);
    expect(denied.output).not.toContain("policy-blocked-1\\n");
    expect(
      await until("the denial recorded as an agent/approval event", async () =>
        (await agentDecisions(denied.sessionId)).length ? agentDecisions(denied.sessionId) : undefined,
      ),
    ).toMatchObject([{ allow: false }]);

    const doc = (
      JSON.parse((await cli("policy", "get", "--json")).stdout).data as {
        inForce: { document: Record<string, unknown> };
      }
    ).inForce.document;
    const policyFile = path.join(stateDir, "policy.json");
    writeFileSync(
      policyFile,
      JSON.stringify({
        ...doc,
        approvals: [{ id: "echo-ok", target: { host: HOST }, allow: { commandPrefixes: ["echo policy-allowed"] } }],
      }),
    );
    const set = await cli("policy", "set", policyFile);
    expect(set.code, set.stderr).toBe(0);
    await until("the policy applied", () => policy!.policyRevision() !== null);
    const allowed = await spawnRunning("echo policy-allowed 2");
    expect(allowed.output).toContain("policy-allowed 2");
    expect(allowed.output).not.toMatch(/rejected/i);
    expect(
      await until("the acceptance recorded", async () =>
        (await agentDecisions(allowed.sessionId)).length ? agentDecisions(allowed.sessionId) : undefined,
      ),
    ).toMatchObject([{ allow: true }]);
  });
});

describe("mark, assign and handoff", () => {
  it("are recorded in the session's event log: the registry shows them and FLEET announces the handoff", async () => {
    const s = await until(
      "a session to annotate",
      async () => (await listAllSessions(nc, { host: HOST, autonomous: true })).sessions[0],
    );
    const marked = await cli("mark", s.sessionId, "blocked", "--json");
    expect(marked.code, marked.stderr).toBe(0);
    expect((await cli("assign", s.sessionId, "--group", "release", "--owner", "erin")).code).toBe(0);
    const handed = await cli("handoff", s.sessionId, "--to-human", "--who", "dana", "--note", "needs a product call");
    expect(handed.code, handed.stderr).toBe(0);
    expect(handed.stdout).toContain(`claw-supervisor launch --resume ${s.sessionId}`);
    const record = await until("the registry shows the mark, group, owner and handoff", () =>
      session(
        s.sessionId,
        (x) => x.disposition === "blocked" && x.group === "release" && x.owner === "erin" && x.handoff !== null,
      ),
    );
    expect(record.handoff).toMatchObject({
      to: { kind: "human", who: "dana" },
      note: "needs a product call",
      by: expect.stringMatching(/^operator:erin@/),
    });
    const notices: { kind: string; priority: string; sessionId: string | null }[] = [];
    for await (const m of readStream(nc, STREAM_NAMES.fleet))
      notices.push(JSON.parse(new TextDecoder().decode(m.data)));
    const mine = notices.filter((n) => n.sessionId === s.sessionId).map((n) => `${n.kind}:${n.priority}`);
    expect(mine).toEqual(
      expect.arrayContaining(["session-marked:normal", "session-assigned:normal", "session-handoff:high"]),
    );
    expect((await cli("sessions", "--json")).stdout).toContain('"owner": "erin"');
  });
});

describe("refusals run nothing, and everything is in the audit trail", () => {
  let target: string;
  /** Model requests carrying `text` at all (any is too many for a refused command). */
  const sawText = (text: string) => model.requests.filter((r) => userTexts(r).some((t) => t.includes(text))).length;
  /** Model requests whose newest user message is `text`: one per turn that text started. */
  const turnsFor = (text: string) =>
    model.requests.filter((r) => !isTitleRequest(r) && userTexts(r).at(-1)?.includes(text)).length;

  /** A command as another caller sends it (the CLI only sends as an operator). */
  async function ask(
    verb: string,
    args: unknown,
    caller: { id: string; role: string },
    extra: Record<string, unknown> = {},
  ): Promise<CommandResult> {
    const body = { verb, caller, idempotencyKey: `e2e-${Math.random().toString(36).slice(2)}`, args, ...extra };
    return (await nc.request(`codex.cmd.${verb}`, JSON.stringify(body), { timeout: 20_000 })).json();
  }

  beforeAll(async () => {
    target = (
      await until(
        "an idle session",
        async () => (await listAllSessions(nc, { host: HOST, status: "idle", autonomous: false })).sessions[0],
      )
    ).sessionId;
    const doc = (
      JSON.parse((await cli("policy", "get", "--json")).stdout).data as { inForce: { document: { rules: unknown[] } } }
    ).inForce.document;
    const file = path.join(stateDir, "policy-loops.json");
    writeFileSync(
      file,
      JSON.stringify({
        ...doc,
        rules: [...doc.rules, { id: "sessions-send", role: "session", allow: ["send"] }],
        rateLimits: { perCaller: { burst: 50, perSecond: 50 }, perTarget: { burst: 3, perSecond: 0.01 } },
      }),
    );
    expect((await cli("policy", "set", file)).code).toBe(0);
    await until("the loop policy applied", () => policy!.policyRevision() !== null && policy!.policyRevision()! >= 2);
  });

  it("denies what policy does not grant (a host's caller), loops (self-echo, hops, A→B→A) and over-bound broadcasts, and the model never sees them", async () => {
    expect(
      await ask(
        "send",
        { target: { sessionId: target }, text: "from a host: denied-text" },
        { id: HOST, role: "host" },
      ),
    ).toMatchObject({ ok: false, code: "denied" });
    expect(
      await ask("send", { target: { sessionId: target }, text: "echo-text" }, { id: target, role: "session" }),
    ).toMatchObject({ ok: false, code: "denied", message: expect.stringMatching(/self_echo/) });
    expect(
      await ask(
        "send",
        { target: { sessionId: target }, text: "hops-text" },
        { id: "claw", role: "claw" },
        { originSessionId: "someone", hops: 9 },
      ),
    ).toMatchObject({ ok: false, code: "denied", message: expect.stringMatching(/hops/) });
    const broadcast = await cli("broadcast", "broadcast-text", "--host", HOST, "--max", "1", "--json");
    expect(broadcast.code).toBe(3);
    expect(json(broadcast)).toMatchObject({
      ok: false,
      code: "denied",
      message: expect.stringMatching(/over the bound of 1/),
    });
    await new Promise((r) => setTimeout(r, 300));
    for (const t of ["denied-text", "echo-text", "hops-text", "broadcast-text"]) expect(sawText(t)).toBe(0);
  });

  it("refuses B→A right after A→B between two sessions", async () => {
    const other = (
      await until("a second session", async () =>
        (await listAllSessions(nc, { host: HOST, status: "idle" })).sessions.find((s) => s.sessionId !== target),
      )
    ).sessionId;
    expect(
      await ask("send", { target: { sessionId: other }, text: "a-to-b" }, { id: target, role: "session" }),
    ).toMatchObject({ ok: true });
    await until("the other session idle again", () => session(other, (x) => x.status === "idle"));
    expect(
      await ask("send", { target: { sessionId: target }, text: "b-to-a" }, { id: other, role: "session" }),
    ).toMatchObject({ ok: false, code: "denied", message: expect.stringMatching(/cycle/) });
    expect(sawText("b-to-a")).toBe(0);
  });

  it("runs a repeated idempotency key once, and rate-limits a target past its bucket", async () => {
    const turnsBefore = await turnCount(target);
    const first = await cli("send", target, "once-only-text", "--key", "e2e-same-key-1", "--json");
    const second = await cli("send", target, "once-only-text", "--key", "e2e-same-key-1", "--json");
    expect(json(first)).toMatchObject({ ok: true });
    expect(json(second)).toEqual(json(first));
    await until("the turn done", () => session(target, (x) => x.status === "idle" && x.activeTurnId === null));
    expect(await turnCount(target)).toBe(turnsBefore + 1);
    expect(turnsFor("once-only-text")).toBe(1);
    const limited = [];
    for (let i = 0; i < 4; i++) limited.push(json(await cli("interrupt", target, "--json")));
    expect(limited.map((r) => (r.ok ? "ok" : r.code))).toContain("rate_limited");
  });

  it("with the policy service stopped, no command executes", async () => {
    await policy!.stop();
    policy = undefined;
    const turnsBefore = await turnCount(target);
    const r = await cli("send", target, "nobody-decides-text", "--timeout", "3000");
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/timeout: no policy service is answering.*Nothing was run/);
    await new Promise((res) => setTimeout(res, 500));
    expect(await turnCount(target)).toBe(turnsBefore);
    expect(sawText("nobody-decides-text")).toBe(0);
    policy = await startPolicyService({ nc, logger: pino({ level: "silent" }) });
  });

  it("leaves request, decision and result records in AUDIT for each case, and the replay of CODEX_EVENTS equals the live registry", async () => {
    const records = JSON.parse((await cli("audit", "--limit", "1000", "--json")).stdout).data as {
      kind: string;
      caller: { id: string; role: string } | null;
      decision: { allow: boolean; code: string | null; reason: string | null } | null;
      outcome: { ok: boolean; code: string | null } | null;
      verb: string | null;
    }[];
    const refusals = records
      .filter((r) => r.kind === "decision" && r.decision && !r.decision.allow)
      .map((r) => r.decision!.reason ?? "");
    expect(refusals.some((r) => /no policy rule lets role 'host'/.test(r))).toBe(true);
    for (const kind of [/self_echo/, /hops/, /cycle/, /broadcast bound/])
      expect(
        refusals.some((r) => kind.test(r)),
        String(kind),
      ).toBe(true);
    expect(records.some((r) => r.kind === "decision" && r.decision?.code === "rate_limited")).toBe(true);
    const spawns = records.filter((r) => r.verb === "spawn" && r.kind === "execution");
    expect(spawns.length).toBeGreaterThanOrEqual(3);
    expect(records.filter((r) => r.kind === "request").length).toBe(records.filter((r) => r.kind === "result").length);
    const replay = await cli("audit", "replay", "--host", HOST);
    expect(replay.code, replay.stdout).toBe(0);
    expect(replay.stdout).toMatch(/equals the live registry/);
  });
});
