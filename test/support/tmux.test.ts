import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type CodexAppServer, type Tui, startCodexAppServer, startTui } from "./codex-harness.js";
import { type FakeModel, isTitleRequest, startFakeModel, userTexts } from "./fake-model.js";
import { processAlive } from "./processes.js";
import { type TmuxSession, startTmuxSession } from "./tmux.js";

let model: FakeModel | undefined;
let server: CodexAppServer | undefined;
let tui: Tui | undefined;
let session: TmuxSession | undefined;
let scratch: string | undefined;

afterEach(async () => {
  const pids = [tui?.pid, tui?.serverPid, session?.panePid, session?.serverPid, server?.pid].filter(
    (p): p is number => p !== undefined,
  );
  await session?.stop();
  await tui?.stop();
  await server?.stop();
  await model?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  model = server = tui = session = scratch = undefined;
  for (const pid of pids) expect(processAlive(pid), `pid ${pid} still alive`).toBe(false);
});

describe("private tmux session", () => {
  it("runs a command on its own socket, types into it and reads the screen", async () => {
    scratch = mkdtempSync(path.join(os.tmpdir(), "tmux-test-"));
    session = await startTmuxSession({
      command: ["sh", "-c", 'stty -echo; read line; echo "got:$line"; sleep 60'],
      socketPath: path.join(scratch, "tmux.sock"),
      cwd: scratch,
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: scratch, TERM: "xterm-256color" },
      cols: 80,
      rows: 10,
    });
    await session.sendKeys("hello 'quoted' $HOME");
    await session.sendEnter();
    const screen = await session.waitForScreen("got:hello 'quoted' $HOME", 5_000);
    expect(screen.split("\n").length).toBeGreaterThanOrEqual(10);
    await expect(session.waitForScreen(/never shown/, 200)).rejects.toThrow(/last screen:\n.*got:hello/s);
  });
});

describe("codex TUI under tmux", () => {
  it("sends a prompt to the fake model and shows its reply", async () => {
    model = await startFakeModel({ defaultReply: { kind: "text", text: "Reply from the fake model 7f3a" } });
    server = await startCodexAppServer({ model, listen: "unix" });
    tui = await startTui(server);
    await tui.sendKeys("please answer briefly");
    await tui.sendEnter();
    const screen = await tui.waitForScreen("Reply from the fake model 7f3a", 20_000);
    expect(screen).toContain("please answer briefly");
    const turnRequest = model.requests.find((r) => !isTitleRequest(r));
    expect(userTexts(turnRequest ?? {})).toContain("please answer briefly");
    expect(model.unexpected).toEqual([]);
    // The TUI's start-up announcement fetch is the only egress attempt, and it went to the loopback proxy.
    expect(model.blockedEgress.filter((target) => target !== "raw.githubusercontent.com:443")).toEqual([]);
  });

  it("gets past the trust prompt for an untrusted cwd and resumes a thread", async () => {
    model = await startFakeModel({ defaultReply: { kind: "text", text: "first answer 91c2" } });
    server = await startCodexAppServer({ model, listen: "unix" });
    scratch = mkdtempSync(path.join(os.tmpdir(), "tui-cwd-"));
    tui = await startTui(server, { cwd: scratch });
    await tui.sendKeys("remember this");
    await tui.sendEnter();
    await tui.waitForScreen("first answer 91c2", 20_000);
    const threadId = String(
      (model.requests.find((r) => !isTitleRequest(r))?.client_metadata as Record<string, unknown>)?.thread_id,
    );
    const firstPids = [tui.pid, tui.serverPid];
    await tui.stop();
    for (const pid of firstPids) expect(processAlive(pid)).toBe(false);

    tui = await startTui(server, { resumeThreadId: threadId });
    const screen = await tui.waitForScreen("first answer 91c2", 20_000);
    expect(screen).toContain("remember this");
  });
});
