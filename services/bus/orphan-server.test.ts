/**
 * Stopping the nats-server an earlier run left on a store: only a live nats-server on that very store is
 * stopped; a stale pid file, or one naming any other process, is left alone.
 */
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { processAlive, waitForProcessGone } from "../../test/support/processes.js";
import { isNatsServerOn, natsPidFile, natsServerRunsOn, stopOrphanNatsServer } from "./orphan-server.js";
import { findExecutable } from "./server-process.js";

let dir: string;
const started: number[] = [];
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), "claw-orphan-"));
});
afterEach(async () => {
  for (const pid of started.splice(0)) {
    if (processAlive(pid)) process.kill(pid, "SIGKILL");
    await waitForProcessGone(pid, 5_000);
  }
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `argv` detached from this test's exit hooks, as an orphan would be; returns its pid. */
function startProcess(argv: string[]): number {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: "ignore" });
  started.push(child.pid as number);
  return child.pid as number;
}

describe("stopOrphanNatsServer", () => {
  it("recognises a nats-server by program name and store dir", () => {
    const store = path.join(dir, "nats");
    expect(isNatsServerOn(["/usr/sbin/nats-server", "--jetstream", "--store_dir", store], store)).toBe(true);
    expect(isNatsServerOn(["nats-server", `--store_dir=${store}/`], store)).toBe(true);
    expect(isNatsServerOn(["nats-server", "--store_dir", `${store}-other`], store)).toBe(false);
    expect(isNatsServerOn(["/bin/sleep", "--store_dir", store], store)).toBe(false);
    expect(isNatsServerOn([], store)).toBe(false);
  });

  it("stops a live nats-server on the store, and leaves anything else the pid file names", async () => {
    const store = path.join(dir, "nats");
    mkdirSync(store);
    expect(await stopOrphanNatsServer(store)).toBeUndefined(); // no pid file

    const sleeper = startProcess(["/bin/sleep", "60"]);
    writeFileSync(natsPidFile(store), `${sleeper}`);
    const said: string[] = [];
    expect(await stopOrphanNatsServer(store, (m) => said.push(m))).toBeUndefined();
    expect(processAlive(sleeper)).toBe(true);
    expect(said).toEqual([
      `${natsPidFile(store)} names pid ${sleeper}, which is not a nats-server on ${store}: left alone`,
    ]);

    const binary = findExecutable("nats-server") as string;
    const elsewhere = path.join(dir, "other");
    mkdirSync(elsewhere);
    const other = startProcess([
      binary,
      "--addr",
      "127.0.0.1",
      "--port",
      "-1",
      "--jetstream",
      "--store_dir",
      elsewhere,
    ]);
    writeFileSync(natsPidFile(store), `${other}\n`);
    expect(await stopOrphanNatsServer(store)).toBeUndefined();
    expect(processAlive(other)).toBe(true);

    const orphan = startProcess([binary, "--addr", "127.0.0.1", "--port", "-1", "--jetstream", "--store_dir", store]);
    writeFileSync(natsPidFile(store), `${orphan}\n`);
    said.length = 0;
    expect(await stopOrphanNatsServer(store, (m) => said.push(m))).toBe(orphan);
    expect(processAlive(orphan)).toBe(false);
    expect(said[0]).toContain(`stopping nats-server pid ${orphan}, left running on ${store}`);
    expect(processAlive(other)).toBe(true);
  });
});

describe("natsServerRunsOn", () => {
  /** A process whose command line looks like a nats-server on `store` (bash's exec -a sets argv[0]). */
  const lookalike = (store: string, asNobody: boolean): number => {
    const script = `exec -a nats-server ${process.execPath} -e 'setTimeout(() => {}, 60000)' -- --store_dir ${store}`;
    const argv = ["/bin/bash", "-c", script];
    return startProcess(
      asNobody ? ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--", ...argv] : argv,
    );
  };
  const until = async (check: () => boolean): Promise<void> => {
    for (let i = 0; i < 100 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  };

  it.skipIf(process.getuid?.() !== 0)(
    "is true for our own nats-server on the store, false for another user's process that looks the same (needs root for setpriv)",
    async () => {
      const store = path.join(dir, "nats");
      const ours = lookalike(store, false);
      await until(() => natsServerRunsOn(ours, store));
      expect(natsServerRunsOn(ours, store)).toBe(true);
      const theirs = lookalike(store, true);
      // Wait until its command line shows the disguise, so a false below is about its owner.
      await until(() => {
        try {
          return readFileSync(`/proc/${theirs}/cmdline`, "utf8").startsWith("nats-server");
        } catch {
          return false;
        }
      });
      expect(readFileSync(`/proc/${theirs}/cmdline`, "utf8")).toContain(store);
      expect(natsServerRunsOn(theirs, store)).toBe(false);
    },
  );
});
