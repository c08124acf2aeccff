/**
 * The state-dir lock on a real file system: one holder at a time, a dead holder's lock taken over (and said),
 * a lock naming this very pid but not taken by it (a reused pid after a restart) treated as stale, and a
 * release that removes only a lock that is still ours.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { waitForProcessGone } from "../../test/support/processes.js";
import { acquireStateLock, StateDirBusyError } from "./state-lock.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "claw-lock-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function recorder() {
  const lines: { msg: string }[] = [];
  return { lines, logger: pino({}, { write: (l: string) => void lines.push(JSON.parse(l)) }) };
}

/** A pid that has run and exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  const pid = child.pid as number;
  await new Promise((resolve) => child.once("exit", resolve));
  await waitForProcessGone(pid, 5_000);
  return pid;
}

describe("state-dir lock", () => {
  it("is held by one at a time, with its pid in a 0600 file, and released by its holder only", async () => {
    const lock = await acquireStateLock(dir);
    const file = path.join(dir, "up.lock");
    expect(readFileSync(file, "utf8")).toBe(`${process.pid}\n`);
    const busy = await acquireStateLock(dir).catch((e: unknown) => e);
    expect(busy).toBeInstanceOf(StateDirBusyError);
    expect((busy as Error).message).toMatch(
      new RegExp(`^claw-supervisor is already running on ${dir} \\(pid ${process.pid}\\)`),
    );
    await lock.release();
    expect(existsSync(file)).toBe(false);
    const again = await acquireStateLock(dir);
    // A lock someone else wrote meanwhile is not removed by a late release.
    writeFileSync(file, "1\n");
    await lock.release();
    await again.release();
    expect(readFileSync(file, "utf8")).toBe("1\n");
  });

  it("refuses a lock held by another live process", async () => {
    writeFileSync(path.join(dir, "up.lock"), `${process.ppid}\n`);
    await expect(acquireStateLock(dir)).rejects.toThrow(`already running on ${dir} (pid ${process.ppid})`);
  });

  it("takes over a dead holder's lock, an empty one, and one naming this pid it never took, saying so", async () => {
    const file = path.join(dir, "up.lock");
    const dead = await deadPid();
    for (const [content, said] of [
      [`${dead}\n`, `taking over a stale lock: pid ${dead} in ${file} is not running`],
      ["", "it names no pid"],
      [`${process.pid}\n`, `taking over a stale lock: pid ${process.pid}`],
    ] as const) {
      writeFileSync(file, content);
      const { lines, logger } = recorder();
      const lock = await acquireStateLock(dir, logger);
      expect(readFileSync(file, "utf8")).toBe(`${process.pid}\n`);
      expect(lines.map((l) => l.msg).join("\n")).toContain(said);
      await lock.release();
    }
  });
});
