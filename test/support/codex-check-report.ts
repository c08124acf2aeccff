/**
 * The pure half of `npm run codex:check -- <version>` (test/support/codex-check.ts runs it): its arguments, the
 * drifts grouped by kind, what a codex release's schema has that ours does not use, the failed tests read from
 * vitest's JSON report, and the report as text or JSON. No I/O here, so the unit test needs neither npm nor codex.
 */
import { parseArgs } from "node:util";
import { z } from "zod";
import type { Drift } from "../../schemas/codex/conformance.js";

export const USAGE = `usage: npm run codex:check -- <version> [options]

Installs @openai/codex@<version> into a temporary prefix, generates its app-server JSON schema, compares it with
our schemas (schemas/codex), then runs the conformance test and the end-to-end suites that start codex against
that binary (CLAW_CODEX_BIN). Prints what drifted (method, notification, server request, field, enum), what the
release has that our schemas do not use, and which tests failed. Exit 0: no drift, no failed test; 1: drift or
failure; 2: bad arguments or a version the registry does not have.

  <version>          a codex-cli release: 0.169.1, 0.172.0-alpha.1, or latest
  --suites <glob>    run only these test files (repeatable or comma-separated; globs match repo-relative
                     paths, e.g. 'test/e2e/codex-app-server.test.ts' or 'test/e2e/{tui,mcp}*'); default: the
                     conformance test and every test/e2e suite that starts codex
  --no-build         do not run 'npm run build' first (the CLI-spawning suites need an up-to-date dist/)
  --keep             keep the temporary prefix (the binary, the generated schemas, the test report)
  --json             print the report as JSON on stdout (progress and vitest output go to stderr)
  -h, --help         this text`;

/** A codex-cli release as npm names it: x.y.z with an optional prerelease, or the dist-tag `latest`. */
export const CodexVersion = z
  .string()
  .refine((v) => !/^\d+\.\d+\.\d+-(linux|darwin|win32)-/.test(v), {
    error: (i) =>
      `"${String(i.input)}" is a platform binary's version: give the release (e.g. ${String(i.input).split("-")[0]})`,
  })
  .refine((v) => v === "latest" || /^\d+\.\d+\.\d+(-[0-9A-Za-z][0-9A-Za-z.-]*)?$/.test(v), {
    error: (i) => `"${String(i.input)}" is not a codex-cli version: expected x.y.z (e.g. 0.169.1) or latest`,
  });

export interface CheckArgs {
  version: string;
  /** Globs naming the test files to run; empty: the default set. */
  suites: string[];
  build: boolean;
  keep: boolean;
  json: boolean;
}

export type ParsedArgs = { kind: "help" } | { kind: "run"; args: CheckArgs } | { kind: "error"; message: string };

/** Parses the command line (after `--`); an error names what is wrong and is meant to be printed with the usage. */
export function parseCheckArgs(argv: readonly string[]): ParsedArgs {
  let parsed: ReturnType<typeof parseOptions>;
  try {
    parsed = parseOptions(argv);
  } catch (err) {
    const e = err as Error & { code?: string };
    const option = /'([^']+)'/.exec(e.message)?.[1];
    if (e.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && option)
      return { kind: "error", message: `unknown option ${option}` };
    return { kind: "error", message: e.message };
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: "help" };
  if (positionals.length === 0) return { kind: "error", message: "missing <version> (e.g. 0.169.1)" };
  if (positionals.length > 1) return { kind: "error", message: `one version at a time, got ${positionals.join(" ")}` };
  const version = CodexVersion.safeParse(positionals[0]);
  if (!version.success) return { kind: "error", message: version.error.issues[0]?.message ?? "bad version" };
  const suites = (values.suites ?? []).flatMap(splitGlobs).map((s) => s.trim());
  if (suites.some((s) => s === "")) return { kind: "error", message: "--suites needs a glob, got an empty one" };
  return {
    kind: "run",
    args: { version: version.data, suites, build: !values["no-build"], keep: !!values.keep, json: !!values.json },
  };
}

/** Splits a comma-separated list of globs at the commas outside `{...}`. */
function splitGlobs(list: string): string[] {
  const out = [""];
  let depth = 0;
  for (const c of list) {
    if (c === "{") depth++;
    else if (c === "}") depth = Math.max(0, depth - 1);
    if (c === "," && depth === 0) out.push("");
    else out[out.length - 1] += c;
  }
  return out;
}

const parseOptions = (argv: readonly string[]) =>
  parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      suites: { type: "string", multiple: true },
      "no-build": { type: "boolean" },
      keep: { type: "boolean" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });

