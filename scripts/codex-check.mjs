#!/usr/bin/env node
/**
 * `npm run codex:check -- <version> [--suites <glob>] [--no-build] [--keep] [--json]`: checks a codex-cli release
 * against the supervisor's schemas and e2e suites (test/support/codex-check.ts; `--help` says more). Loads the
 * TypeScript through the esbuild hooks in codex-check-hooks.mjs, so it runs from a fresh clone after `npm install`.
 */
import { register } from "node:module";

register("./codex-check-hooks.mjs", import.meta.url);
const { main } = await import("../test/support/codex-check.ts");
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`codex:check: ${err?.stack ?? err}\n`);
  process.exitCode = 1;
}
