/**
 * Benchmark support: supervisor services run as their own processes, the way they are deployed
 * (`claw-supervisor service <name>`), started from the built CLI and stopped by their pid.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { cliEntry } from "../test/support/cli-process.js";

/** A running service process and the JSON line it printed when ready. */
export interface ServiceProcess {
  child: ChildProcess;
  ready: Record<string, unknown>;
}

/** Starts `claw-supervisor service <name> --json` and resolves with its ready line. BENCH_PROFILE_DIR adds CPU profiles. */
export function startService(name: string, natsUrl: string, extra: string[] = []): Promise<ServiceProcess> {
  return startCli(name, ["service", name, "--nats-url", natsUrl, "--json", ...extra]);
}

/** Starts `claw-supervisor <args>` (which must print a JSON line when ready) and resolves with that line. */
export function startCli(name: string, args: string[]): Promise<ServiceProcess> {
  const profile = process.env.BENCH_PROFILE_DIR
    ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`, `--cpu-prof-name=${name}.cpuprofile`]
    : [];
  const child = spawn(process.execPath, [...profile, cliEntry, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  child.stderr!.on("data", (c: Buffer) => void (log = (log + c.toString()).slice(-4_000)));
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (c: Buffer) => {
      out += c.toString();
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) resolve({ child, ready: JSON.parse(line) });
    });
    child.once("exit", (code) => reject(new Error(`service ${name} exited with ${code}:\n${log}`)));
  });
}

/** SIGTERM to the service's pid, and waits for it to exit. */
export async function stopService(s: ServiceProcess | undefined): Promise<void> {
  if (!s || s.child.exitCode !== null || s.child.signalCode !== null) return;
  const exited = new Promise((r) => s.child.once("exit", r));
  s.child.kill("SIGTERM");
  await exited;
}
