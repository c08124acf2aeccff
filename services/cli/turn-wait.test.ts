/**
 * `--wait` and `read --follow` against a real nats-server, registry, gateway and policy service, with a scripted
 * host whose session events are published to CODEX_EVENTS the way the host agent's are. The end-to-end run with
 * the real codex binary is test/e2e/wait-follow.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { HostRpcRequest } from "../../schemas/host-rpc.js";
import { until } from "../../test/support/wait.js";
import { STREAM_NAMES } from "../bus/index.js";
import { streamLastSeq } from "../bus/stream-follow.js";
import { usePolicyRig } from "../policy/test-policy.js";
import { runCliInProcess, startCliInProcess } from "./test-cli.js";
import { endedTurnOf, TURN_EXIT_CODES, waitForTurnEnd } from "./turn-wait.js";

describe("waiting for a turn and following a session", () => {
  const rig = usePolicyRig();
  const env = () => ({ NATS_URL: rig.bus.url, USER: "bob" });
  const cli = (...argv: string[]) => runCliInProcess(argv, env());

  /** Publishes one session event of host h1 (as its agent would) and waits for the stream's ack. */
  const emit = (threadId: string, type: string, payload: unknown) =>
    rig.events.publish(rig.events.envelope(threadId, type, payload));
  const agentSays = (threadId: string, turnId: string, text: string) =>
    emit(threadId, "item/completed", {
      threadId,
      turnId,
      item: { type: "agentMessage", id: `msg-${turnId}`, text },
      completedAtMs: Date.now(),
    });
  const turnEnds = (threadId: string, turnId: string, status: string, error: string | null = null) =>
    emit(threadId, "turn/completed", {
      threadId,
      turn: { id: turnId, items: [], status, error: error === null ? null : { message: error } },
    });

  /** The host answers `send` with `turnId` and, before its answer is even on its way, ends the turn. */
  const sendEndsAt = (turnId: string, end: (threadId: string) => Promise<unknown>) => {
    rig.answer = (req: HostRpcRequest) => {
      if (req.op !== "send") return { ok: true, data: {} };
      void end(req.threadId);
      return { ok: true, data: { action: "started", turnId } };
    };
  };

  it("finds a turn end stored after the noted sequence, skipping other turns' and sessions' events, and one stored before", async () => {
    await rig.session("w0");
    await turnEnds("w0", "tw0", "completed");
    const fromSeq = (await streamLastSeq(rig.bus.nc, STREAM_NAMES.events)) + 1;
    await agentSays("w0", "other-turn", "not this one");
    await turnEnds("w0", "other-turn", "completed");
    await turnEnds("w0-elsewhere", "tw0", "completed");
    await agentSays("w0", "tw0", "the answer");
    await turnEnds("w0", "tw0", "interrupted", "stopped by the operator");
    // The wait starts after everything was stored: it must still find the end.
    const outcome = await waitForTurnEnd(rig.bus.nc, fromSeq, { hostId: "h1", sessionId: "w0", turnId: "tw0" });
    expect(outcome).toEqual({
      kind: "ended",
      turn: expect.objectContaining({
        id: "tw0",
        status: "interrupted",
        error: "stopped by the operator",
        lastAgentMessage: "the answer",
      }),
    });
  });

  it("gives up at its timeout, and asks how the turn ended when a re-sync no longer names it as running", async () => {
    await rig.session("w1");
    const fromSeq = (await streamLastSeq(rig.bus.nc, STREAM_NAMES.events)) + 1;
    expect(await waitForTurnEnd(rig.bus.nc, fromSeq, { sessionId: "w1", turnId: "tw1" }, { timeoutMs: 300 })).toEqual({
      kind: "timeout",
    });
    let asked = 0;
    const lookUp = async () => {
      asked++;
      return asked === 1
        ? undefined
        : {
            id: "tw1",
            status: "completed" as const,
            error: null,
            startedAt: 1,
            completedAt: 2,
            durationMs: null,
            lastAgentMessage: null,
          };
    };
    await rig.events.synced("w1", { activeTurnId: "tw1", status: { type: "active", activeFlags: [] } });
    await rig.events.synced("w1", { activeTurnId: null });
    await rig.events.synced("w1", { activeTurnId: null });
    const outcome = await waitForTurnEnd(rig.bus.nc, fromSeq, { sessionId: "w1", turnId: "tw1" }, { lookUp });
    expect(outcome).toMatchObject({ kind: "ended", turn: { id: "tw1", status: "completed" } });
    expect(asked).toBe(2);
  });

  it("asks once when following starts, so a turn that ended before the noted sequence is reported", async () => {
    await rig.session("w6");
    await turnEnds("w6", "tw6", "completed");
    const fromSeq = (await streamLastSeq(rig.bus.nc, STREAM_NAMES.events)) + 1;
    let asked = 0;
    const lookUp = async () => {
      asked++;
      return {
        id: "tw6",
        status: "completed" as const,
        error: null,
        startedAt: 1,
        completedAt: 2,
        durationMs: null,
        lastAgentMessage: "done before",
      };
    };
    // No event comes after fromSeq and there is no timeout: only the first look-up can end the wait.
    const outcome = await waitForTurnEnd(rig.bus.nc, fromSeq, { sessionId: "w6", turnId: "tw6" }, { lookUp });
    expect(outcome).toMatchObject({ kind: "ended", turn: { id: "tw6", lastAgentMessage: "done before" } });
    expect(asked).toBe(1);
  });

  it("send --wait goes on waiting when the first look-up lists the new turn as interrupted with no end time", async () => {
    // Codex lists a turn it has just started that way for a few ms (test/e2e/codex-app-server.test.ts); taken as
    // the turn's end, the wait exited 10 (interrupted) for a turn that then completed.
    await rig.session("w8");
    let reads = 0;
    let ended: (() => Promise<unknown>) | undefined;
    rig.answer = (req: HostRpcRequest) => {
      if (req.op === "send") {
        ended = async () => {
          await agentSays(req.threadId, "tw8", "the real answer");
          await turnEnds(req.threadId, "tw8", "completed");
        };
        return { ok: true, data: { action: "started", turnId: "tw8" } };
      }
      if (req.op !== "read") return { ok: true, data: {} };
      reads++;
      // The turn ends only once the transient listing has been read.
      setTimeout(() => void ended?.(), 50);
      return {
        ok: true,
        data: {
          turns: [{ id: "tw8", status: "interrupted", startedAt: 1, completedAt: null, messages: [] }],
          nextCursor: null,
        },
      };
    };
    const r = await cli("send", "h1/w8", "do it", "--wait");
    expect(r.stderr).toBe("");
    expect(r).toMatchObject({ code: 0, stdout: "started turn tw8\nturn tw8 completed\ncodex: the real answer\n" });
    expect(reads).toBe(1);
  });

  it("takes an ended status from a listing only with an end time, unless a re-sync says the turn is not running", () => {
    const turn = (status: string, completedAt: number | null) => ({
      id: "t",
      status,
      startedAt: 1,
      completedAt,
      messages: [
        { role: "agent" as const, text: "first" },
        { role: "agent" as const, text: "last" },
      ],
    });
    expect(endedTurnOf(turn("interrupted", null), "start")).toBeUndefined();
    expect(endedTurnOf(turn("inProgress", null), "start")).toBeUndefined();
    expect(endedTurnOf(turn("inProgress", null), "resynced")).toBeUndefined();
    expect(endedTurnOf(turn("interrupted", 5), "start")).toMatchObject({ status: "interrupted", completedAt: 5 });
    expect(endedTurnOf(turn("completed", 5), "start")).toMatchObject({ status: "completed", lastAgentMessage: "last" });
    // Its end lost with the app-server: the re-sync no longer names it as running, and no end time will come.
    expect(endedTurnOf(turn("interrupted", null), "resynced")).toMatchObject({
      status: "interrupted",
      completedAt: null,
    });
  });

  it("send --wait with a reused --key reports the turn the first send started and that already ended", async () => {
    await rig.session("w7");
    sendEndsAt("tw7", async (threadId) => {
      await agentSays(threadId, "tw7", "first answer");
      await turnEnds(threadId, "tw7", "completed");
    });
    const first = await cli("send", "h1/w7", "do it", "--key", "wait-key-w7", "--wait");
    expect(first).toMatchObject({ code: 0, stdout: "started turn tw7\nturn tw7 completed\ncodex: first answer\n" });
    const sends = rig.ops.filter((op) => op.op === "send").length;
    rig.answer = (req: HostRpcRequest) =>
      req.op === "read"
        ? {
            ok: true,
            data: {
              turns: [
                {
                  id: "tw7",
                  status: "completed",
                  startedAt: 1,
                  completedAt: 2,
                  messages: [{ role: "agent", text: "first answer" }],
                },
              ],
              nextCursor: null,
            },
          }
        : { ok: true, data: {} };
    // The policy answers the repeat from its cache; the turn's end is older than the sequence the wait notes.
    const again = await cli("send", "h1/w7", "do it", "--key", "wait-key-w7", "--wait");
    expect(again.stderr).toBe("");
    expect(again).toMatchObject({ code: 0, stdout: "started turn tw7\nturn tw7 completed\ncodex: first answer\n" });
    expect(rig.ops.filter((op) => op.op === "send").length).toBe(sends);
  });

  it("send --wait exits 0 once the turn completes, even when it ends before the command's answer arrives", async () => {
    await rig.session("w2");
    sendEndsAt("tw2", async (threadId) => {
      await agentSays(threadId, "tw2", "all done");
      await turnEnds(threadId, "tw2", "completed");
    });
    const r = await cli("send", "h1/w2", "finish it", "--wait");
    expect(r.stderr).toBe("");
    expect(r).toMatchObject({ code: 0, stdout: "started turn tw2\nturn tw2 completed\ncodex: all done\n" });

    const j = await cli("send", "w2", "again", "--wait", "--json");
    expect(j.code, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout)).toEqual({
      ok: true,
      data: {
        action: "started",
        turnId: "tw2",
        turn: expect.objectContaining({ id: "tw2", status: "completed", lastAgentMessage: "all done" }),
      },
    });
  });

  it("exits with the interrupted and failed codes, and 8 when --wait-timeout passes first", async () => {
    await rig.session("w3");
    sendEndsAt("tw3", (threadId) => turnEnds(threadId, "tw3", "interrupted"));
    const interrupted = await cli("reply", "w3", "stop there", "--wait", "--json");
    expect(interrupted.code).toBe(TURN_EXIT_CODES.interrupted);
    expect(JSON.parse(interrupted.stdout)).toMatchObject({
      ok: false,
      code: "interrupted",
      data: { turnId: "tw3", turn: { id: "tw3", status: "interrupted" } },
    });

    sendEndsAt("tw4", (threadId) => turnEnds(threadId, "tw4", "failed", "the model is gone"));
    const failed = await cli("send", "w3", "try", "--wait");
    expect(failed.code).toBe(TURN_EXIT_CODES.failed);
    expect(failed.stdout).toContain("turn tw4 failed: the model is gone");

    sendEndsAt("tw5", async () => undefined);
    const timedOut = await cli("send", "w3", "never ends", "--wait", "--wait-timeout", "200");
    expect(timedOut.code).toBe(8);
    expect(timedOut.stderr).toMatch(/timeout: turn tw5 still running after 200 ms/);
  });

  it("stops waiting on Ctrl-C with 130 and says the turn goes on", async () => {
    await rig.session("w5");
    sendEndsAt("tw6", async () => undefined);
    const waiting = startCliInProcess(["send", "w5", "a long one", "--wait"], env());
    await until("the turn started", () => waiting.stdout().includes("started turn tw6"));
    waiting.stop();
    expect(await waiting.exited).toBe(130);
    expect(waiting.stderr()).toMatch(/stopped waiting \(SIGINT\); turn tw6 goes on/);
  });

  it("refuses --wait-timeout without --wait, and --wait on a verb that starts no turn, before sending anything", async () => {
    const before = rig.ops.length;
    expect(await cli("send", "w3", "x", "--wait-timeout", "100")).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--wait-timeout needs --wait/),
    });
    expect((await cli("interrupt", "w3", "--wait")).code).toBe(2);
    expect((await cli("send", "w3", "x", "--wait", "--wait-timeout", "soon")).code).toBe(2);
    expect(rig.ops.length).toBe(before);
    expect((await cli("send", "--help")).stdout).toMatch(/--wait .*\n.*10 interrupted, 11 failed/);
  });

  it("read --follow prints the page, then each item of a later turn as it completes, until stopped", async () => {
    await rig.session("w4");
    rig.answer = (req) =>
      req.op === "read"
        ? {
            ok: true,
            data: {
              turns: [
                {
                  id: "old",
                  status: "completed",
                  startedAt: 1,
                  completedAt: 2,
                  messages: [{ role: "user", text: "earlier" }],
                },
              ],
              nextCursor: null,
            },
          }
        : { ok: true, data: {} };
    const text = startCliInProcess(["read", "w4", "--follow"], env());
    const json = startCliInProcess(["read", "w4", "--follow", "--json"], env());
    await until("both pages printed", () => text.stdout().includes("user : earlier") && json.stdout().includes("\n"));
    await emit("w4", "turn/started", { threadId: "w4", turn: { id: "new", items: [], status: "inProgress" } });
    await emit("w4", "item/completed", {
      threadId: "w4",
      turnId: "new",
      item: { type: "userMessage", id: "u1", content: [{ type: "text", text: "run the tests" }] },
      completedAtMs: Date.now(),
    });
    await emit("w4", "item/completed", {
      threadId: "w4",
      turnId: "new",
      item: {
        type: "commandExecution",
        id: "c1",
        command: "npm test",
        cwd: "/work",
        status: "failed",
        exitCode: 1,
        aggregatedOutput: "secret output",
      },
      completedAtMs: Date.now(),
    });
    await agentSays("w4", "new", "tests fail\nsee above");
    await turnEnds("w4", "new", "completed");
    await until("the turn's end followed", () => text.stdout().includes("── turn new completed"));
    expect(text.stdout()).toBe(
      [
        "── turn old (completed)",
        "user : earlier",
        "── turn new (started)",
        "user : run the tests",
        "$    : npm test  (exit 1)",
        "codex: tests fail",
        "       see above",
        "── turn new completed",
        "",
      ].join("\n"),
    );
    text.stop();
    expect(await text.exited).toBe(0);

    await until("the JSON follow saw the end", () => json.stdout().includes('"status":"completed"'));
    json.stop();
    expect(await json.exited).toBe(0);
    const lines = json
      .stdout()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ ok: true, data: { turns: [{ id: "old" }] } });
    const items = lines.filter((l) => l.data.kind === "item").map((l) => l.data.item);
    expect(items).toEqual([
      { type: "userMessage", id: "u1", text: "run the tests" },
      { type: "commandExecution", id: "c1", command: "npm test", cwd: "/work", status: "failed", exitCode: 1 },
      { type: "agentMessage", id: "msg-new", text: "tests fail\nsee above" },
    ]);
    expect(json.stdout()).not.toContain("secret output");
  });

  it("read --follow on a session it may not read exits with the read's code and follows nothing", async () => {
    const r = await cli("read", "no-such-session", "--follow");
    expect(r.code).toBe(4);
  });
});
