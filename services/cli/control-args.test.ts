/**
 * The operator verbs' argument checks (exit 2 before any bus round trip, nothing audited), their one JSON shape
 * for every outcome, and what they print for a person to act on: a read cursor pasted back through a real bash,
 * a session handoff, an assign denial.
 */
import { execFileSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { usePolicyRig } from "../policy/test-policy.js";
import { runCliInProcess } from "./test-cli.js";

describe("claw-supervisor operator verbs: arguments and output", () => {
  const rig = usePolicyRig();
  let url: string;
  const cli = (argv: string[]) => runCliInProcess(argv, { NATS_URL: url, USER: "bob" });

  beforeAll(async () => {
    url = rig.bus.server.url;
    await rig.session("s1");
    await rig.session("s2");
  });

  it("refuses bad arguments with exit 2 before anything is sent or audited", async () => {
    const opsBefore = rig.ops.length;
    const auditBefore = (await rig.audit()).length;
    const refusals: [string[], string][] = [
      [["read", "s1", "extra"], "read takes one argument, got 2 (extra 'extra')"],
      [["interrupt", "s1", "s2"], "interrupt takes one argument, got 2"],
      [["mark", "s1", "done", "now"], "mark takes 2 arguments, got 3"],
      [["assign", "s1", "s2", "--group", "g"], "assign takes one argument"],
      [["handoff", "s1", "s2", "--to-human"], "handoff takes one argument"],
      [["broadcast", "hello", "--max", "3"], "broadcast needs a filter"],
      [["broadcast", "hello", "--host", "h1"], "broadcast needs --max"],
      [["broadcast", "hello", "--host", "h1", "--max", "101"], "invalid broadcast arguments: maxTargets"],
      [["read", "s1", "--limit", "51"], "--limit: must be at most 50"],
      [["read", "s1", "--limit", "0"], "--limit: must be greater than 0"],
      [["send", "s1", "x", "--turn", ""], "invalid send arguments: expectedTurnId"],
    ];
    for (const [argv, message] of refusals) {
      const r = await cli(argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
      expect(r.stderr).toContain(message);
    }
    expect(rig.ops.length).toBe(opsBefore);
    expect((await rig.audit()).length).toBe(auditBefore);
    expect((await cli(["read", "s1", "--limit", "50", "--json"])).code).toBe(0);
  });

  it("prints a local failure as {ok:false,code:'usage'} with --json, and a typed one as its code, with stderr", async () => {
    const local = await cli(["broadcast", "hello", "--max", "2", "--json"]);
    expect(local.code).toBe(2);
    expect(JSON.parse(local.stdout)).toEqual({ ok: false, code: "usage", message: expect.stringContaining("filter") });
    expect(local.stderr).toMatch(/^claw-supervisor broadcast: broadcast needs a filter/);
    const missing = await cli(["interrupt", "no-such-session", "--json"]);
    expect(missing.code).toBe(4);
    expect(JSON.parse(missing.stdout)).toMatchObject({ ok: false, code: "not_found" });
    expect(missing.stderr).toMatch(/^claw-supervisor interrupt: not_found: /);
    rig.answer = () => ({ ok: false, code: "conflict", message: "no turn is running", retryable: false });
    try {
      const typed = await cli(["send", "h1/s1", "x", "--steer", "--json"]);
      expect(typed.code).toBe(5);
      expect(JSON.parse(typed.stdout)).toEqual({
        ok: false,
        code: "conflict",
        message: "no turn is running",
        retryable: false,
      });
      expect(typed.stderr).toBe("claw-supervisor send: conflict: no turn is running\n");
    } finally {
      rig.answer = (req) => ({ ok: true, data: req.op === "send" ? { action: "started", turnId: "turn-1" } : {} });
    }
  });

  it("prints a success as {ok:true,data} with times as ISO strings", async () => {
    rig.answer = () => ({
      ok: true,
      data: {
        turns: [{ id: "t1", status: "completed", startedAt: 1_800_000_000, completedAt: null, messages: [] }],
        nextCursor: null,
      },
    });
    try {
      const r = await cli(["read", "s1", "--json"]);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({
        ok: true,
        data: {
          turns: [
            { id: "t1", status: "completed", startedAt: "2027-01-15T08:00:00.000Z", completedAt: null, messages: [] },
          ],
          nextCursor: null,
        },
      });
    } finally {
      rig.answer = (req) => ({ ok: true, data: req.op === "send" ? { action: "started", turnId: "turn-1" } : {} });
    }
  });

  it("prints a read cursor that reads back unchanged when pasted into a shell", async () => {
    const cursor = `{"turn":"t 9","after":"it's $HOME & more"}`;
    rig.answer = () => ({
      ok: true,
      data: {
        turns: [{ id: "t2", status: "completed", startedAt: 2, completedAt: 3, messages: [] }],
        nextCursor: cursor,
      },
    });
    try {
      const first = await cli(["read", "s1"]);
      const printed = /\(older turns: (--cursor .*)\)$/m.exec(first.stdout)?.[1];
      expect(printed).toBeDefined();
      // The words a real bash makes of the pasted text.
      const words = execFileSync("bash", ["--norc", "-c", `printf '%s\\0' ${printed}`], { encoding: "utf8" })
        .split("\0")
        .filter(Boolean);
      expect(words).toEqual(["--cursor", cursor]);
      expect((await cli(["read", "s1", ...words])).code).toBe(0);
      expect(rig.ops.at(-1)).toMatchObject({ op: "read", threadId: "s1", cursor });
    } finally {
      rig.answer = (req) => ({ ok: true, data: req.op === "send" ? { action: "started", turnId: "turn-1" } : {} });
    }
  });

  it("after a handoff to a session, says the peer is not messaged and how to brief it, not a person's attach line", async () => {
    const r = await cli(["handoff", "h1/s1", "--to-session", "s2", "--note", "rebase first"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      [
        "h1/s1 handed off to session s2 (a session-handoff fleet event the Claw sees)",
        "session s2 is not messaged by it; to brief it yourself:",
        "  claw-supervisor send s2 'take over h1/s1: rebase first'",
        "",
      ].join("\n"),
    );
    expect(r.stdout).not.toContain("launch");
    const human = await cli(["handoff", "h1/s1", "--to-human", "--who", "erin"]);
    expect(human.stdout).toMatch(
      /handed off to a person \(erin\)\nto take it over on host h1:\n {2}.*launch --resume s1/,
    );
  });

  // Last: it leaves a narrower policy in force.
  it("names assign, not mark, when the policy denies an assign", async () => {
    await rig.setPolicy({ version: 1, rules: [{ id: "ops", role: "operator", allow: ["list", "read", "send"] }] });
    const r = await cli(["assign", "h1/s1", "--group", "g1"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(
      /^claw-supervisor assign: denied: no policy rule lets role 'operator' assign session s1 on host h1.* \(assign needs capability 'mark'\)\n$/,
    );
  });
});
