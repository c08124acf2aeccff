/**
 * The app-server's answers while a thread's first turn is starting, which the real codex gives only for a
 * moment and only sometimes (a rollout file still empty was seen once, under CI load): injected here with a
 * scripted client, so the executor's handling of each is shown every run. The real path around them is in
 * commands.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { HostRpcRequest } from "../../schemas/host-rpc.js";
import { CodexRpcError, type CodexRpcClient } from "../codex-rpc/index.js";
import type { AutonomousThreads } from "./autonomous.js";
import { CommandExecutor } from "./commands.js";
import type { TrackedThread } from "./thread-state.js";

const THREAD = "thread-1";
const TURN = "turn-1";
/** An rpc error as the client makes it from the app-server's error answer to a turn list. */
const listError = (rpcCode: number, rpcMessage: string) =>
  new CodexRpcError("rpc_error", `thread/turns/list failed: ${rpcMessage} (${rpcCode})`, {
    method: "thread/turns/list",
    rpcCode,
    rpcMessage,
  });
const rolloutEmpty = () =>
  listError(
    -32603,
    "failed to read thread: thread-store internal error: failed to read session metadata /tmp/x.jsonl: rollout at /tmp/x.jsonl is empty",
  );
const notSupportedYet = () => listError(-32601, "thread/turns/list is not supported yet");
const otherInternal = () => listError(-32603, "disk on fire");

/** An executor on a scripted client: `turnsList` answers (or throws) per call; every call is recorded. */
function rig(turnsList: (() => unknown)[]) {
  const calls: { method: string }[] = [];
  let lists = 0;
  const client = {
    isOpen: true,
    async request(method: string) {
      calls.push({ method });
      if (method === "thread/turns/list") {
        const answer = turnsList[Math.min(lists++, turnsList.length - 1)]!();
        if (answer instanceof Error) throw answer;
        return answer;
      }
      if (method === "turn/interrupt") return {};
      throw new Error(`unexpected ${method}`);
    },
  } as unknown as CodexRpcClient;
  const tracked: TrackedThread = {
    id: THREAD,
    thread: { id: THREAD, status: { type: "active", activeFlags: [] } } as unknown as TrackedThread["thread"],
    activeTurnId: null,
    subscription: "subscribed" as TrackedThread["subscription"],
    startedAtMs: Date.now(),
    turnEvents: 0,
    lastTurnId: null,
    lastActivityMs: Date.now(),
  };
  const executor = new CommandExecutor({
    client: () => client,
    thread: (id) => (id === THREAD ? tracked : undefined),
    autonomous: {} as AutonomousThreads,
    interruptRetryMs: 1,
  });
  return { calls, run: (req: HostRpcRequest) => executor.execute(req, 5_000) };
}

const running = { data: [{ id: TURN, status: "inProgress", items: [] }], nextCursor: null };

describe("a thread's first turn starting: the app-server's passing refusals", () => {
  it("looks the running turn up again when the rollout file is still empty, and interrupts that turn", async () => {
    const r = rig([rolloutEmpty, rolloutEmpty, () => running]);
    expect(await r.run({ op: "interrupt", threadId: THREAD })).toEqual({ ok: true, data: { turnId: TURN } });
    expect(r.calls.map((c) => c.method)).toEqual([
      "thread/turns/list",
      "thread/turns/list",
      "thread/turns/list",
      "turn/interrupt",
    ]);
  });

  it("does the same for 'not supported yet'", async () => {
    const r = rig([notSupportedYet, () => running]);
    expect(await r.run({ op: "interrupt", threadId: THREAD })).toEqual({ ok: true, data: { turnId: TURN } });
  });

  it("answers a read in that window with a conflict to retry, not an internal error", async () => {
    const r = rig([rolloutEmpty]);
    const result = await r.run({ op: "read", threadId: THREAD, limit: 10, cursor: null, view: "summary" });
    expect(result).toMatchObject({
      ok: false,
      code: "conflict",
      message: expect.stringMatching(/first turn is just starting/),
    });
  });

  it("still fails any other internal error at once, acting on nothing", async () => {
    const r = rig([otherInternal]);
    const result = await r.run({ op: "interrupt", threadId: THREAD });
    expect(result).toMatchObject({ ok: false, message: expect.stringMatching(/disk on fire/) });
    expect(r.calls.map((c) => c.method)).toEqual(["thread/turns/list"]);
  });
});
