/** The autonomous-thread store: survives a restart, writes atomically, and never crashes on a bad file. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { AUTONOMOUS_FILE, AutonomousFileSchema, AutonomousThreads } from "./autonomous.js";

const dirs: string[] = [];
const tempDir = (): string => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "autonomous-"));
  dirs.push(dir);
  return dir;
};
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const rules = { commandPrefixes: ["git status"], pathPrefixes: ["/work"], tools: [] };

describe("AutonomousThreads", () => {
  it("remembers marks across a reload (a restarted agent), and forgets", async () => {
    const stateDir = path.join(tempDir(), "state-not-created-yet");
    const store = await AutonomousThreads.load(stateDir);
    expect(store.isAutonomous("a")).toBe(false);
    await store.mark("a", rules);
    await store.mark("b", { commandPrefixes: [], pathPrefixes: [], tools: ["supervisor"] });
    const again = await AutonomousThreads.load(stateDir);
    expect(again.ids().sort()).toEqual(["a", "b"]);
    expect(again.rules("a")).toEqual(rules);
    await again.forget("a");
    expect((await AutonomousThreads.load(stateDir)).ids()).toEqual(["b"]);
    expect(
      AutonomousFileSchema.parse(JSON.parse(readFileSync(path.join(stateDir, AUTONOMOUS_FILE), "utf8"))).version,
    ).toBe(1);
  });

  it("keeps every one of many concurrent marks, and leaves no temp files", async () => {
    const stateDir = tempDir();
    const store = await AutonomousThreads.load(stateDir);
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.mark(`t${i}`, rules)));
    expect((await AutonomousThreads.load(stateDir)).ids()).toHaveLength(20);
    expect(readdirSync(stateDir)).toEqual([AUTONOMOUS_FILE]);
  });

  it.each([
    ["not JSON", "{ nope"],
    ["the wrong shape", JSON.stringify({ version: 2, threads: [] })],
    ["bad rules", JSON.stringify({ version: 1, threads: { a: { rules: { commandPrefixes: [""] }, markedAtMs: 1 } } })],
  ])("treats a file that is %s as empty, logs it, and writes a good one on the next mark", async (_what, content) => {
    const stateDir = tempDir();
    writeFileSync(path.join(stateDir, AUTONOMOUS_FILE), content);
    const lines: string[] = [];
    const logger = pino(
      { level: "error" },
      new Writable({
        write: (chunk, _enc, done) => {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const store = await AutonomousThreads.load(stateDir, logger);
    expect(store.ids()).toEqual([]);
    expect(lines.join("")).toContain("corrupt");
    await store.mark("x", rules);
    expect((await AutonomousThreads.load(stateDir)).ids()).toEqual(["x"]);
  });

  it("rejects a mark it could not write, but still holds it in memory", async () => {
    const blocker = path.join(tempDir(), "a-file");
    writeFileSync(blocker, "");
    const store = await AutonomousThreads.load(path.join(blocker, "state"));
    await expect(store.mark("a", rules)).rejects.toThrow();
    expect(store.isAutonomous("a")).toBe(true);
  });
});
