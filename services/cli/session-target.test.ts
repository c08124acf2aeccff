/**
 * Session references on the operator verbs, against a real nats-server, registry and policy service: a short
 * id or any unique prefix names the session; an ambiguous one exits 2 listing the candidates; an unknown one
 * exits 4; nothing reaches a host unless exactly one session matches.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { usePolicyRig } from "../policy/test-policy.js";
import { runCliInProcess } from "./test-cli.js";

// Three UUIDv7 thread ids made in the same millisecond: the first 12 hex digits (the timestamp) are shared.
const A = "01a236ac-1234-7abc-8def-0a1b2c3d4e5f";
const B = "01a236ac-1234-7def-9abc-0a1b2c3d9999";
const C = "01a236ac-1234-7123-a456-777788889999";

describe("session references on the operator verbs", () => {
  const rig = usePolicyRig();
  let url: string;
  const cli = (argv: string[]) => runCliInProcess(argv, { NATS_URL: url, USER: "bob" });

  beforeAll(async () => {
    url = rig.bus.server.url;
    await rig.session(A, { workspace: "/home/me/a" });
    await rig.session(B, { workspace: "/home/me/b" });
    await rig.session(C, { workspace: "/home/me/c" });
    rig.answer = (req) => ({
      ok: true,
      data:
        req.op === "read"
          ? { turns: [], nextCursor: null }
          : req.op === "send"
            ? { action: "started", turnId: "t" }
            : {},
    });
  });

  it("shows distinct short ids for three sessions made in the same millisecond", async () => {
    const r = await cli(["sessions"]);
    expect(r.code).toBe(0);
    for (const short of ["0a1b2c3d4", "0a1b2c3d9", "77778888"])
      expect(r.stdout).toMatch(new RegExp(`\\bh1\\s+${short}\\s`));
  });

  it("shows short ids unique in the fleet, not only among the rows shown, and read resolves the one shown", async () => {
    // Registry order is C, A, B: --limit 2 leaves B out, which shares A's first 8 hex digits of the last group.
    const r = await cli(["sessions", "--limit", "2", "--no-headers"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^h1\s+0a1b2c3d4\s+\/home\/me\/a\s/m);
    expect(r.stdout).not.toMatch(/\b0a1b2c3d\s/);
    const json = JSON.parse((await cli(["sessions", "--limit", "2", "--json"])).stdout);
    expect(json.data.sessions.map((s: { sessionId: string }) => s.sessionId)).toEqual([C, A]);
    rig.ops.length = 0;
    expect(await cli(["read", "0a1b2c3d4"])).toMatchObject({ code: 0, stdout: "no turns\n" });
    expect(rig.ops.at(-1)).toMatchObject({ op: "read", threadId: A });
  });

  it("runs read and mark on the session a unique prefix or short id names, with its full host and id", async () => {
    rig.ops.length = 0;
    expect(await cli(["read", "77778888"])).toMatchObject({ code: 0, stdout: "no turns\n" });
    expect(rig.ops.at(-1)).toMatchObject({ op: "read", threadId: C });
    const mark = await cli(["mark", "h1/0a1b2c3d4", "blocked"]);
    expect(mark).toMatchObject({ code: 0, stdout: `h1/${A}: marked blocked\n` });
    expect(await cli(["read", B.slice(0, 16)])).toMatchObject({ code: 0 });
    expect(rig.ops.at(-1)).toMatchObject({ op: "read", threadId: B });
  });

  it("resolves the peer of a handoff to a session too", async () => {
    rig.ops.length = 0;
    const r = await cli(["handoff", "77778888", "--to-session", "0a1b2c3d4", "--note", "take over", "--json"]);
    expect(JSON.stringify(rig.ops)).toContain(A);
    expect(rig.ops.at(-1)).toMatchObject({ threadId: C });
    expect(r.stderr).toBe("");
  });

  it("exits 2 and lists the candidates when a prefix is ambiguous, and sends nothing", async () => {
    const before = rig.ops.length;
    const r = await cli(["send", "01a236ac", "hello"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines[0]).toBe(
      "claw-supervisor send: ambiguous: '01a236ac' matches 3 sessions; give more of the id, or <host>/<id>",
    );
    // In registry order (host, then id); each line: host/short id, workspace, status.
    expect(lines.slice(1)).toEqual([
      "  h1/77778888   /home/me/c  idle",
      "  h1/0a1b2c3d4  /home/me/a  idle",
      "  h1/0a1b2c3d9  /home/me/b  idle",
    ]);
    const json = await cli(["read", "0a1b2c3d", "--json"]);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toEqual({
      ok: false,
      code: "ambiguous",
      message: "'0a1b2c3d' matches 2 sessions; give more of the id, or <host>/<id>",
      candidates: [
        { host: "h1", sessionId: A, shortId: "0a1b2c3d4", workspace: "/home/me/a", status: "idle" },
        { host: "h1", sessionId: B, shortId: "0a1b2c3d9", workspace: "/home/me/b", status: "idle" },
      ],
      total: 2,
    });
    expect(rig.ops.length).toBe(before);
  });

  it("exits 4 when nothing matches, on any host or on the one given", async () => {
    const before = rig.ops.length;
    expect(await cli(["interrupt", "deadbeef"])).toMatchObject({
      code: 4,
      stderr: "claw-supervisor interrupt: not_found: no session matches 'deadbeef'\n",
    });
    const json = await cli(["mark", "h2/77778888", "done", "--json"]);
    expect(json.code).toBe(4);
    expect(JSON.parse(json.stdout)).toEqual({
      ok: false,
      code: "not_found",
      message: "no session matches 'h2/77778888'",
    });
    // Too short to be a prefix: only a whole id that short would match.
    expect((await cli(["read", "777"])).code).toBe(4);
    expect(rig.ops.length).toBe(before);
  });
});
