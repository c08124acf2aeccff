/**
 * How long the `claw-supervisor` bin takes to start, against a bare node start measured in the same run:
 * `--help` (the shell alone) and `sessions --json` (the registry query a person runs most, against a real `up`
 * this benchmark starts on a temporary state dir, with no host agent). They alternate, each run a new process;
 * it prints the median wall time of each and its ratio to `node -e 0`. Targets: `--help` at most 2x,
 * `sessions --json` at most 3x a bare node start.
 *
 * Run: `npm run bench:cli` (BENCH_CLI_RUNS, default 20 runs a way).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { cliEntry, spawnCli } from "../test/support/cli-process.js";

const runs = Number(process.env.BENCH_CLI_RUNS ?? 20);
const TARGETS: Record<string, number> = { "claw-supervisor --help": 2, "claw-supervisor sessions --json": 3 };

const home = mkdtempSync(path.join(os.tmpdir(), "claw-bench-cli-"));
const stateDir = path.join(home, "state");
const env = { PATH: process.env.PATH, HOME: home, CLAW_SUPERVISOR_STATE_DIR: stateDir };

const up = spawnCli(
  [
    "up",
    "--state-dir",
    stateDir,
    "--gateway-port",
    "0",
    "--mcp-port",
    "0",
    "--dashboard-port",
    "0",
    "--no-host-agent",
    "--json",
  ],
  env,
);
try {
  await up.waitForLine((l) => l.startsWith("{"), 60_000);
  const ways: Record<string, string[]> = {
    "node -e 0 (baseline)": ["-e", "0"],
    "claw-supervisor --help": [cliEntry, "--help"],
    "claw-supervisor sessions --json": [cliEntry, "sessions", "--json"],
  };
  const names = Object.keys(ways);
  const once = (name: string): number => {
    const start = performance.now();
    const r = spawnSync(process.execPath, ways[name] as string[], { env, stdio: ["ignore", "pipe", "pipe"] });
    const ms = performance.now() - start;
    if (r.status !== 0) throw new Error(`${name} exited ${r.status}: ${r.stderr.toString()}`);
    return ms;
  };
  for (const name of names) for (let i = 0; i < 3; i++) once(name); // warm-up: the file system cache
  const times = new Map<string, number[]>(names.map((n) => [n, []]));
  for (let r = 0; r < runs; r++) for (const name of names) times.get(name)?.push(once(name));

  const median = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(s.length / 2);
    return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
  };
  const cpu = os.cpus()[0]?.model.trim() ?? "unknown cpu";
  console.log(
    `cli start-up benchmark: node ${process.version}, ${os.cpus().length} x ${cpu}, load ${os.loadavg()[0]?.toFixed(2)}`,
  );
  console.log(`${runs} runs a way, alternating, median wall time of a new process each`);
  const baseline = median(times.get(names[0] as string) ?? []);
  for (const name of names) {
    const ms = median(times.get(name) ?? []);
    const target = TARGETS[name];
    const verdict =
      target === undefined
        ? ""
        : ms / baseline <= target
          ? `  (target ${target}x: met)`
          : `  (target ${target}x: MISSED)`;
    console.log(`  ${name.padEnd(34)} ${ms.toFixed(0).padStart(6)} ms  ${(ms / baseline).toFixed(2)}x node${verdict}`);
  }
} finally {
  up.child.kill("SIGTERM");
  await up.exited;
  rmSync(home, { recursive: true, force: true });
}