/**
 * A glob over repo-relative paths as a RegExp: `**` any depth, `*` and `?` within one segment, `{a,b}`
 * alternatives. A glob without a wildcard also matches a file under it when it names a folder.
 */
export function globToRegExp(glob: string): RegExp {
  let out = "";
  let braces = 0;
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === "*" && glob[i + 1] === "*") {
      const slash = glob[i + 2] === "/";
      out += slash ? "(?:.*/)?" : ".*";
      i += slash ? 2 : 1;
    } else if (c === "*") out += "[^/]*";
    else if (c === "?") out += "[^/]";
    else if (c === "{") {
      braces++;
      out += "(?:";
    } else if (c === "}" && braces > 0) {
      braces--;
      out += ")";
    } else if (c === "," && braces > 0) out += "|";
    else out += c.replace(/[.+^$(){}|[\]\\]/g, "\\$&");
  }
  if (braces > 0) throw new Error(`glob ${glob}: unclosed {`);
  const folder = /[*?{]/.test(glob) ? "" : "(?:/.*)?";
  return new RegExp(`^(?:\\./)?${out.replace(/\/$/, "")}${folder}$`);
}

/** The candidate files the globs match (each glob must match one at least), in the candidates' order. */
export function selectSuites(
  globs: readonly string[],
  candidates: readonly string[],
): { files: string[] } | { error: string } {
  const matched = new Set<string>();
  for (const glob of globs) {
    let re: RegExp;
    try {
      re = globToRegExp(glob);
    } catch (err) {
      return { error: (err as Error).message };
    }
    const hits = candidates.filter((f) => re.test(f));
    if (hits.length === 0) return { error: `--suites ${glob} matches no test file` };
    for (const h of hits) matched.add(h);
  }
  return { files: candidates.filter((f) => matched.has(f)) };
}

/** What a drift is about: a whole method, notification or server request, one field, or an enum (or tag) value. */
export const DRIFT_KINDS = ["method", "notification", "server request", "field", "enum"] as const;
export type DriftKind = (typeof DRIFT_KINDS)[number];
export type Interface = "method" | "notification" | "server request";

export interface ClassifiedDrift extends Drift {
  kind: DriftKind;
  /** The method, notification or server request it belongs to. */
  name: string;
  /** Which of our declarations names it: method, notification or server request. */
  of: Interface | "unknown";
  /** params, result or reply; null for a whole interface that is missing. */
  part: "params" | "result" | "reply" | null;
  /** The field path inside the part (e.g. `turn.status`), "" for the part itself. */
  field: string;
}

const WHOLE: Record<string, Interface> = {
  "method is not in codex's ClientRequest union": "method",
  "notification is not in codex's ServerNotification union": "notification",
  "server request is not in codex's ServerRequest union": "server request",
};

const isEnumProblem = (problem: string): boolean =>
  /codex's enum|which our enum rejects|which our schema rejects|has no variant with/.test(problem);

/** Sorts a drift into its kind from the path and problem checkConformance writes; `ours` says what each name is. */
export function classifyDrift(drift: Drift, ours: ReadonlyMap<string, Interface>): ClassifiedDrift {
  const space = drift.path.indexOf(" ");
  const name = space < 0 ? drift.path : drift.path.slice(0, space);
  const rest = space < 0 ? "" : drift.path.slice(space + 1);
  const m = /^(params|result|reply)(?:\.|\[\]|\{\})?(.*)$/.exec(rest);
  const part = (m?.[1] as ClassifiedDrift["part"]) ?? null;
  const field = m ? rest.slice(part!.length).replace(/^\./, "") : rest;
  const whole = WHOLE[drift.problem];
  const of = whole ?? ours.get(name) ?? "unknown";
  let kind: DriftKind;
  if (whole) kind = whole;
  else if (/^definition \S+ is missing$/.test(drift.problem)) kind = of === "unknown" ? "method" : of;
  else if (isEnumProblem(drift.problem)) kind = "enum";
  else kind = "field";
  return { ...drift, kind, name, of, part, field };
}

export type GroupedDrifts = Record<DriftKind, ClassifiedDrift[]>;

export function groupDrifts(drifts: readonly Drift[], ours: ReadonlyMap<string, Interface>): GroupedDrifts {
  const out = Object.fromEntries(DRIFT_KINDS.map((k) => [k, [] as ClassifiedDrift[]])) as GroupedDrifts;
  for (const d of drifts) {
    const c = classifyDrift(d, ours);
    out[c.kind].push(c);
  }
  return out;
}

