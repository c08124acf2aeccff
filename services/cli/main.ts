#!/usr/bin/env node
/** Entry point of the `claw-supervisor` bin. */
import { runCli } from "./run.js";

const stopRequested = new Promise<string>((resolve) => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => resolve(signal));
});

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
  env: process.env,
  stopRequested,
});
