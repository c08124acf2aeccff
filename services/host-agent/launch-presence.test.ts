/**
 * `claw-supervisor launch` (the built bin) running the real Codex TUI under tmux against a harness app-server,
 * with the host agent watching: the agent ties the launch's presence to the thread the TUI opens (a new one,
 * then the same one through --resume) and reports humanAttached true, then false once the TUI quits.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { PresencePayload, ThreadSyncedPayload } from "../../schemas/agent-events.js";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import { cliEntry } from "../../test/support/cli-process.js";
import { codexBinPath } from "../../test/support/codex-bin.js";
import { TUI_READY } from "../../test/support/codex-harness.js";
import { startTmuxSession, type TmuxSession } from "../../test/support/tmux.js";
import { startAgentRig } from "./test-rig.js";
import { useFixture } from "../../test/support/fixture.js";

const rig = useFixture(async () => {
  if (!existsSync(cliEntry)) throw new Error(`${cliEntry} is missing: run 'npm run build' first`);
  const started = await startAgentRig();
  await started.startAgent();
  return started;
});
const sessions: TmuxSession[] = [];
afterAll(async () => {
  for (const s of sessions) await s.stop();
});

/** Runs the built bin's launch in tmux under `sh`, which records its exit code in `<socket>.exit`. */
async function launch(...extra: string[]): Promise<TmuxSession> {
  const socketPath = path.join(rig.tmp, `tmux-${sessions.length}.sock`);
  const session = await startTmuxSession({
    command: [
      "/bin/sh",
      "-c",
      `"$0" "$@"; echo $? > ${socketPath}.exit`,
      process.execPath,
      cliEntry,
      "launch",
      "--endpoint",
      rig.server.endpoint,
      "--state-dir",
      rig.stateDir,
      "--codex",
      codexBinPath(),
      ...extra,
      "--",
      "--disable",
      "daemon_auto_start",
    ],
    socketPath,
    cwd: rig.server.workspace,
    env: rig.server.env,
  });
  sessions.push(session);
  await session.waitForScreen(TUI_READY, 30_000);
  return session;
}

/** Quits the TUI with /quit; resolves with the launcher's exit code. */
async function quit(session: TmuxSession): Promise<string> {
  await session.sendKeys("/quit");
  await session.sendEnter();
  const exitFile = `${session.socketPath}.exit`;
  const deadline = Date.now() + 15_000;
  while (!existsSync(exitFile)) {
    if (Date.now() > deadline) throw new Error(`the launcher did not exit; screen:\n${await session.capture()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return readFileSync(exitFile, "utf8").trim();
}

const presences = (): SessionEventEnvelope[] => rig.gateway.uniqueEvents().filter((e) => e.type === "agent/presence");
const parentOf = (pid: number): number =>
  Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[1]);

describe("presence through claw-supervisor launch", () => {
  it("attaches the TUI's new thread, then detaches it when the TUI quits", async () => {
    const session = await launch("--cd", rig.server.workspace);
    const attached = await rig.gateway.waitFor(
      () => presences().find((e) => (e.payload as PresencePayload).humanAttached),
      20_000,
      "presence attached",
    );
    const payload = attached.payload as PresencePayload;
    // The presence names the codex process the launcher (under the pane's sh) started, on the TUI's own thread.
    expect(parentOf(parentOf(payload.pid!))).toBe(session.panePid);
    const started = rig.threadEvents(attached.threadId).find((e) => e.type === "thread/started")!;
    expect((started.payload as { thread: { cwd: string; ephemeral: boolean } }).thread).toMatchObject({
      cwd: rig.server.workspace,
      ephemeral: false,
    });
    const records = readdirSync(path.join(rig.stateDir, "presence"));
    expect(records).toEqual([`${payload.pid}.json`]);

    await session.sendKeys("hello from the human");
    await session.sendEnter();
    await session.waitForScreen("Hello from the fake model.", 20_000);
    const synced = await rig.gateway.waitFor(
      () =>
        rig
          .threadEvents(attached.threadId)
          .find((e) => e.type === "agent/thread.synced" && (e.payload as ThreadSyncedPayload).humanAttached),
      20_000,
      "a snapshot with humanAttached",
    );
    expect((synced.payload as ThreadSyncedPayload).thread.id).toBe(attached.threadId);

    expect(await quit(session)).toBe("0");
    const detached = await rig.gateway.waitFor(
      () => presences().find((e) => e.threadId === attached.threadId && !(e.payload as PresencePayload).humanAttached),
      10_000,
      "presence detached",
    );
    expect(detached.payload).toEqual({ humanAttached: false, pid: payload.pid, tty: payload.tty });
    expect(readdirSync(path.join(rig.stateDir, "presence"))).toEqual([]);
    rig.gateway.frames.splice(0);
  });

  it("attaches a TUI started with --resume to that thread", async () => {
    const threadId = await rig.startThread();
    await rig.runTurn(threadId, "a turn before the human resumes");
    const session = await launch("--resume", threadId);
    const attached = await rig.gateway.waitFor(
      () => presences().find((e) => e.threadId === threadId && (e.payload as PresencePayload).humanAttached),
      20_000,
      "presence on the resumed thread",
    );
    expect(parentOf(parentOf((attached.payload as PresencePayload).pid!))).toBe(session.panePid);
    expect(await quit(session)).toBe("0");
    await rig.gateway.waitFor(
      () => presences().find((e) => e.threadId === threadId && !(e.payload as PresencePayload).humanAttached),
      10_000,
      "presence detached",
    );
  });
});
