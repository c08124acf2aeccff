/** `agent/thread.synced`: the agent's full snapshot sets every field it carries and the true status. */
import { describe, expect, it } from "vitest";
import type { ThreadSyncedPayload } from "../schemas/agent-events.js";
import type { ThreadStatus } from "../schemas/codex/thread.js";
import { SessionRecord } from "../schemas/registry.js";
import { foldSession, sessionRecordOf, type SessionMachineEvent } from "./session.js";

const input = { hostId: "host-a", threadId: "thr-1" };
const snapshotOf = (status: ThreadStatus, over: Partial<ThreadSyncedPayload> = {}): ThreadSyncedPayload => ({
  thread: {
    id: "thr-1",
    status,
    cwd: "/w",
    preview: "fix the tests",
    name: null,
    ephemeral: false,
    createdAt: 1,
    updatedAt: 2,
    source: "vscode",
  },
  activeTurnId: null,
  workspace: "/w",
  repo: "git@example.com:acme/app.git",
  branch: "main",
  humanAttached: true,
  autonomous: false,
  ...over,
});
const synced = (snapshot: ThreadSyncedPayload, atMs = 10): SessionMachineEvent => ({ type: "SYNCED", snapshot, atMs });

describe("session sync", () => {
  it("sets workspace, repo, branch, preview, source, presence and autonomy from the snapshot", () => {
    const record = sessionRecordOf(foldSession([synced(snapshotOf({ type: "idle" }))], input));
    expect(SessionRecord.parse(record)).toEqual({
      sessionId: "thr-1",
      endpointId: "host-a",
      host: "host-a",
      workspace: "/w",
      repo: "git@example.com:acme/app.git",
      branch: "main",
      source: "vscode",
      status: "idle",
      waitingOn: null,
      humanAttached: true,
      autonomous: false,
      activeTurnId: null,
      lastSeenAt: 10,
      summary: null,
      preview: "fix the tests",
      group: null,
      disposition: null,
      owner: null,
      handoff: null,
      progress: null,
      ask: null,
      approval: null,
      escalation: null,
      model: null,
      usage: null,
      budget: null,
    });
  });

  it("takes the thread's model from the snapshot; one without a model (an agent before issue 19) keeps the known one", () => {
    const withModel = snapshotOf({ type: "idle" });
    withModel.thread.model = "gpt-5";
    const known = foldSession([synced(withModel)], input);
    expect(sessionRecordOf(known).model).toBe("gpt-5");
    const older = snapshotOf({ type: "idle" });
    expect(sessionRecordOf(foldSession([synced(withModel), synced(older, 11)], input)).model).toBe("gpt-5");
    const changed = snapshotOf({ type: "idle" });
    changed.thread.model = "gpt-5-mini";
    expect(sessionRecordOf(foldSession([synced(withModel), synced(changed, 11)], input)).model).toBe("gpt-5-mini");
  });

  it("takes the status and the active turn from the snapshot", () => {
    const busy = snapshotOf({ type: "active", activeFlags: ["waitingOnApproval"] }, { activeTurnId: "turn-3" });
    const record = sessionRecordOf(foldSession([synced(busy)], input));
    expect(record).toMatchObject({ status: "active", waitingOn: "approval", activeTurnId: "turn-3" });
    expect(sessionRecordOf(foldSession([synced(snapshotOf({ type: "notLoaded" }))], input)).status).toBe("closed");
    expect(sessionRecordOf(foldSession([synced(snapshotOf({ type: "systemError" }))], input)).status).toBe("error");
  });

  it("overrides what events said before: a sync is the truth", () => {
    const events = [
      { type: "TURN_STARTED", turnId: "turn-1", atMs: 1 },
      synced(snapshotOf({ type: "idle" }, { humanAttached: false })),
    ] satisfies SessionMachineEvent[];
    expect(sessionRecordOf(foldSession(events, input))).toMatchObject({
      status: "idle",
      activeTurnId: null,
      humanAttached: false,
    });
  });

  it("keeps an interrupted session interrupted when the sync says idle", () => {
    const events = [
      { type: "TURN_STARTED", turnId: "turn-1", atMs: 1 },
      { type: "TURN_COMPLETED", turnId: "turn-1", status: "interrupted", atMs: 2 },
      synced(snapshotOf({ type: "idle" }, { branch: "fix" })),
    ] satisfies SessionMachineEvent[];
    expect(sessionRecordOf(foldSession(events, input))).toMatchObject({ status: "interrupted", branch: "fix" });
  });

  it("shows an empty preview as none", () => {
    expect(foldSession([synced(snapshotOf({ type: "idle" }, {}))], input).context.preview).toBe("fix the tests");
    const blank = snapshotOf({ type: "idle" });
    blank.thread.preview = "";
    expect(foldSession([synced(blank)], input).context.preview).toBeNull();
  });

  it("ignores a snapshot of another thread, and a malformed one", () => {
    const other = snapshotOf({ type: "idle" });
    other.thread.id = "thr-2";
    expect(foldSession([synced(other)], input).value).toBe("unknown");
    const broken = { type: "SYNCED", snapshot: { thread: { id: "thr-1" } }, atMs: 1 } as unknown as SessionMachineEvent;
    expect(foldSession([broken], input).value).toBe("unknown");
  });
});
