import { jetstreamManager } from "@nats-io/jetstream";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { STREAM_NAMES } from "../bus/index.js";
import { DEFAULT_POLICY, type PolicyDocumentInput } from "../../schemas/policy.js";
import { commandIdOf } from "./ledger.js";
import { type PolicyRig, usePolicyRig } from "./test-policy.js";

const target = (sessionId: string) => ({ sessionId });
/** A command's AUDIT records once `results` result records are in: those after the reply are written a moment later. */
async function recordsOf(rig: PolicyRig, commandId: string, results = 1) {
  const of = async () => (await rig.audit()).filter((r) => r.commandId === commandId);
  await expect.poll(async () => (await of()).filter((r) => r.kind === "result").length).toBe(results);
  return of();
}
const withRules = (extra: Partial<PolicyDocumentInput>): PolicyDocumentInput => ({ ...DEFAULT_POLICY, ...extra });

describe("policy service: every command decided, audited, executed at most once", () => {
  const rig = usePolicyRig();

  beforeAll(async () => {
    for (const s of ["s1", "s2", "s3", "s4"]) await rig.session(s, { repo: s === "s4" ? "other" : "claw" });
  });
  beforeEach(() => {
    rig.ops.length = 0;
  });

  it("sends an operator's text to the session's host and audits request, decision, execution and result", async () => {
    const result = await rig.command("send", { target: target("s1"), text: "run the tests" }, { key: "send-audit-1" });
    expect(result).toEqual({ ok: true, data: { action: "started", turnId: "turn-1" } });
    expect(rig.ops).toEqual([{ op: "send", threadId: "s1", text: "run the tests", mode: "auto" }]);
    const id = commandIdOf({ id: "alice", role: "operator" }, "send-audit-1");
    const records = await recordsOf(rig, id);
    expect(records.map((r) => r.kind)).toEqual(["request", "decision", "execution", "result"]);
    expect(records[1]!.decision).toMatchObject({ allow: true, ruleId: "operator-all" });
    expect(records[2]).toMatchObject({
      target: { hostId: "h1", sessionId: "s1" },
      outcome: { ok: true },
      detail: { op: "send", mode: "auto" },
    });
    expect(records.every((r) => r.caller?.id === "alice" && r.verb === "send")).toBe(true);
  });

  it("executes a repeated idempotency key once and answers the repeat with the first result", async () => {
    const first = await rig.command("send", { target: target("s2"), text: "once" }, { key: "dup-key-1" });
    const second = await rig.command("send", { target: target("s2"), text: "once" }, { key: "dup-key-1" });
    expect(second).toEqual(first);
    expect(rig.ops).toHaveLength(1);
    const id = commandIdOf({ id: "alice", role: "operator" }, "dup-key-1");
    const kinds = (await recordsOf(rig, id, 2)).map((r) => r.kind);
    expect(kinds.filter((k) => k === "execution")).toHaveLength(1);
    expect(kinds.filter((k) => k === "request")).toHaveLength(2);
  });

  it("answers a repeated read key with the first result, recording the repeat's own (early) read as withheld", async () => {
    rig.answer = (req) => ({ ok: true, data: req.op === "read" ? { turns: [{ n: rig.ops.length }] } : {} });
    try {
      const first = await rig.command("read", { target: target("s2") }, { key: "dup-read-1" });
      const second = await rig.command("read", { target: target("s2") }, { key: "dup-read-1" });
      expect(first).toEqual({ ok: true, data: { turns: [{ n: 1 }] } });
      expect(second).toEqual(first);
      // A read changes nothing, so the repeat ran (early) too; its result was withheld, and recorded as such.
      expect(rig.ops.map((o) => o.op)).toEqual(["read", "read"]);
      const id = commandIdOf({ id: "alice", role: "operator" }, "dup-read-1");
      await expect
        .poll(async () => (await rig.audit()).filter((r) => r.commandId === id && r.kind === "execution").length)
        .toBe(2);
      const executions = (await rig.audit()).filter((r) => r.commandId === id && r.kind === "execution");
      expect(executions.map((r) => (r.detail as { resultWithheld?: boolean }).resultWithheld ?? false)).toEqual([
        false,
        true,
      ]);
    } finally {
      rig.answer = (req) => ({ ok: true, data: req.op === "send" ? { action: "started", turnId: "turn-1" } : {} });
    }
  });

  it("asks the host for a read while its records are written, withholding the result when they cannot be stored; a send then runs nothing", async () => {
    const jsm = await jetstreamManager(rig.bus.nc);
    const config = (await jsm.streams.info(STREAM_NAMES.audit)).config;
    await jsm.streams.update(STREAM_NAMES.audit, { ...config, subjects: ["codex.audit-paused.>"] });
    rig.answer = (req) => ({ ok: true, data: req.op === "read" ? { turns: [{ text: "UNAUDITED-TRANSCRIPT" }] } : {} });
    try {
      const read = await rig.command("read", { target: target("s3") });
      expect(read).toMatchObject({
        ok: false,
        code: "timeout",
        message: expect.stringMatching(/could not write the audit record.*the read's result is withheld/),
      });
      expect(JSON.stringify(read)).not.toMatch(/UNAUDITED-TRANSCRIPT/);
      const send = await rig.command("send", { target: target("s3"), text: "unaudited" });
      expect(send).toMatchObject({
        ok: false,
        code: "timeout",
        message: expect.stringMatching(/could not write the audit record.*nothing was run/),
      });
      expect(rig.ops.map((o) => o.op)).toEqual(["read"]);
    } finally {
      rig.answer = (req) => ({ ok: true, data: req.op === "send" ? { action: "started", turnId: "turn-1" } : {} });
      await jsm.streams.update(STREAM_NAMES.audit, config);
    }
  });

  it("denies what no rule grants (a session sending) and runs nothing", async () => {
    const result = await rig.command(
      "send",
      { target: target("s1"), text: "hi" },
      { role: "session", callerId: "s3", key: "deny-key-1" },
    );
    expect(result).toMatchObject({ ok: false, code: "denied", retryable: false });
    expect(result.ok === false && result.message).toMatch(/no policy rule lets role 'session' send/);
    expect(rig.ops).toEqual([]);
    const id = commandIdOf({ id: "s3", role: "session" }, "deny-key-1");
    const records = await recordsOf(rig, id);
    expect(records.map((r) => r.kind)).toEqual(["request", "decision", "result"]);
    expect(records[1]!.decision).toMatchObject({ allow: false, code: "denied" });
  });

  it("releases the idempotency key of a refused command: the same key runs once policy allows it", async () => {
    expect(
      await rig.command(
        "interrupt",
        { target: target("s2") },
        { role: "session", callerId: "s9", key: "retry-after-deny" },
      ),
    ).toMatchObject({ ok: false, code: "denied" });
    await rig.setPolicy(
      withRules({
        rules: [...DEFAULT_POLICY.rules, { id: "s9-interrupt", role: "session", callerId: "s9", allow: ["interrupt"] }],
      }),
    );
    try {
      await expect
        .poll(
          async () =>
            (
              await rig.command(
                "interrupt",
                { target: target("s2") },
                { role: "session", callerId: "s9", key: "retry-after-deny" },
              )
            ).ok,
        )
        .toBe(true);
      expect(rig.ops).toEqual([{ op: "interrupt", threadId: "s2" }]);
      expect(
        await rig.command(
          "interrupt",
          { target: target("s2") },
          { role: "session", callerId: "s9", key: "retry-after-deny" },
        ),
      ).toMatchObject({ ok: true });
      expect(rig.ops).toHaveLength(1);
    } finally {
      await rig.setPolicy(DEFAULT_POLICY);
    }
  });

  it("refuses a raw transcript read by default for a session, and allows the summary read of its own", async () => {
    expect(
      await rig.command("read", { target: target("s1"), view: "raw" }, { role: "session", callerId: "s1" }),
    ).toMatchObject({ ok: false, code: "denied" });
    expect(await rig.command("read", { target: target("s1") }, { role: "session", callerId: "s3" })).toMatchObject({
      ok: false,
      code: "denied",
    });
    expect(await rig.command("read", { target: target("s1") }, { role: "session", callerId: "s1" })).toMatchObject({
      ok: true,
    });
    expect(rig.ops).toEqual([{ op: "read", threadId: "s1", limit: 10, cursor: null, view: "summary" }]);
  });

  it("answers not_found for an unknown session and invalid for bad arguments, running nothing", async () => {
    expect(await rig.command("send", { target: target("nope"), text: "hi" })).toMatchObject({
      ok: false,
      code: "not_found",
    });
    expect(await rig.command("send", { target: target("s1"), text: "" })).toMatchObject({
      ok: false,
      code: "invalid",
      message: expect.stringMatching(/text/),
    });
    expect(await rig.command("send", { target: target("s1"), text: "x", bogus: 1 })).toMatchObject({
      ok: false,
      code: "invalid",
    });
    expect(rig.ops).toEqual([]);
  });

  it("passes the host's typed failure through (a steer that lost its race is a conflict)", async () => {
    rig.answer = () => ({
      ok: false,
      code: "conflict",
      message: "the turn ended; nothing was started",
      retryable: false,
    });
    try {
      expect(await rig.command("send", { target: target("s1"), text: "late", mode: "steer" })).toMatchObject({
        ok: false,
        code: "conflict",
      });
    } finally {
      rig.answer = (req) => ({ ok: true, data: req.op === "send" ? { action: "started", turnId: "turn-1" } : {} });
    }
  });

  describe("loop prevention", () => {
    beforeAll(async () => {
      await rig.setPolicy(
        withRules({
          rules: [...DEFAULT_POLICY.rules, { id: "sessions-send", role: "session", allow: ["send"] }],
          loops: { maxHops: 2, cycleWindowMs: 60_000 },
        }),
      );
    });
    afterAll(async () => {
      await rig.setPolicy(DEFAULT_POLICY);
    });

    it("drops a session's message to itself (self-echo)", async () => {
      const r = await rig.command("send", { target: target("s1"), text: "echo" }, { role: "session", callerId: "s1" });
      expect(r).toMatchObject({ ok: false, code: "denied", message: expect.stringMatching(/self_echo/) });
      expect(rig.ops).toEqual([]);
    });

    it("refuses a message over the hop bound", async () => {
      const r = await rig.command(
        "send",
        { target: target("s2"), text: "relay" },
        { role: "claw", callerId: "claw-1", originSessionId: "s1", hops: 3 },
      );
      expect(r).toMatchObject({ ok: false, code: "denied", message: expect.stringMatching(/hops/) });
      expect(rig.ops).toEqual([]);
    });

    it("refuses B→A right after A→B (a cycle inside the window)", async () => {
      expect(
        await rig.command("send", { target: target("s3"), text: "ask" }, { role: "session", callerId: "s2" }),
      ).toMatchObject({ ok: true });
      const back = await rig.command(
        "send",
        { target: target("s2"), text: "answer" },
        { role: "session", callerId: "s3" },
      );
      expect(back).toMatchObject({ ok: false, code: "denied", message: expect.stringMatching(/cycle/) });
      expect(rig.ops).toHaveLength(1);
    });
  });

  it("rate-limits a target past its bucket, with when to retry", async () => {
    await rig.setPolicy(
      withRules({
        rateLimits: { perCaller: { burst: 100, perSecond: 100 }, perTarget: { burst: 2, perSecond: 0.01 } },
      }),
    );
    try {
      const results = [];
      for (let i = 0; i < 3; i++) results.push(await rig.command("interrupt", { target: target("s4") }));
      expect(results.map((r) => (r.ok ? "ok" : r.code))).toEqual(["ok", "ok", "rate_limited"]);
      expect(results[2]).toMatchObject({ retryable: true, message: expect.stringMatching(/retry in \d+ ms/) });
      expect(rig.ops).toHaveLength(2);
    } finally {
      await rig.setPolicy(DEFAULT_POLICY);
    }
  });

  it("refuses a broadcast whose filter matches more sessions than its bound, sending nothing", async () => {
    const r = await rig.command("broadcast", { filter: { repo: "claw" }, maxTargets: 2, text: "stand up" });
    expect(r).toMatchObject({
      ok: false,
      code: "denied",
      message: expect.stringMatching(/matches 3 sessions, over the bound of 2/),
    });
    expect(rig.ops).toEqual([]);
  });

  it("broadcasts within the bound, checking each target and listing each result", async () => {
    const r = await rig.command("broadcast", { filter: { repo: "claw" }, maxTargets: 5, text: "stand up" });
    expect(r.ok).toBe(true);
    const data = (
      r as { data: { targets: number; sent: number; results: { sessionId: string; result: { ok: boolean } }[] } }
    ).data;
    expect(data.targets).toBe(3);
    expect(data.results.map((x) => x.sessionId).sort()).toEqual(["s1", "s2", "s3"]);
    expect(rig.ops.map((o) => (o.op === "send" ? o.threadId : o.op)).sort()).toEqual(["s1", "s2", "s3"]);
  });

  it("records mark, assign and handoff through the session's host agent, and checks a handoff's peer", async () => {
    expect(await rig.command("mark", { target: target("s1"), disposition: "done" })).toMatchObject({
      ok: true,
      data: { hostId: "h1", sessionId: "s1", kind: "mark", disposition: "done" },
    });
    expect(await rig.command("assign", { target: target("s1"), group: "release" })).toMatchObject({
      ok: true,
      data: { kind: "assign", group: "release" },
    });
    const handed = await rig.command(
      "handoff",
      { target: target("s1"), to: { kind: "session", sessionId: "s2" }, note: "take the tests" },
      { role: "claw", callerId: "claw-1" },
    );
    expect(handed).toMatchObject({
      ok: true,
      data: {
        attachCommand: "claw-supervisor launch --resume s1",
        handoff: { to: { kind: "session", sessionId: "s2" }, note: "take the tests", by: "claw:claw-1" },
      },
    });
    expect(rig.ops.map((o) => (o.op === "annotate" ? o.annotation.kind : o.op))).toEqual(["mark", "assign", "handoff"]);
    expect(
      await rig.command("handoff", { target: target("s1"), to: { kind: "session", sessionId: "ghost" } }),
    ).toMatchObject({ ok: false, code: "not_found" });
    expect(
      await rig.command("handoff", { target: target("s1"), to: { kind: "session", sessionId: "s1" } }),
    ).toMatchObject({ ok: false, code: "invalid" });
    expect(
      await rig.command("mark", { target: target("s1"), disposition: "done" }, { role: "session", callerId: "s3" }),
    ).toMatchObject({ ok: false, code: "denied" });
    expect(rig.ops).toHaveLength(3);
  });

  it("lists only the sessions the caller may see, and refuses a caller no rule lets list", async () => {
    const all = await rig.command("list", { filter: { host: "h1" } });
    expect(all).toMatchObject({ ok: true, data: { hidden: 0 } });
    expect(
      (all as { data: { sessions: { sessionId: string }[] } }).data.sessions.map((s) => s.sessionId).sort(),
    ).toEqual(["s1", "s2", "s3", "s4"]);
    await rig.setPolicy(
      withRules({
        rules: [
          ...DEFAULT_POLICY.rules.filter((r) => r.role !== "session"),
          { id: "other-repo", role: "session", target: { repo: "other" }, allow: ["list"] },
        ],
      }),
    );
    try {
      const scoped = await rig.command("list", {}, { role: "session", callerId: "s1" });
      expect(scoped).toMatchObject({ ok: true, data: { hidden: 3 } });
      expect((scoped as { data: { sessions: { sessionId: string }[] } }).data.sessions.map((s) => s.sessionId)).toEqual(
        ["s4"],
      );
    } finally {
      await rig.setPolicy(DEFAULT_POLICY);
    }
    expect(await rig.command("list", {}, { role: "host", callerId: "h1" })).toMatchObject({
      ok: false,
      code: "denied",
      message: expect.stringMatching(/list any session/),
    });
    expect(rig.ops).toEqual([]);
  });

  it("redacts secrets in what it answers, even when a host sends them", async () => {
    const secret = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789";
    rig.answer = () => ({
      ok: true,
      data: {
        turns: [
          {
            id: "t",
            status: "completed",
            startedAt: 1,
            completedAt: 2,
            messages: [{ role: "agent", text: `the key is ${secret}` }],
          },
        ],
        nextCursor: null,
      },
    });
    try {
      const r = await rig.command("read", { target: target("s1") });
      expect(JSON.stringify(r)).not.toContain(secret);
      expect(JSON.stringify(r)).toContain("[REDACTED:");
    } finally {
      rig.answer = (req) => ({ ok: true, data: req.op === "send" ? { action: "started", turnId: "turn-1" } : {} });
    }
  });

  it("needs a filter for a broadcast", async () => {
    expect(await rig.command("broadcast", { filter: {}, maxTargets: 5, text: "all" })).toMatchObject({
      ok: false,
      code: "invalid",
      message: expect.stringMatching(/needs a filter/),
    });
  });

  it("refuses an invalid policy document and keeps the one in force", async () => {
    const before = rig.policy!.policyRevision();
    await rig.setPolicy('{"version":1,"rules":[{"role":"root","allow":["everything"]}]}');
    await expect
      .poll(async () => (await rig.audit()).filter((r) => r.kind === "policy" && r.outcome?.ok === false).length)
      .toBeGreaterThan(0);
    expect(rig.policy!.policyRevision()).toBe(before);
    // s3: s1's bucket (burst 10, 2/s) is spent by the commands above; buckets are shared now, and a policy change
    // no longer resets them.
    expect(await rig.command("send", { target: target("s3"), text: "still allowed" })).toMatchObject({ ok: true });
  });

  it("answers host_offline when the host's agent is gone, and runs nothing", async () => {
    // A session no command has used: the others' rate-limit buckets are spent by the tests above.
    await rig.session("s5");
    rig.agent.ws.close(1000, "bye");
    await expect
      .poll(async () => (await rig.command("interrupt", { target: target("s5") })).ok === false && "offline")
      .toBe("offline");
    expect(await rig.command("interrupt", { target: target("s5") })).toMatchObject({ ok: false, code: "host_offline" });
  });

  it("with the policy service stopped, a command gets no answer and nothing runs", async () => {
    await rig.policy!.stop();
    rig.policy = undefined;
    await expect(rig.command("send", { target: target("s1"), text: "anyone?" })).rejects.toThrow(
      /no responders|timeout/i,
    );
    expect(rig.ops).toEqual([]);
  });
});

describe("policy service: a read goes on while its rate-limit tokens are taken", () => {
  const rig = usePolicyRig();

  it("still rate-limits reads: one past its target's bucket is refused without asking the host", async () => {
    await rig.session("r1", { repo: "claw" });
    await rig.setPolicy(
      withRules({
        rateLimits: { perCaller: { burst: 100, perSecond: 100 }, perTarget: { burst: 2, perSecond: 0.01 } },
      }),
    );
    const results = [];
    for (let i = 0; i < 3; i++) results.push(await rig.command("read", { target: target("r1") }));
    expect(results.map((r) => (r.ok ? "ok" : r.code))).toEqual(["ok", "ok", "rate_limited"]);
    // The third was refused from the bucket as this instance knew it: the host never heard of it.
    expect(rig.ops.map((o) => o.op)).toEqual(["read", "read"]);
  });
});
