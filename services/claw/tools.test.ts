/**
 * The fleet tools on the real command path: a real nats-server, registry, gateway and policy service with a
 * scripted host agent (services/policy/test-policy.ts). Each tool's success and an error path; every command
 * is sent with caller role `claw`.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { subjects } from "../bus/index.js";
import { oneTurnRead, usePolicyRig } from "../policy/test-policy.js";
import { clawCaller } from "./claw-caller.js";
import { fleetTools, type FleetTool } from "./tools.js";

const rig = usePolicyRig();
let tools: Map<string, FleetTool>;
const run = (name: string, params: Record<string, unknown>) =>
  tools
    .get(name)!
    .execute("call", params)
    .then((r) => r.details);

beforeAll(async () => {
  await rig.session("s1", { repo: "claw" });
  await rig.session("s2", { repo: "other" });
  rig.answer = (req) => {
    if (req.op === "send") return { ok: true, data: { action: "started", turnId: "turn-1" } };
    if (req.op === "read") return oneTurnRead([{ role: "agent", text: "done" }], []);
    if (req.op === "interrupt")
      return req.threadId === "s2"
        ? { ok: false, code: "conflict", message: "no turn is running", retryable: false }
        : { ok: true, data: { turnId: "turn-1" } };
    if (req.op === "spawn") return { ok: true, data: { threadId: "s-new", turnId: "turn-9" } };
    if (req.op === "approve")
      return req.requestId === "answered-already"
        ? { ok: false, code: "conflict", message: "approval answered-already was already accepted", retryable: false }
        : {
            ok: true,
            data: { requestId: req.requestId ?? "7", decision: req.decision, method: "m", summary: "git push" },
          };
    return { ok: true, data: { recorded: true } };
  };
  const nc = () => rig.bus.nc;
  tools = new Map(
    fleetTools({ caller: clawCaller(nc, "claw-test"), nc, inboxConsumer: "claw-claw-test-inbox" }).map((t) => [
      t.name,
      t,
    ]),
  );
}, 60_000);

describe("fleet tools", () => {
  it("fleet_sessions lists and filters, nested under sessions; fleet_hosts lists hosts", async () => {
    const all = await run("fleet_sessions", {});
    expect(Object.keys(all).sort()).toEqual(["hiddenByPolicy", "nextCursor", "sessions"]);
    expect((all.sessions as { sessionId: string }[]).map((s) => s.sessionId).sort()).toEqual(["s1", "s2"]);
    expect(((await run("fleet_sessions", { repo: "claw" })).sessions as unknown[]).length).toBe(1);
    expect((await run("fleet_hosts", {})).hosts).toEqual([expect.objectContaining({ hostId: "h1" })]);
  });

  it("every command goes as the Claw (role claw, its id) and its result is nested", async () => {
    rig.ops.length = 0;
    expect(await run("fleet_send", { sessionId: "h1/s1", text: "hello" })).toEqual({
      sent: { action: "started", turnId: "turn-1" },
    });
    expect(await run("fleet_read", { sessionId: "s1" })).toMatchObject({
      transcript: { turns: [expect.objectContaining({ id: "t1" })] },
    });
    expect(await run("fleet_interrupt", { sessionId: "s1" })).toMatchObject({ interrupted: { turnId: "turn-1" } });
    expect(await run("fleet_mark", { sessionId: "s1", disposition: "done" })).toHaveProperty("marked");
    expect(await run("fleet_assign", { sessionId: "s1", group: "release" })).toHaveProperty("assigned");
    expect(await run("fleet_handoff", { sessionId: "s1", toHuman: "dana", note: "needs a call" })).toHaveProperty(
      "handoff",
    );
    // A reply names the session's pending ask: give s1 one, as the MCP edge's claw_ask records it.
    const ask = { correlationId: "c-1", kind: "decision", question: "ship it?", atMs: Date.now() };
    await rig.events.publish(rig.events.envelope("s1", "agent/annotation", { kind: "ask", ask }));
    // Asked of the registry directly: polling through a tool would spend the Claw's rate limit.
    await expect
      .poll(async () => {
        const r = await rig.bus.nc.request(subjects.registrySessionsGet(), JSON.stringify({ sessionId: "s1" }));
        return (r.json() as { session: { ask: { correlationId: string } | null } }).session.ask?.correlationId;
      })
      .toBe("c-1");
    expect(await run("fleet_reply", { sessionId: "s1", text: "yes", correlationId: "c-1" })).toHaveProperty("replied");
    expect(await run("fleet_broadcast", { repo: "claw", maxTargets: 5, text: "rebase" })).toHaveProperty("broadcast");
    expect(await run("fleet_spawn", { task: "write docs", cwd: "/srv/repo", hostId: "h1" })).toHaveProperty("spawned");
    const audit = await rig.audit();
    const callers = audit
      .filter((r) => r.kind === "request")
      .map((r) => (r as { caller?: { id: string; role: string } }).caller);
    expect(callers.length).toBeGreaterThanOrEqual(9);
    expect(callers.every((c) => c?.role === "claw" && c.id === "claw-test")).toBe(true);
  });

  // On s2: the test above spends s1's per-target rate limit.
  it("fleet_approve answers a held approval as the Claw, and says why it cannot", async () => {
    rig.ops.length = 0;
    expect(await run("fleet_approve", { sessionId: "h1/s2", decision: "accept" })).toEqual({
      approval: { hostId: "h1", sessionId: "s2", requestId: "7", decision: "accept", method: "m", summary: "git push" },
    });
    expect(await run("fleet_approve", { sessionId: "s2", decision: "decline", requestId: "9" })).toMatchObject({
      approval: { requestId: "9", decision: "decline" },
    });
    expect(rig.ops.filter((o) => o.op === "approve")).toEqual([
      { op: "approve", threadId: "s2", decision: "accept", by: { id: "claw-test", role: "claw" } },
      { op: "approve", threadId: "s2", requestId: "9", decision: "decline", by: { id: "claw-test", role: "claw" } },
    ]);
    await expect(
      run("fleet_approve", { sessionId: "s2", decision: "accept", requestId: "answered-already" }),
    ).rejects.toThrow(/approve failed \(conflict\): approval answered-already was already accepted/);
    await expect(run("fleet_approve", { sessionId: "s2", decision: "maybe" })).rejects.toThrow(
      /needs decision accept or decline/,
    );
    await expect(run("fleet_approve", { sessionId: "nope", decision: "accept" })).rejects.toThrow(/not_found/);
    const records = (await rig.audit()).filter((r) => (r as { verb?: string }).verb === "approve");
    expect(records.filter((r) => r.kind === "request").map((r) => (r as { caller?: unknown }).caller)).toContainEqual({
      id: "claw-test",
      role: "claw",
    });
  });

  it("fleet_summarize is bounded and names the group it summarizes", async () => {
    const s = await run("fleet_summarize", { repo: "claw", maxChars: 200 });
    expect((s.summary as string).length).toBeLessThanOrEqual(200);
    expect(s.summary).toMatch(/^Fleet summary \(repo=claw\)\n1 session/);
  });

  it("fleet_budget asks the policy service's budget verb as the Claw, with its group and day", async () => {
    const got = await run("fleet_budget", { group: "app", day: "2026-12-03" }).then(
      (r) => r,
      (err: Error) => err,
    );
    const request = (await rig.audit()).find((r) => r.kind === "request" && (r as { verb?: string }).verb === "budget");
    expect(request).toMatchObject({
      caller: { id: "claw-test", role: "claw" },
      detail: { args: { group: "app", day: "2026-12-03" } },
    });
    // The report comes nested under `budget`; a policy service without the budget verbs yet refuses it as invalid.
    if (got instanceof Error) expect(got.message).toMatch(/budget failed \(invalid\): budget is not built yet/);
    else expect(got).toEqual({ budget: expect.objectContaining({ day: "2026-12-03", limits: expect.any(Array) }) });
  });

  it("errors are thrown with the typed code and what to do next", async () => {
    await expect(run("fleet_send", { sessionId: "nope", text: "x" })).rejects.toThrow(
      /send failed \(not_found\).*fleet_sessions/,
    );
    await expect(run("fleet_interrupt", { sessionId: "s2" })).rejects.toThrow(/conflict.*fleet_read/);
    await expect(run("fleet_broadcast", { text: "x", maxTargets: 5 })).rejects.toThrow(/invalid.*filter/);
    await expect(run("fleet_handoff", { sessionId: "s1" })).rejects.toThrow(/exactly one of toHuman or toSessionId/);
    await expect(run("fleet_assign", { sessionId: "s1" })).rejects.toThrow(/needs a group or an owner/);
    await expect(run("fleet_read", { sessionId: "" })).rejects.toThrow(/sessionId is required/);
  });

  it("fleet_events drains the inbox and acknowledges: a second call does not return the same events", async () => {
    const first = await run("fleet_events", { max: 100 });
    expect(first.taken as number).toBeGreaterThan(0);
    const kinds = (first.events as { kind: string }[]).map((e) => e.kind);
    expect(kinds).toContain("session-new");
    const again = await run("fleet_events", { max: 100 });
    const ids = new Set((first.events as { id: string }[]).map((e) => e.id));
    expect((again.events as { id: string }[]).some((e) => ids.has(e.id))).toBe(false);
  });
});