/** The method names of the bundle's ClientRequest, ServerNotification and ServerRequest unions. */
export interface ProtocolNames {
  method: string[];
  notification: string[];
  "server request": string[];
}

const UNIONS: Record<Interface, string> = {
  method: "ClientRequest",
  notification: "ServerNotification",
  "server request": "ServerRequest",
};

/** Reads the names out of a generated bundle (`codex_app_server_protocol.schemas.json`); missing unions are empty. */
export function protocolNames(bundle: unknown): ProtocolNames {
  const defs = ((bundle as { definitions?: Record<string, unknown> })?.definitions ?? {}) as Record<string, unknown>;
  const v2 = (defs.v2 ?? {}) as Record<string, unknown>;
  const namesOf = (union: string): string[] => {
    const u = (v2[union] ?? defs[union]) as { oneOf?: unknown[] } | undefined;
    const names = (u?.oneOf ?? []).map(
      (v) => (v as { properties?: { method?: { enum?: unknown[] } } }).properties?.method?.enum?.[0],
    );
    return [...new Set(names.filter((n): n is string => typeof n === "string"))].sort();
  };
  return {
    method: namesOf(UNIONS.method),
    notification: namesOf(UNIONS.notification),
    "server request": namesOf(UNIONS["server request"]),
  };
}

/** For one kind of interface: what the checked release has that we do not declare, and its changes since the pin. */
export interface NameChanges {
  /** In the checked release, not in our schemas, and new since the pinned release (all of them without a pin). */
  unusedNew: string[];
  /** How many others the checked release has that our schemas do not use (they were in the pinned release too). */
  unusedOld: number;
  /** In the pinned release and gone from the checked one (ones we use are drifts as well). */
  removed: string[];
}

export type NamesReport = Record<Interface, NameChanges>;

/** Compares the checked release's names with ours and with the pinned release's (null: no pinned schema to compare). */
export function compareNames(
  checked: ProtocolNames,
  pinned: ProtocolNames | null,
  ours: ReadonlyMap<string, Interface>,
): NamesReport {
  const out = {} as NamesReport;
  for (const kind of ["method", "notification", "server request"] as const) {
    const before = new Set(pinned?.[kind] ?? []);
    const now = new Set(checked[kind]);
    const unused = checked[kind].filter((n) => ours.get(n) !== kind);
    out[kind] = {
      unusedNew: unused.filter((n) => !pinned || !before.has(n)),
      unusedOld: pinned ? unused.filter((n) => before.has(n)).length : 0,
      removed: [...before].filter((n) => !now.has(n)).sort(),
    };
  }
  return out;
}

const ErrorBrief = z.object({ name: z.string(), message: z.string(), suite: z.string().optional() });

/** What test/support/codex-check-reporter.ts writes: each module, its tests and errors, and unhandled errors. */
export const RunReport = z.object({
  files: z.array(
    z.object({
      file: z.string(),
      state: z.string(),
      errors: z.array(ErrorBrief),
      tests: z.array(z.object({ name: z.string(), state: z.string(), errors: z.array(ErrorBrief) })),
    }),
  ),
  unhandled: z.array(ErrorBrief),
});
export type RunReport = z.infer<typeof RunReport>;

export interface TestFailure {
  /** Repo-relative test file; "(run)" for an unhandled error. */
  file: string;
  /** `describe > it`; "(file)" for an error outside any test (an import, a module hook), the suite's name for a suite hook. */
  name: string;
  /** The error's first line (with the assertion's last line when a custom message comes first). */
  error: string;
}

export interface TestSummary {
  files: number;
  passed: number;
  failed: number;
  skipped: number;
  failures: TestFailure[];
}

const MAX_LINE = 240;
const clip = (line: string): string => (line.length > MAX_LINE ? `${line.slice(0, MAX_LINE - 1)}…` : line);

/**
 * One line for an error: `Name: first line of the message`. An assertion whose message starts with a custom text
 * (a process's output, say) keeps its verdict too: `first line … expected 'SIGKILL' to be +0`.
 */
export function errorLine(e: { name: string; message: string }): string {
  const lines = e.message
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const first = lines[0] ?? "(no message)";
  const last = lines.at(-1);
  const verdict =
    lines.length > 1 && last && /\bexpected\b/.test(last) && !/\bexpected\b/.test(first) ? ` … ${clip(last)}` : "";
  return `${e.name}: ${clip(first)}${verdict}`;
}

