/**
 * A person's Codex TUI under tmux, attached with `codex --remote unix://...`: the supervisor finds its thread
 * with `claw-supervisor probe` (the built bin, run as a user would) and drives it with the client.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { textInput } from "../../schemas/codex/index.js";
import { connectCodex, parseEndpoint, type CodexRpcClient } from "../../services/codex-rpc/index.js";
import { spawnCli } from "../support/cli-process.js";
import {
  processAlive,
  startCodexAppServer,
  startTui,
  type CodexAppServer,
  type Tui,
} from "../support/codex-harness.js";
import { isTitleRequest, startFakeModel, userTexts, type FakeModel } from "../support/fake-model.js";
import { recordNotifications } from "../support/notifications.js";

interface ProbeJson {
  threads: { id: string; status: string; ephemeral: boolean; cwd: string; preview: string }[];
}

async function probe(server: CodexAppServer): Promise<ProbeJson> {
  const p = spawnCli(["probe", server.endpoint, "--json"], { PATH: process.env.PATH, HOME: server.home });
  const code = await p.exited;
  expect(code, p.stderr()).toBe(0);
  return JSON.parse(p.stdout()).data as ProbeJson;
}

describe("a human's TUI attached with codex --remote unix://", () => {
  let model: FakeModel;
  let server: CodexAppServer;
  let tui: Tui;
  let client: CodexRpcClient | undefined;

  beforeAll(async () => {
    model = await startFakeModel({
      route: (r) =>
        userTexts(r).at(-1)?.includes("from the supervisor")
          ? { kind: "text", text: "Answer to the supervisor 5c1e" }
          : { kind: "text", text: "Answer to the human 2b7d" },
    });
    server = await startCodexAppServer({ model, listen: "unix" });
    tui = await startTui(server);
  });

  afterAll(async () => {
    client?.close();
    const pids = [tui?.pid, server?.pid].filter((p): p is number => p !== undefined);
    await tui?.stop();
    await server?.stop();
    await model?.stop();
    for (const pid of pids) expect(processAlive(pid), `pid ${pid} left running`).toBe(false);
  });

  it("lists the TUI's thread in claw-supervisor probe, before and after the human uses it", async () => {
    const atStart = (await probe(server)).threads.filter((t) => !t.ephemeral);
    expect(atStart).toHaveLength(1);
    expect(atStart[0]).toMatchObject({ status: "idle", cwd: server.workspace });

    await tui.sendKeys("hello from the human");
    await tui.sendEnter();
    await tui.waitForScreen("Answer to the human 2b7d", 20_000);
    const afterUse = (await probe(server)).threads.filter((t) => !t.ephemeral);
    expect(afterUse.map((t) => t.id)).toEqual([atStart[0]!.id]);
  });

  it("shows a turn started by the supervisor's client on the TUI's screen", async () => {
    const threadId = (await probe(server)).threads.find((t) => !t.ephemeral)!.id;
    client = await connectCodex(parseEndpoint(server.endpoint));
    const log = recordNotifications(client);
    await client.initialize({ clientInfo: { name: "claw-supervisor-test", version: "0.0.0" } });
    await client.request("thread/resume", { threadId, excludeTurns: true });
    const { turn } = await client.request("turn/start", {
      threadId,
      input: textInput("Message from the supervisor 9a41"),
    });
    await log.waitFor("turn/completed", (p) => p.turn.id === turn.id);
    const screen = await tui.waitForScreen("Answer to the supervisor 5c1e", 20_000);
    expect(screen).toContain("Message from the supervisor 9a41");
    const turnRequests = model.requests.filter((r) => !isTitleRequest(r));
    expect(userTexts(turnRequests.at(-1)!)).toContain("Message from the supervisor 9a41");
  });
});
