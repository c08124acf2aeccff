import { describe, expect, it } from "vitest";
import { PresenceBinder } from "./presence-binding.js";
import type { PresenceRecord } from "./presence-record.js";

const record = (tuiPid: number, extra: Partial<PresenceRecord> = {}): PresenceRecord => ({
  version: 1,
  tuiPid,
  launcherPid: tuiPid - 1,
  tty: "/dev/pts/1",
  workspace: "/w",
  resumeThreadId: null,
  endpoint: "unix://",
  startedAtMs: 10_000,
  ...extra,
});

describe("PresenceBinder", () => {
  it("binds a resume record at once, and detaches when the record goes", () => {
    const b = new PresenceBinder();
    expect(b.setRecords([record(5, { resumeThreadId: "t1" })])).toEqual([
      { threadId: "t1", payload: { humanAttached: true, pid: 5, tty: "/dev/pts/1" } },
    ]);
    expect(b.humanAttached("t1")).toBe(true);
    expect(b.setRecords([])).toEqual([
      { threadId: "t1", payload: { humanAttached: false, pid: 5, tty: "/dev/pts/1" } },
    ]);
    expect(b.humanAttached("t1")).toBe(false);
  });

  it("binds the first thread started after the record in its workspace, whichever is noticed first", () => {
    const b = new PresenceBinder();
    expect(b.threadTracked({ id: "old", cwd: "/w", startedAtMs: 8_000 })).toEqual([]);
    expect(b.setRecords([record(5)])).toEqual([]);
    expect(b.threadTracked({ id: "other-dir", cwd: "/x", startedAtMs: 10_100 })).toEqual([]);
    expect(b.threadTracked({ id: "tui", cwd: "/w/", startedAtMs: 10_200 })).toMatchObject([{ threadId: "tui" }]);
    expect(b.threadTracked({ id: "later", cwd: "/w", startedAtMs: 10_300 })).toEqual([]);

    const late = new PresenceBinder();
    late.threadTracked({ id: "tui", cwd: "/w", startedAtMs: 10_200 });
    expect(late.setRecords([record(5)])).toMatchObject([{ threadId: "tui", payload: { humanAttached: true } }]);
  });

  it("gives two TUIs in one workspace two threads, and keeps a thread attached while one TUI remains", () => {
    const b = new PresenceBinder();
    b.setRecords([record(5), record(7, { startedAtMs: 10_050 })]);
    expect(b.threadTracked({ id: "a", cwd: "/w", startedAtMs: 10_100 })).toMatchObject([
      { threadId: "a", payload: { pid: 5 } },
    ]);
    expect(b.threadTracked({ id: "b", cwd: "/w", startedAtMs: 10_150 })).toMatchObject([
      { threadId: "b", payload: { pid: 7 } },
    ]);
    expect(
      b.setRecords([record(5), record(7, { startedAtMs: 10_050 }), record(9, { resumeThreadId: "a" })]),
    ).toMatchObject([{ threadId: "a", payload: { pid: 9 } }]);
    expect(b.setRecords([record(7, { startedAtMs: 10_050 }), record(9, { resumeThreadId: "a" })])).toEqual([]);
    expect(b.humanAttached("a")).toBe(true);
  });
});
