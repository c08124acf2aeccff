/**
 * `npm run codex:check -- <version>`: checks a codex-cli release against the supervisor before the pin moves.
 * Installs `@openai/codex@<version>` into a temporary npm prefix (the platform binary comes as an optional
 * dependency), generates its app-server JSON schema, runs checkConformance on it, then runs the conformance test
 * and the e2e suites that start codex with CLAW_CODEX_BIN pointing at that binary, and reports (codex-check-report.ts).
 * Run through scripts/codex-check.mjs, which loads this TypeScript without a build.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { checkConformance } from "../../schemas/codex/conformance.js";
import { clientMethods } from "../../schemas/codex/methods.js";
import { notifications } from "../../schemas/codex/notifications.js";
import { serverRequests } from "../../schemas/codex/server-requests.js";
import { REPORT_FILE_ENV } from "./codex-check-reporter.js";
import { CODEX_BIN_ENV, codexTarget, codexVersionOf, nativeCodexIn, pinnedCodexBinPath } from "./codex-bin.js";
import {
  compareNames,
  formatReport,
  groupDrifts,
  parseCheckArgs,
  protocolNames,
  reportOk,
  selectSuites,
  summarizeRun,
  USAGE,
  type CheckArgs,
  type CheckReport,
  type Interface,
  type ProtocolNames,
  type TestSummary,
} from "./codex-check-report.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const CONFORMANCE_TEST = "schemas/codex/conformance.test.ts";
const REPORTER = "./test/support/codex-check-reporter.ts";
const SCHEMA_FILE = "codex_app_server_protocol.schemas.json";
/** Folders vitest's include covers (vitest.config.ts). */
const TEST_ROOTS = ["schemas", "machines", "services", "test", "bench", "deploy"];
/** A test file that imports one of these starts codex. */
const STARTS_CODEX = /from "\.\.\/support\/(codex-bin|codex-harness|stack|netns)\.js"/;

/** A failure the run cannot go on from; `code` is the exit code (2: the arguments were wrong). */
class CheckError extends Error {
  constructor(
    message: string,
    readonly code: 1 | 2 = 1,
  ) {
    super(message);
  }
}

/** Our declarations: each method, notification and server request name with what it is. */
function ourNames(): Map<string, Interface> {
  const out = new Map<string, Interface>();
  for (const n of Object.keys(clientMethods)) out.set(n, "method");
  for (const n of Object.keys(notifications)) out.set(n, "notification");
  for (const n of Object.keys(serverRequests)) out.set(n, "server request");
  return out;
}

/** Every `*.test.ts` vitest would run, repo-relative and sorted. */
function testFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(path.join(repoRoot, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (entry.isDirectory() && entry.name !== "node_modules" && entry.name !== "dist") walk(rel);
      else if (entry.isFile() && entry.name.endsWith(".test.ts")) out.push(rel);
    }
  };
  for (const root of TEST_ROOTS) if (existsSync(path.join(repoRoot, root))) walk(root);
  return out.sort();
}

/** The default suites: the conformance test and each e2e suite that starts codex. */
function defaultSuites(all: readonly string[]): string[] {
  const e2e = all.filter(
    (f) => f.startsWith("test/e2e/") && STARTS_CODEX.test(readFileSync(path.join(repoRoot, f), "utf8")),
  );
  return [CONFORMANCE_TEST, ...e2e];
}

/** Runs a command to completion, its output into `sink` (a stdio fd) or captured; rejects on a non-zero exit. */
function run(
  command: string,
  args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; sink?: 1 | 2; track?: (c: ChildProcess | undefined) => void },
): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ["ignore", opts.sink ?? "pipe", opts.sink ?? "pipe"],
    });
    opts.track?.(child);
    let output = "";
    child.stdout?.on("data", (d: Buffer) => void (output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => void (output += d.toString()));
    child.on("error", (err) => {
      opts.track?.(undefined);
      reject(new CheckError(`cannot run ${command}: ${err.message}`));
    });
    child.on("close", (code, signal) => {
      opts.track?.(undefined);
      resolve({ code: code ?? (signal ? 128 : 1), output });
    });
  });
}

