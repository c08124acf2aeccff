import { execFile } from "node:child_process";
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * Environment variable naming the codex binary every test runs instead of the pinned devDependency (an absolute
 * path). `npm run codex:check -- <version>` sets it to the release it installed; everything that starts codex in
 * tests (the harness, the stack's CODEX_BIN, the TUI under tmux, the conformance test) asks codexBinPath().
 */
export const CODEX_BIN_ENV = "CLAW_CODEX_BIN";

/** Rust target triple and platform package of `@openai/codex`, per `process.platform`/`process.arch`. */
const TARGETS: Record<string, { triple: string; pkg: string }> = {
  "linux-x64": { triple: "x86_64-unknown-linux-musl", pkg: "@openai/codex-linux-x64" },
  "linux-arm64": { triple: "aarch64-unknown-linux-musl", pkg: "@openai/codex-linux-arm64" },
  "darwin-x64": { triple: "x86_64-apple-darwin", pkg: "@openai/codex-darwin-x64" },
  "darwin-arm64": { triple: "aarch64-apple-darwin", pkg: "@openai/codex-darwin-arm64" },
};

/** This machine's platform package of `@openai/codex` and its Rust target triple, or undefined on another platform. */
export function codexTarget(): { triple: string; pkg: string } | undefined {
  return TARGETS[`${process.platform}-${process.arch}`];
}

/** The native codex binary of the platform package installed under `root` (a project or an `npm --prefix` dir), if any. */
export function nativeCodexIn(root: string): string | undefined {
  const target = codexTarget();
  if (!target) return undefined;
  try {
    const pkgJson = createRequire(path.join(root, "package.json")).resolve(`${target.pkg}/package.json`);
    const native = path.join(path.dirname(pkgJson), "vendor", target.triple, "bin", "codex");
    return existsSync(native) ? native : undefined;
  } catch {
    return undefined;
  }
}

/** The codex binary CLAW_CODEX_BIN names, checked; undefined when it is not set. Throws when it names no executable file. */
export function codexBinOverride(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[CODEX_BIN_ENV];
  if (value === undefined || value === "") return undefined;
  if (!path.isAbsolute(value)) throw new Error(`${CODEX_BIN_ENV}=${value}: must be an absolute path to a codex binary`);
  let isFile = false;
  try {
    isFile = statSync(value).isFile();
  } catch {
    throw new Error(`${CODEX_BIN_ENV}=${value}: no such file (unset it to use the pinned @openai/codex devDependency)`);
  }
  if (!isFile) throw new Error(`${CODEX_BIN_ENV}=${value}: not a file`);
  try {
    accessSync(value, constants.X_OK);
  } catch {
    throw new Error(`${CODEX_BIN_ENV}=${value}: not executable`);
  }
  return value;
}

let cachedPinned: string | undefined;
let cachedVersion: Promise<string> | undefined;

/** The pinned devDependency's native binary, else `node_modules/.bin/codex`, whatever CLAW_CODEX_BIN says; throws if neither exists. */
export function pinnedCodexBinPath(): string {
  if (cachedPinned) return cachedPinned;
  const native = nativeCodexIn(repoRoot);
  if (native) return (cachedPinned = native);
  const wrapper = path.join(repoRoot, "node_modules", ".bin", "codex");
  if (existsSync(wrapper)) return (cachedPinned = wrapper);
  throw new Error(
    `codex binary not found: install the @openai/codex devDependency (looked for ${codexTarget()?.pkg ?? "a platform package"} and ${wrapper})`,
  );
}

/**
 * Absolute path of the codex binary tests run: CLAW_CODEX_BIN when set (an error if it names no executable), else
 * the pinned devDependency's native binary from its platform package, else `node_modules/.bin/codex`.
 */
export function codexBinPath(): string {
  return codexBinOverride() ?? pinnedCodexBinPath();
}

/** The version `codex --version` prints, e.g. "0.169.0". */
export async function codexVersionOf(bin: string): Promise<string> {
  const { stdout } = await promisify(execFile)(bin, ["--version"], { timeout: 15_000 });
  const match = /(\d+\.\d+\.\d+\S*)/.exec(stdout);
  if (!match?.[1]) throw new Error(`unexpected ${bin} --version output: ${stdout.trim()}`);
  return match[1];
}

/** The version of the codex tests run (codexBinPath()), e.g. "0.169.0", from `codex --version` (cached per process). */
export function codexVersion(): Promise<string> {
  cachedVersion ??= codexVersionOf(codexBinPath());
  return cachedVersion;
}
