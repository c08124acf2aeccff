import { beforeAll, describe, expect, it } from "vitest";
import { usePolicyRig } from "../policy/test-policy.js";
import { runCliInProcess } from "./test-cli.js";

describe("claw-supervisor operator verbs", () => {
  const rig = usePolicyRig();
  let url: string;

  const cli = (argv: string[]) => runCliInProcess(argv, { NATS_URL: url, USER: "bob" });

  beforeAll(async () => {
    url = rig.bus.server.url;
    await rig.session("s1");
  });

  it("send prints what happened and records the operator as the caller", async () => {
    rig.ops.length = 0;
    const r = await cli(["send", "h1/s1", "please", "rebase", "--key", "cli-send-key-1"]);
    expect(r).toMatchObject({ code: 0, stdout: "started turn turn-1\n" });
    expect(rig.ops).toEqual([{ op: "send", threadId: "s1", text: "please rebase", mode: "auto" }]);
    const audit = await rig.audit();
    expect(
      audit.find(
        (a) => a.kind === "request" && (a.detail as { args?: { text?: string } }).args?.text === "please rebase",
      )?.caller,
    ).toMatchObject({ role: "operator", id: expect.stringMatching(/^bob@/) });
  });

  it("exits with the typed failure's code and says why on stderr", async () => {
    const r = await cli(["interrupt", "missing-session"]);
    expect(r.code).toBe(4);
    expect(r.stderr).toBe("claw-supervisor interrupt: not_found: no session matches 'missing-session'\n");
    rig.answer = () => ({ ok: false, code: "conflict", message: "no turn is running", retryable: false });
    try {
      const steer = await cli(["send", "s1", "x", "--steer", "--json"]);
      expect(steer.code).toBe(5);
      expect(JSON.parse(steer.stdout)).toMatchObject({ ok: false, code: "conflict" });
    } finally {
      rig.answer = (req) => ({ ok: true, data: req.op === "send" ? { action: "started", turnId: "turn-1" } : {} });
    }
  });

  it("reads a transcript oldest turn first", async () => {
    rig.answer = () => ({
      ok: true,
      data: {
        turns: [
          {
            id: "t2",
            status: "completed",
            startedAt: 2,
            completedAt: 3,
            messages: [
              { role: "user", text: "and now?" },
              { role: "agent", text: "done" },
            ],
          },
          { id: "t1", status: "completed", startedAt: 1, completedAt: 2, messages: [{ role: "user", text: "hi" }] },
        ],
        nextCursor: "c2",
      },
    });
    const r = await cli(["read", "s1", "--limit", "2"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      "── turn t1 (completed)\nuser : hi\n── turn t2 (completed)\nuser : and now?\ncodex: done\n(older turns: --cursor c2)\n",
    );
    expect(rig.ops.at(-1)).toEqual({ op: "read", threadId: "s1", limit: 2, cursor: null, view: "summary" });
  });

  it("refuses bad command lines with exit 2 before sending anything", async () => {
    const before = rig.ops.length;
    expect((await cli(["send", "s1"])).code).toBe(2);
    expect((await cli(["send", "s1", "x", "--start", "--steer"])).code).toBe(2);
    expect((await cli(["broadcast", "hello"])).stderr).toMatch(/needs --max/);
    expect((await cli(["spawn", "do it"])).stderr).toMatch(/needs --cwd/);
    expect(rig.ops.length).toBe(before);
  });

  it("says so when no policy service answers", async () => {
    await rig.policy!.stop();
    rig.policy = undefined;
    const r = await cli(["send", "s1", "anyone"]);
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/timeout: no policy service is answering on codex\.cmd\.send.*Nothing was run/);
  });
});