/** npm, the one running this script when started by `npm run`, else the one on PATH. */
function npmCommand(): { command: string; prefixArgs: string[] } {
  const cli = process.env.npm_execpath;
  return cli && /\.c?js$/.test(cli)
    ? { command: process.execPath, prefixArgs: [cli] }
    : { command: "npm", prefixArgs: [] };
}

/** Installs the release into `prefix` and returns its native binary; the platform package must arrive. */
async function install(version: string, prefix: string, log: (l: string) => void): Promise<string> {
  const npm = npmCommand();
  const spec = `@openai/codex@${version}`;
  log(`installing ${spec} into ${prefix}`);
  const { code, output } = await run(
    npm.command,
    [
      ...npm.prefixArgs,
      "install",
      "--prefix",
      prefix,
      "--no-save",
      "--no-package-lock",
      "--ignore-scripts",
      "--include=optional",
      "--no-audit",
      "--no-fund",
      "--loglevel=error",
      spec,
    ],
    { cwd: prefix },
  );
  if (code !== 0) {
    if (/ETARGET|No matching version|E404/.test(output)) {
      throw new CheckError(
        `the registry has no ${spec} (see 'npm view @openai/codex dist-tags' and 'npm view @openai/codex versions')`,
        2,
      );
    }
    throw new CheckError(`npm install ${spec} failed (exit ${code}):\n${output.trim()}`);
  }
  const pkgFile = path.join(prefix, "node_modules", "@openai", "codex", "package.json");
  if (!existsSync(pkgFile)) throw new CheckError(`npm install ${spec} left no ${pkgFile}`);
  const installed = (JSON.parse(readFileSync(pkgFile, "utf8")) as { version?: string }).version ?? "?";
  if (version !== "latest" && installed !== version) {
    throw new CheckError(`asked for ${spec}, npm installed ${installed}`);
  }
  const bin = nativeCodexIn(prefix);
  if (!bin) {
    const target = codexTarget();
    throw new CheckError(
      target
        ? `${spec} installed without its platform binary: ${target.pkg} (vendor/${target.triple}/bin/codex) did not ` +
            "arrive. Is npm set to omit optional dependencies ('npm config get omit')?"
        : `no codex platform package for ${process.platform}-${process.arch}`,
    );
  }
  log(`installed @openai/codex ${installed}: ${bin}`);
  return bin;
}

/** Generates the app-server JSON schema bundle with `bin` into `dir` and parses it. */
async function generateSchema(bin: string, dir: string): Promise<Record<string, unknown>> {
  mkdirSync(dir, { recursive: true });
  try {
    await promisify(execFile)(bin, ["app-server", "generate-json-schema", "--out", dir], { timeout: 60_000 });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new CheckError(`${bin} app-server generate-json-schema failed: ${e.stderr?.trim() || e.message}`);
  }
  const file = path.join(dir, SCHEMA_FILE);
  if (!existsSync(file)) throw new CheckError(`generate-json-schema wrote no ${SCHEMA_FILE} into ${dir}`);
  return JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
}

/** The pinned devDependency's version and protocol names, for "new since the pin"; null (with a note) if unavailable. */
async function pinnedNames(
  dir: string,
  log: (l: string) => void,
): Promise<{ version: string; names: ProtocolNames } | null> {
  try {
    const bin = pinnedCodexBinPath();
    const version = await codexVersionOf(bin);
    return { version, names: protocolNames(await generateSchema(bin, dir)) };
  } catch (err) {
    log(`no pinned codex to compare names with (${(err as Error).message.split("\n")[0]}); listing every unused name`);
    return null;
  }
}

/** Runs vitest on `files` against `bin`, codex-check-reporter.ts writing into `reportFile`; an error when it left none. */
async function runSuites(
  files: string[],
  bin: string,
  reportFile: string,
  sink: 1 | 2,
  track: (c: ChildProcess | undefined) => void,
): Promise<{ tests: TestSummary | null; error: string | null }> {
  const vitest = path.join(repoRoot, "node_modules", "vitest", "vitest.mjs");
  if (!existsSync(vitest)) return { tests: null, error: `vitest is not installed (${vitest}): run npm install` };
  const { code } = await run(
    process.execPath,
    [vitest, "run", ...files, "--reporter=default", `--reporter=${REPORTER}`],
    { cwd: repoRoot, env: { ...process.env, [CODEX_BIN_ENV]: bin, [REPORT_FILE_ENV]: reportFile }, sink, track },
  );
  if (!existsSync(reportFile)) return { tests: null, error: `vitest exited ${code} without a report` };
  try {
    const tests = summarizeRun(JSON.parse(readFileSync(reportFile, "utf8")), repoRoot);
    if (code !== 0 && tests.failures.length === 0) {
      return { tests, error: `vitest exited ${code} with no failure in its report: see its output` };
    }
    return { tests, error: null };
  } catch (err) {
    return { tests: null, error: (err as Error).message };
  }
}

