import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const require = createRequire(import.meta.url);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Rust target triple and platform package of `@openai/codex`, per `process.platform`/`process.arch`. */
const TARGETS: Record<string, { triple: string; pkg: string }> = {
  "linux-x64": { triple: "x86_64-unknown-linux-musl", pkg: "@openai/codex-linux-x64" },
  "linux-arm64": { triple: "aarch64-unknown-linux-musl", pkg: "@openai/codex-linux-arm64" },
  "darwin-x64": { triple: "x86_64-apple-darwin", pkg: "@openai/codex-darwin-x64" },
  "darwin-arm64": { triple: "aarch64-apple-darwin", pkg: "@openai/codex-darwin-arm64" },
};

let cachedPath: string | undefined;
let cachedVersion: Promise<string> | undefined;

/** Absolute path of the native codex binary from the installed platform package, else `node_modules/.bin/codex`; throws if neither exists. */
export function codexBinPath(): string {
  if (cachedPath) return cachedPath;
  const target = TARGETS[`${process.platform}-${process.arch}`];
  if (target) {
    try {
      const pkgJson = require.resolve(`${target.pkg}/package.json`);
      const native = path.join(path.dirname(pkgJson), "vendor", target.triple, "bin", "codex");
      if (existsSync(native)) return (cachedPath = native);
    } catch {
      // Platform package missing: fall back to the npm wrapper below.
    }
  }
  const wrapper = path.join(repoRoot, "node_modules", ".bin", "codex");
  if (existsSync(wrapper)) return (cachedPath = wrapper);
  throw new Error(
    `codex binary not found: install the @openai/codex devDependency (looked for ${target?.pkg ?? "a platform package"} and ${wrapper})`,
  );
}

/** The installed codex version, e.g. "0.169.0", from `codex --version` (cached per process). */
export function codexVersion(): Promise<string> {
  cachedVersion ??= promisify(execFile)(codexBinPath(), ["--version"], { timeout: 15_000 }).then(({ stdout }) => {
    const match = /(\d+\.\d+\.\d+\S*)/.exec(stdout);
    if (!match?.[1]) throw new Error(`unexpected codex --version output: ${stdout.trim()}`);
    return match[1];
  });
  return cachedVersion;
}
