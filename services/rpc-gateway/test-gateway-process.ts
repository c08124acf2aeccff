/**
 * Test support: starts the gateway in a child process (test-gateway-child.ts, bundled with esbuild into one
 * file, packages left to node_modules; the file is removed once the child has loaded it), so a test can kill it
 * with SIGKILL like a crashed instance.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import type { GatewayOptions } from "./server.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, "..", "..");
// Inside the repository, so the bundle's bare imports resolve from its node_modules.
const outDir = path.join(repoRoot, "node_modules", ".cache", "claw-test-gateway-child");
let n = 0;

/** Bundles the child entry into a file of its own; returns it. */
async function bundle(): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const outfile = path.join(outDir, `gateway-child-${process.pid}-${n++}.mjs`);
  await build({
    entryPoints: [path.join(here, "test-gateway-child.ts")],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    packages: "external",
    logLevel: "silent",
  });
  return outfile;
}

/** A gateway running in its own process. */
export interface GatewayProcess {
  url: string;
  gatewayId: string;
  child: ChildProcess;
  /** What it wrote to stderr (its pino log lines). */
  stderr(): string;
  /** SIGKILL: dies at once, releasing nothing. Resolves once it has exited. */
  kill(): Promise<void>;
  /** SIGTERM: a clean stop. Resolves once it has exited. */
  stop(): Promise<void>;
}

/** Starts a gateway process with `options` (`servers` must carry the NATS URL, credentials in it if any). */
export async function startGatewayProcess(
  options: Omit<GatewayOptions, "natsConnection" | "logger" | "metrics" | "port">,
  timeoutMs = 20_000,
): Promise<GatewayProcess> {
  const file = await bundle();
  const child = spawn(process.execPath, [file, JSON.stringify(options)], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { PATH: process.env.PATH ?? "", GATEWAY_LOG_LEVEL: "info" },
  });
  let out = "";
  let err = "";
  child.stderr!.setEncoding("utf8").on("data", (c: string) => void (err += c));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // Loaded (ready) or gone: either way the bundle is no longer needed.
  const removeBundle = (): void => rmSync(file, { force: true });
  void exited.then(removeBundle);
  const ready = await new Promise<{ url: string; gatewayId: string }>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`gateway process not ready in ${timeoutMs} ms:\n${err}`)),
      timeoutMs,
    );
    child.stdout!.setEncoding("utf8").on("data", (c: string) => {
      out += c;
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) {
        clearTimeout(timer);
        removeBundle();
        resolve(JSON.parse(line) as { url: string; gatewayId: string });
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`gateway process exited before it was ready:\n${err}`));
    });
  });
  const signal = async (sig: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    await exited;
  };
  return {
    ...ready,
    child,
    stderr: () => err,
    kill: () => signal("SIGKILL"),
    stop: () => signal("SIGTERM"),
  };
}
