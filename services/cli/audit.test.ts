import { beforeAll, describe, expect, it } from "vitest";
import type { AuditRecord } from "../../schemas/audit.js";
import { usePolicyRig } from "../policy/test-policy.js";
import { sessionRecord } from "../registry/test-records.js";
import { parseTime, replayDifferences } from "./audit.js";
import { runCliInProcess } from "./test-cli.js";

describe("claw-supervisor audit", () => {
  const rig = usePolicyRig();
  let cut: number;

  const cli = (argv: string[]) => runCliInProcess(argv, { NATS_URL: rig.bus.server.url });

  beforeAll(async () => {
    await rig.session("a1");
    await new Promise((r) => setTimeout(r, 50));
    cut = Date.now();
    await new Promise((r) => setTimeout(r, 50));
    await rig.session("a2");
    await rig.command("send", { target: { sessionId: "a1" }, text: "hello" }, { callerId: "carol" });
    await rig.command("send", { target: { sessionId: "a2" }, text: "hi" }, { role: "session", callerId: "a1" });
  });

  it("lists the records of one session, one caller, one verb, as JSON or lines", async () => {
    const bySession = JSON.parse((await cli(["audit", "--session", "a1", "--json"])).stdout).data as AuditRecord[];
    expect(bySession.map((r) => r.kind)).toEqual(["request", "decision", "execution", "result"]);
    const denied = JSON.parse((await cli(["audit", "--caller", "a1", "--kind", "decision", "--json"])).stdout)
      .data as AuditRecord[];
    expect(denied).toHaveLength(1);
    expect(denied[0]!.decision).toMatchObject({ allow: false, code: "denied" });
    const text = await cli(["audit", "--verb", "send", "--limit", "2"]);
    expect(text.code).toBe(0);
    expect(text.stdout.trim().split("\n")).toHaveLength(2);
    expect(text.stdout).toMatch(/result\s+send\s+session:a1\s+h1\/a2\s+denied: /);
    expect((await cli(["audit", "--since", "1d", "--verb", "interrupt"])).stdout).toBe("no audit records match\n");
  });

  it("refuses an unknown --kind or --verb with exit 2, naming the valid ones", async () => {
    const kind = await cli(["audit", "--kind", "bogus"]);
    expect(kind.code).toBe(2);
    expect(kind.stderr).toContain("--kind: must be one of request, decision, execution, result, policy, admin");
    const verb = await cli(["audit", "--verb", "sned", "--json"]);
    expect(verb.code).toBe(2);
    expect(JSON.parse(verb.stdout)).toMatchObject({
      ok: false,
      code: "usage",
      message: expect.stringContaining("--verb: must be a command verb ("),
    });
  });

  it("replays the event log: equal to the live registry now, and only what was stored before a time", async () => {
    const now = await cli(["audit", "replay"]);
    expect(now).toMatchObject({ code: 0, stdout: expect.stringMatching(/equals the live registry \(2 sessions\)/) });
    const before = JSON.parse((await cli(["audit", "replay", "--until", String(cut), "--json"])).stdout).data as {
      sessions: { sessionId: string }[];
    };
    expect(before.sessions.map((s) => s.sessionId)).toEqual(["a1"]);
  });

  it("names every difference between a replay and the live view", () => {
    const a = sessionRecord({ host: "h", sessionId: "x", status: "idle" });
    expect(replayDifferences([a], [{ ...a, lastSeenAt: 99 }])).toEqual([]);
    expect(replayDifferences([a], [{ ...a, status: "stale" }])).toEqual(['h/x: status replay="idle" live="stale"']);
    expect(replayDifferences([], [a])).toEqual(["h/x: in the live registry, not in the replay"]);
  });

  it("reads times as ISO, unix ms or an age, and refuses anything else", () => {
    expect(parseTime("until", "2026-11-30T10:00:00Z", 0)).toBe(Date.parse("2026-11-30T10:00:00Z"));
    expect(parseTime("until", "1764496800000", 0)).toBe(1764496800000);
    expect(parseTime("since", "15m", 1_000_000)).toBe(100_000);
    expect(() => parseTime("since", "yesterday-ish", 0)).toThrow(/not a time/);
  });
});
