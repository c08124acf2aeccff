/**
 * The dashboard page's pure core: how WebSocket frames fold into the view (live-merge), the hash routes, relative
 * times and the status words. The socket, rendering and keyboard are driven in Chromium by the e2e tests.
 */
import { describe, expect, it } from "vitest";
import type { ServerMessage, SessionRow } from "../schemas/dashboard.js";
import { SessionRecord } from "../schemas/registry.js";
import { type AppliedView, applyPending, emptyPending, mergeFrame } from "../services/dashboard/web/live-merge.js";
import { relativeTime } from "../services/dashboard/web/relative-time.js";
import { parseRoute } from "../services/dashboard/web/router.js";
import { presenceLabel, statusLabel, statusTone } from "../services/dashboard/web/session-status.js";

const record = (over: Partial<SessionRecord> = {}): SessionRecord =>
  SessionRecord.parse({
    sessionId: "t1",
    endpointId: "h1",
    host: "h1",
    workspace: "/w/repo",
    repo: "repo",
    branch: "main",
    source: "cli",
    status: "idle",
    waitingOn: null,
    humanAttached: false,
    autonomous: true,
    activeTurnId: null,
    lastSeenAt: 1_000,
    summary: null,
    preview: null,
    group: null,
    disposition: null,
    ...over,
  });
const row = (key: string, revision: number, over: Partial<SessionRecord> = {}): SessionRow => ({
  key,
  shortId: key.slice(-4),
  record: record(over),
  revision,
  writtenAtMs: 5_000 + revision,
});
const rev = (sessions: number, hosts = 0) => ({ sessions, hosts });
type Frame = Extract<ServerMessage, { type: "snapshot" | "changes" }>;
const snapshot = (rows: SessionRow[], at: number): Frame => ({
  type: "snapshot",
  rev: rev(at),
  sessions: rows,
  hosts: [],
  heartbeatMs: 15_000,
});
const changes = (from: number, to: number, rows: SessionRow[], removed: string[] = []): Frame => ({
  type: "changes",
  from: rev(from),
  rev: rev(to),
  sessions: rows,
  removedSessions: removed,
  hosts: [],
  removedHosts: [],
});
const emptyView = (): AppliedView => ({ sessions: new Map(), hosts: new Map(), rev: null });
const revisions = (v: AppliedView) => [...v.sessions.values()].map((r) => [r.key, r.revision]);

describe("live-merge", () => {
  it("applies a snapshot, then changes and removals, in one frame or several alike", () => {
    const frames = [snapshot([row("h1.a", 1), row("h1.b", 2)], 2), changes(2, 4, [row("h1.a", 3), row("h1.c", 4)])];
    const last = changes(4, 5, [], ["h1.b"]);

    const oneFrame = emptyView();
    const p = emptyPending();
    for (const f of [...frames, last]) expect(mergeFrame(p, f, p.rev ?? oneFrame.rev)).toBe(true);
    applyPending(oneFrame, p);

    const perFrame = emptyView();
    for (const f of [...frames, last]) {
      const q = emptyPending();
      expect(mergeFrame(q, f, perFrame.rev)).toBe(true);
      applyPending(perFrame, q);
    }
    for (const v of [oneFrame, perFrame]) {
      expect(v.rev).toEqual(rev(5));
      expect(revisions(v).sort()).toEqual([
        ["h1.a", 3],
        ["h1.c", 4],
      ]);
    }
  });

  it("says which session rows changed and whether keys came or went", () => {
    const v = emptyView();
    const p = emptyPending();
    mergeFrame(p, snapshot([row("h1.a", 1)], 1), null);
    expect(applyPending(v, p)).toEqual({ changedSessions: [], keysChanged: true });
    const q = emptyPending();
    mergeFrame(q, changes(1, 2, [row("h1.a", 2)]), v.rev);
    const applied = applyPending(v, q);
    expect(applied?.keysChanged).toBe(false);
    expect(applied?.changedSessions.map((r) => r.revision)).toEqual([2]);
    expect(applyPending(v, emptyPending())).toBeNull();
  });

  it("refuses a batch that starts after a revision the page has not got (a gap), and changes before any snapshot", () => {
    const v = emptyView();
    const p = emptyPending();
    mergeFrame(p, snapshot([row("h1.a", 1)], 1), null);
    applyPending(v, p);
    expect(mergeFrame(emptyPending(), changes(3, 4, [row("h1.a", 4)]), v.rev)).toBe(false);
    expect(mergeFrame(emptyPending(), changes(0, 1, [row("h1.a", 1)]), null)).toBe(false);
  });

  it("keeps the newer row when an older one arrives again (a resent overlap)", () => {
    const v = emptyView();
    const p = emptyPending();
    mergeFrame(p, snapshot([row("h1.a", 7)], 7), null);
    applyPending(v, p);
    const q = emptyPending();
    expect(mergeFrame(q, changes(5, 7, [row("h1.a", 6)]), v.rev)).toBe(true);
    applyPending(v, q);
    expect(v.sessions.get("h1.a")?.revision).toBe(7);
  });
});

describe("routes", () => {
  it("names each view, the session by its key, and anything else as not found", () => {
    expect(parseRoute("")).toEqual({ view: "attention" });
    expect(parseRoute("#/")).toEqual({ view: "attention" });
    expect(parseRoute("#/fleet")).toEqual({ view: "fleet" });
    expect(parseRoute("#/session/h1.019a-b")).toEqual({ view: "session", key: "h1.019a-b" });
    expect(parseRoute("#/session/h1.%41")).toEqual({ view: "session", key: "h1.A" });
    for (const v of ["spawn", "broadcast", "hosts", "audit", "notices"])
      expect(parseRoute(`#/${v}`)).toEqual({ view: v });
    expect(parseRoute("#/nope")).toEqual({ view: "notFound", hash: "#/nope" });
    expect(parseRoute("#/session/")).toEqual({ view: "notFound", hash: "#/session/" });
  });
});

describe("relative time", () => {
  it("reads as people say it, past and ahead", () => {
    const now = 10_000_000;
    expect(relativeTime(now - 1_000, now)).toBe("just now");
    expect(relativeTime(now - 42_000, now)).toBe("42 s ago");
    expect(relativeTime(now - 5 * 60_000, now)).toBe("5 min ago");
    expect(relativeTime(now - 3 * 3_600_000, now)).toBe("3 h ago");
    expect(relativeTime(now - 2 * 86_400_000 - 5, now)).toBe("2 d ago");
    expect(relativeTime(now + 30_000, now)).toBe("in 30 s");
  });
});

describe("status words", () => {
  it("never shows a wait as idle, and unknown or stale apart from the rest", () => {
    expect(statusLabel(record({ status: "active", waitingOn: "approval" }))).toBe("needs approval");
    expect(statusLabel(record({ status: "active", waitingOn: "userInput" }))).toBe("needs input");
    expect(statusTone(record({ status: "idle", waitingOn: "userInput" }))).toBe("needs");
    expect(statusLabel(record({ status: "unknown" }))).toBe("unknown");
    expect(statusTone(record({ status: "unknown" }))).toBe("stale");
    expect(statusTone(record({ status: "stale" }))).toBe("stale");
    expect(statusTone(record({ status: "idle" }))).toBe("idle");
    expect(presenceLabel(record({ humanAttached: true }))).toBe("person attached");
    expect(presenceLabel(record({ humanAttached: false, autonomous: true }))).toBe("autonomous");
  });
});
