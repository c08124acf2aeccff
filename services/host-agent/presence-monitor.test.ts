import { mkdtempSync, rmSync, existsSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PresenceMonitor, pidAlive } from "./presence-monitor.js";
import { presenceFile, removePresenceRecord, writePresenceRecord, type PresenceRecord } from "./presence-record.js";

const tmp = mkdtempSync(path.join(os.tmpdir(), "presence-monitor-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const record = (tuiPid: number): PresenceRecord => ({
  version: 1,
  tuiPid,
  launcherPid: process.pid,
  tty: null,
  workspace: "/w",
  resumeThreadId: null,
  endpoint: "unix://",
  startedAtMs: Date.now(),
});

describe("PresenceMonitor", () => {
  it("reports live records as they come and go, and deletes records whose pid is gone", async () => {
    const dead = 2 ** 22 + 12_345;
    expect(pidAlive(dead)).toBe(false);
    expect(pidAlive(process.pid)).toBe(true);
    await writePresenceRecord(tmp, record(dead));
    const seen: number[][] = [];
    const monitor = new PresenceMonitor({
      stateDir: tmp,
      pollMs: 100,
      onChange: (records) => seen.push(records.map((r) => r.tuiPid)),
    });
    await monitor.start();
    try {
      expect(seen).toEqual([[]]);
      expect(existsSync(presenceFile(tmp, dead))).toBe(false);
      await writePresenceRecord(tmp, record(process.pid));
      await waitFor(() => seen.length === 2);
      expect(seen[1]).toEqual([process.pid]);
      await removePresenceRecord(tmp, process.pid);
      await waitFor(() => seen.length === 3);
      expect(seen[2]).toEqual([]);
    } finally {
      await monitor.stop();
    }
  });
});

async function waitFor(pred: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}
