#!/usr/bin/env node
/** Entry point of the `claw-supervisor` bin. */
import module from "node:module";

// Node >= 22.1 keeps V8's compiled code of the modules a run loaded (in the OS temp dir, checked against each
// file's content), so the next start skips compiling them; NODE_DISABLE_COMPILE_CACHE=1 turns it off. Node 20,
// which `engines` still allows, has no such cache. It must be on before the CLI's modules load, hence the
// dynamic import below.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
const { runCli } = await import("./run.js");

const stopRequested = new Promise<string>((resolve) => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve(signal));
});

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  env: process.env,
  stopRequested,
  columns: process.stdout.isTTY ? process.stdout.columns : undefined,
});