async function check(
  args: CheckArgs,
  prefix: string,
  log: (l: string) => void,
  track: (c: ChildProcess | undefined) => void,
): Promise<CheckReport> {
  const all = testFiles();
  const picked = args.suites.length > 0 ? selectSuites(args.suites, all) : { files: defaultSuites(all) };
  if ("error" in picked) throw new CheckError(picked.error, 2);

  const bin = await install(args.version, prefix, log);
  const codexVersion = await codexVersionOf(bin).catch((err: Error) => {
    throw new CheckError(`${bin} --version failed: ${err.message}`);
  });
  log(`codex --version: codex-cli ${codexVersion}`);

  log("generating its app-server JSON schema");
  const bundle = await generateSchema(bin, path.join(prefix, "schema"));
  const ours = ourNames();
  const drifts = checkConformance(bundle);
  const pinned = await pinnedNames(path.join(prefix, "schema-pinned"), log);
  log(`conformance: ${drifts.length} drift(s)`);

  const sink = args.json ? 2 : 1;
  let tests: TestSummary | null = null;
  let testsError: string | null = null;
  if (picked.files.length > 0) {
    if (args.build) {
      log("npm run build (the CLI-spawning suites run dist/; --no-build skips it)");
      const npm = npmCommand();
      const built = await run(npm.command, [...npm.prefixArgs, "run", "build"], { cwd: repoRoot, sink, track });
      if (built.code !== 0) throw new CheckError(`npm run build failed (exit ${built.code})`);
    }
    log(`running ${picked.files.length} test file(s) with ${CODEX_BIN_ENV}=${bin}:`);
    for (const f of picked.files) log(`  ${f}`);
    ({ tests, error: testsError } = await runSuites(
      picked.files,
      bin,
      path.join(prefix, "test-report.json"),
      sink,
      track,
    ));
  }

  const report: CheckReport = {
    version: args.version,
    codexVersion,
    pinnedVersion: pinned?.version ?? null,
    drifts: groupDrifts(drifts, ours),
    driftCount: drifts.length,
    names: compareNames(protocolNames(bundle), pinned?.names ?? null, ours),
    tests,
    testsError,
    suites: picked.files,
    prefix: args.keep ? prefix : null,
    ok: false,
  };
  report.ok = reportOk(report);
  return report;
}

/** The command: returns the exit code (0 passed, 1 drift or failure, 2 bad arguments). */
export async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseCheckArgs(argv);
  if (parsed.kind === "help") {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (parsed.kind === "error") {
    process.stderr.write(`codex:check: ${parsed.message}\n\n${USAGE}\n`);
    return 2;
  }
  const args = parsed.args;
  const progress = args.json ? process.stderr : process.stdout;
  const log = (line: string): void => void progress.write(`codex:check: ${line}\n`);
  const prefix = mkdtempSync(path.join(os.tmpdir(), "codex-check-"));
  let child: ChildProcess | undefined;
  const cleanup = (): void => {
    if (!args.keep) rmSync(prefix, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    child?.kill("SIGTERM");
    cleanup();
    process.stderr.write(`codex:check: ${signal}: stopped${args.keep ? `; kept ${prefix}` : ""}\n`);
    process.exit(signal === "SIGINT" ? 130 : 143);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const report = await check(args, prefix, log, (c) => void (child = c));
    process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : `\n${formatReport(report)}\n`);
    return report.ok ? 0 : 1;
  } catch (err) {
    if (!(err instanceof CheckError)) throw err;
    process.stderr.write(`codex:check: ${err.message}\n`);
    return err.code;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    cleanup();
  }
}