/** Counts and failures of a run; `root` makes file names repo-relative. Throws naming what is wrong with a bad report. */
export function summarizeRun(json: unknown, root: string): TestSummary {
  const parsed = RunReport.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`the test report is not what codex:check reads: ${issue?.path.join(".")}: ${issue?.message}`);
  }
  const prefix = root.endsWith("/") ? root : `${root}/`;
  const summary: TestSummary = { files: parsed.data.files.length, passed: 0, failed: 0, skipped: 0, failures: [] };
  for (const file of parsed.data.files) {
    const rel = file.file.startsWith(prefix) ? file.file.slice(prefix.length) : file.file;
    for (const e of file.errors) summary.failures.push({ file: rel, name: e.suite ?? "(file)", error: errorLine(e) });
    for (const t of file.tests) {
      if (t.state === "passed") summary.passed++;
      else if (t.state === "failed") {
        summary.failed++;
        summary.failures.push({ file: rel, name: t.name, error: t.errors[0] ? errorLine(t.errors[0]) : "(no error)" });
      } else summary.skipped++;
    }
    if (file.state === "failed" && !summary.failures.some((f) => f.file === rel)) {
      summary.failures.push({
        file: rel,
        name: "(file)",
        error: "failed without an error in the report: see vitest's output",
      });
    }
  }
  for (const e of parsed.data.unhandled)
    summary.failures.push({ file: "(run)", name: "unhandled", error: errorLine(e) });
  return summary;
}

export interface CheckReport {
  version: string;
  codexVersion: string;
  pinnedVersion: string | null;
  drifts: GroupedDrifts;
  driftCount: number;
  names: NamesReport;
  /** null when no test ran (none selected) or vitest left no report (then `testsError` says why). */
  tests: TestSummary | null;
  testsError: string | null;
  /** Test files run. */
  suites: string[];
  /** The temporary prefix, when kept (--keep). */
  prefix: string | null;
  ok: boolean;
}

/** Whether the check passed: no drift, and the tests ran and none failed. */
export function reportOk(r: Pick<CheckReport, "driftCount" | "tests" | "testsError" | "suites">): boolean {
  if (r.driftCount > 0 || r.testsError) return false;
  if (r.suites.length === 0) return true;
  return !!r.tests && r.tests.failures.length === 0 && r.tests.failed === 0;
}

const HEADINGS: Record<DriftKind, string> = {
  method: "methods",
  notification: "notifications",
  "server request": "server requests",
  field: "fields",
  enum: "enum values",
};

/** The report as the lines a person reads. */
export function formatReport(r: CheckReport): string {
  const lines: string[] = [];
  const pin = r.pinnedVersion ? ` (pinned: ${r.pinnedVersion})` : "";
  lines.push(`codex:check ${r.version}: codex-cli ${r.codexVersion}${pin}`, "");
  lines.push(r.driftCount === 0 ? "Schema drift: none" : `Schema drift: ${r.driftCount}`);
  for (const kind of DRIFT_KINDS) {
    const list = r.drifts[kind];
    if (list.length === 0) continue;
    lines.push(`  ${HEADINGS[kind]} (${list.length})`);
    for (const d of list) lines.push(`    - ${d.path}: ${d.problem}`);
  }
  lines.push("", "Not used by our schemas (informational):");
  for (const kind of ["method", "notification", "server request"] as const) {
    const n = r.names[kind];
    const since = r.pinnedVersion ? `new since ${r.pinnedVersion}` : "all";
    const list = n.unusedNew.length === 0 ? "none" : n.unusedNew.join(", ");
    const old = r.pinnedVersion ? `; ${n.unusedOld} more already in ${r.pinnedVersion}` : "";
    lines.push(`  ${HEADINGS[kind]}, ${since}: ${list}${old}`);
    if (n.removed.length > 0)
      lines.push(`  ${HEADINGS[kind]} removed since ${r.pinnedVersion}: ${n.removed.join(", ")}`);
  }
  lines.push("");
  if (r.suites.length === 0) lines.push("Tests: none selected");
  else if (r.testsError) lines.push(`Tests: did not complete: ${r.testsError}`);
  else if (r.tests) {
    const t = r.tests;
    lines.push(`Tests (${t.files} files): ${t.passed} passed, ${t.failed} failed, ${t.skipped} skipped`);
    for (const f of t.failures) lines.push(`  FAIL ${f.file} > ${f.name}: ${f.error}`);
  }
  lines.push(
    "",
    r.ok
      ? `OK: codex ${r.codexVersion} matches our schemas and passes the suites run`
      : `FAILED: ${r.driftCount} drift(s), ${r.tests?.failures.length ?? 0} test failure(s)${r.testsError ? ", tests did not complete" : ""}`,
  );
  if (r.prefix) lines.push(`kept: ${r.prefix}`);
  return lines.join("\n");
}
