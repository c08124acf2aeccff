/**
 * Runs the built `claw-supervisor` bin as a child process, the way a user does, and reads its output.
 * Needs `npm run build` first (`npm test` does it); says so when dist is missing.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

// This file runs from test/support/ (vitest) or dist-bench/test/support/ (compiled benchmarks).
const supportDir = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(
  supportDir,
  "..",
  "..",
  ...(path.basename(path.resolve(supportDir, "..", "..")) === "dist-bench" ? [".."] : []),
);
/** The built bin's entry point. */
export const cliEntry = path.join(repoRoot, "dist", "services", "cli", "main.js");

/** A running CLI process. */
export interface CliProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first stdout line matching `pred`; rejects on exit or after `timeoutMs`. */
  waitForLine(pred: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exited: Promise<number | string>;
}

/** Spawns `node dist/services/cli/main.js ...args` with exactly `env` (plus nothing inherited). */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv): CliProcess {
  if (!existsSync(cliEntry)) throw new Error(`${cliEntry} is missing: run 'npm run build' first`);
  const child = spawn(process.execPath, [cliEntry, ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const listeners = new Set<() => void>();
  child.stdout!.setEncoding("utf8").on("data", (c: string) => {
    out += c;
    for (const l of listeners) l();
  });
  child.stderr!.setEncoding("utf8").on("data", (c: string) => void (err += c));
  const exited = new Promise<number | string>((resolve) =>
    child.on("exit", (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForLine(pred, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const line = out.split("\n").find(pred);
          if (line !== undefined) {
            done();
            resolve(line);
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`no matching line within ${timeoutMs} ms; stdout:\n${out}\nstderr:\n${err}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        void exited.then(() => {
          if (!listeners.has(check)) return;
          done();
          reject(new Error(`exited before a matching line; stdout:\n${out}\nstderr:\n${err}`));
        });
        listeners.add(check);
        check();
      });
    },
  };
}
