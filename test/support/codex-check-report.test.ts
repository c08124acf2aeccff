import { describe, expect, it } from "vitest";
import type { Drift } from "../../schemas/codex/conformance.js";
import {
  classifyDrift,
  compareNames,
  formatReport,
  globToRegExp,
  groupDrifts,
  parseCheckArgs,
  protocolNames,
  reportOk,
  selectSuites,
  summarizeRun,
  errorLine,
  type RunReport,
  type CheckReport,
  type Interface,
} from "./codex-check-report.js";

const ours = new Map<string, Interface>([
  ["turn/start", "method"],
  ["turn/steer", "method"],
  ["thread/start", "method"],
  ["turn/completed", "notification"],
  ["thread/tokenUsage/updated", "notification"],
  ["item/commandExecution/requestApproval", "server request"],
  ["item/fileChange/requestApproval", "server request"],
]);

describe("arguments", () => {
  it("takes a version and the options", () => {
    expect(parseCheckArgs(["0.169.1"])).toEqual({
      kind: "run",
      args: { version: "0.169.1", suites: [], build: true, keep: false, json: false },
    });
    expect(
      parseCheckArgs([
        "0.172.0-alpha.1",
        "--suites",
        "a,test/e2e/{tui,mcp}*",
        "--suites",
        "b",
        "--no-build",
        "--keep",
        "--json",
      ]),
    ).toEqual({
      kind: "run",
      args: {
        version: "0.172.0-alpha.1",
        suites: ["a", "test/e2e/{tui,mcp}*", "b"],
        build: false,
        keep: true,
        json: true,
      },
    });
    expect(parseCheckArgs(["latest"])).toMatchObject({ kind: "run", args: { version: "latest" } });
    expect(parseCheckArgs(["--help"])).toEqual({ kind: "help" });
    expect(parseCheckArgs(["0.169.1", "-h"])).toEqual({ kind: "help" });
  });

  it("names what is wrong with a typo", () => {
    const error = (argv: string[]) => {
      const r = parseCheckArgs(argv);
      return r.kind === "error" ? r.message : `no error: ${JSON.stringify(r)}`;
    };
    expect(error([])).toBe("missing <version> (e.g. 0.169.1)");
    expect(error(["0.169"])).toBe('"0.169" is not a codex-cli version: expected x.y.z (e.g. 0.169.1) or latest');
    expect(error(["v0.169.1"])).toContain("is not a codex-cli version");
    expect(error(["0.169.1."])).toContain("is not a codex-cli version");
    expect(error(["lastest"])).toContain('"lastest" is not a codex-cli version');
    expect(error(["0.171.0-linux-x64"])).toBe(
      '"0.171.0-linux-x64" is a platform binary\'s version: give the release (e.g. 0.171.0)',
    );
    expect(error(["0.169.1", "0.171.0"])).toBe("one version at a time, got 0.169.1 0.171.0");
    expect(error(["0.169.1", "--frob"])).toBe("unknown option --frob");
    expect(error(["0.169.1", "--suites"])).toContain("--suites");
    expect(error(["0.169.1", "--suites", "a,,b"])).toBe("--suites needs a glob, got an empty one");
  });
});

describe("suites", () => {
  const files = [
    "schemas/codex/conformance.test.ts",
    "test/e2e/codex-app-server.test.ts",
    "test/e2e/mcp.test.ts",
    "test/e2e/tui.test.ts",
    "test/support/tmux.test.ts",
  ];

  it("match globs, exact paths and folders against repo-relative paths", () => {
    expect(globToRegExp("test/e2e/*.test.ts").test("test/e2e/tui.test.ts")).toBe(true);
    expect(globToRegExp("test/*.test.ts").test("test/e2e/tui.test.ts")).toBe(false);
    expect(globToRegExp("**/tui.test.ts").test("test/e2e/tui.test.ts")).toBe(true);
    expect(globToRegExp("test/e2e/t?i.test.ts").test("test/e2e/tui.test.ts")).toBe(true);
    expect(globToRegExp("./test/e2e/tui.test.ts").test("test/e2e/tui.test.ts")).toBe(false);
    expect(selectSuites(["test/e2e/{tui,mcp}*"], files)).toEqual({
      files: ["test/e2e/mcp.test.ts", "test/e2e/tui.test.ts"],
    });
    expect(selectSuites(["test/e2e/", "schemas/codex/conformance.test.ts"], files)).toEqual({
      files: [files[0], files[1], files[2], files[3]],
    });
    expect(selectSuites(["test/e2e/codex-app-server.test.ts"], files)).toEqual({ files: [files[1]] });
  });

  it("name a glob that matches nothing", () => {
    expect(selectSuites(["test/e2e/*", "test/e2e/tuii*"], files)).toEqual({
      error: "--suites test/e2e/tuii* matches no test file",
    });
    expect(selectSuites(["test/{e2e"], files)).toEqual({ error: "glob test/{e2e: unclosed {" });
  });
});

// One drift of each problem checkConformance writes (schemas/codex/conformance.ts).
const drifts: Drift[] = [
  { path: "turn/steer", problem: "method is not in codex's ClientRequest union" },
  { path: "thread/tokenUsage/updated", problem: "notification is not in codex's ServerNotification union" },
  { path: "item/fileChange/requestApproval", problem: "server request is not in codex's ServerRequest union" },
  { path: "thread/start result", problem: "definition ThreadStartResponse is missing" },
  {
    path: "item/commandExecution/requestApproval reply",
    problem: "definition CommandExecutionRequestApprovalResponse is missing",
  },
  { path: "turn/start result.turn.status", problem: "field is missing from codex's schema" },
  { path: "turn/completed params.turn.id", problem: "codex marks this field optional and our schema requires it" },
  { path: "thread/start result.thread.ephemeral", problem: "type changed: we expect boolean, codex has string" },
  { path: "turn/steer params.priority", problem: "codex requires this field and we may omit it" },
  { path: "turn/start params.input[].text", problem: "we may send null here and codex does not accept it" },
  { path: "turn/start result.turn.status", problem: 'codex may send "paused", which our enum rejects' },
  {
    path: "item/commandExecution/requestApproval reply.decision",
    problem: 'value "cancel" is not in codex\'s enum [accept, decline]',
  },
  { path: "turn/completed params.turn.items[]", problem: 'codex may send type "imageView", which our schema rejects' },
  { path: "turn/start params.input[]", problem: 'codex has no variant with type "text"' },
];

describe("drifts", () => {
  it("are sorted into method, notification, server request, field and enum", () => {
    const g = groupDrifts(drifts, ours);
    const paths = (k: keyof typeof g) => g[k].map((d) => `${d.path}: ${d.problem}`);
    expect(paths("method")).toEqual([
      "turn/steer: method is not in codex's ClientRequest union",
      "thread/start result: definition ThreadStartResponse is missing",
    ]);
    expect(paths("notification")).toEqual([
      "thread/tokenUsage/updated: notification is not in codex's ServerNotification union",
    ]);
    expect(paths("server request")).toEqual([
      "item/fileChange/requestApproval: server request is not in codex's ServerRequest union",
      "item/commandExecution/requestApproval reply: definition CommandExecutionRequestApprovalResponse is missing",
    ]);
    expect(g.field.map((d) => d.path)).toEqual([
      "turn/start result.turn.status",
      "turn/completed params.turn.id",
      "thread/start result.thread.ephemeral",
      "turn/steer params.priority",
      "turn/start params.input[].text",
    ]);
    expect(g.enum.map((d) => d.path)).toEqual([
      "turn/start result.turn.status",
      "item/commandExecution/requestApproval reply.decision",
      "turn/completed params.turn.items[]",
      "turn/start params.input[]",
    ]);
  });

  it("say which declaration, part and field each is about", () => {
    expect(classifyDrift(drifts[6]!, ours)).toMatchObject({
      kind: "field",
      name: "turn/completed",
      of: "notification",
      part: "params",
      field: "turn.id",
    });
    expect(classifyDrift(drifts[9]!, ours)).toMatchObject({ part: "params", field: "input[].text", of: "method" });
    expect(classifyDrift(drifts[0]!, ours)).toMatchObject({ kind: "method", part: null, field: "" });
    expect(
      classifyDrift({ path: "x/y params", problem: "codex may send null here and our schema rejects it" }, ours),
    ).toMatchObject({ kind: "field", of: "unknown", part: "params", field: "" });
  });
});

const bundle = (methods: string[], notes: string[], requests: string[]) => {
  const union = (names: string[]) => ({ oneOf: names.map((n) => ({ properties: { method: { enum: [n] } } })) });
  return {
    definitions: {
      ClientRequest: union(methods),
      ServerNotification: union(notes),
      ServerRequest: union(requests),
      v2: {},
    },
  };
};

describe("names the release has", () => {
  const pinned = protocolNames(bundle(["turn/start", "turn/steer", "old/method", "a/b"], ["turn/completed"], []));
  const checked = protocolNames(
    bundle(
      ["turn/start", "turn/steer", "a/b", "thread/fork", "fs/read"],
      ["turn/completed", "thread/tokenUsage/updated", "x/new"],
      ["item/commandExecution/requestApproval", "mcp/elicit"],
    ),
  );

  it("reads the unions' method names, sorted", () => {
    expect(checked.method).toEqual(["a/b", "fs/read", "thread/fork", "turn/start", "turn/steer"]);
    expect(protocolNames({})).toEqual({ method: [], notification: [], "server request": [] });
  });

  it("lists the ones our schemas do not use, new since the pin, and the ones gone", () => {
    expect(compareNames(checked, pinned, ours)).toEqual({
      method: { unusedNew: ["fs/read", "thread/fork"], unusedOld: 1, removed: ["old/method"] },
      notification: { unusedNew: ["x/new"], unusedOld: 0, removed: [] },
      "server request": { unusedNew: ["mcp/elicit"], unusedOld: 0, removed: [] },
    });
    expect(compareNames(checked, null, ours).method).toEqual({
      unusedNew: ["a/b", "fs/read", "thread/fork"],
      unusedOld: 0,
      removed: [],
    });
  });
});

const run: RunReport = {
  files: [
    {
      file: "/repo/test/e2e/tui.test.ts",
      state: "failed",
      errors: [],
      tests: [
        { name: "a human's TUI > shows the thread", state: "passed", errors: [] },
        {
          name: "a human's TUI > steer > steers a running turn",
          state: "failed",
          errors: [{ name: "AssertionError", message: "expected 'idle' to be 'active' // Object.is equality" }],
        },
        {
          name: "a human's TUI > times out",
          state: "failed",
          errors: [
            { name: "Error", message: "Test timed out in 60000ms.\nIf this is a long-running test, pass a timeout" },
          ],
        },
      ],
    },
    {
      file: "/repo/test/e2e/mcp.test.ts",
      state: "failed",
      errors: [{ name: "Error", message: "codex app-server (unix): did not start\nstderr: ..." }],
      tests: [
        { name: "lists sessions", state: "skipped", errors: [] },
        { name: "sends", state: "skipped", errors: [] },
      ],
    },
    {
      file: "/repo/test/e2e/claws.test.ts",
      state: "failed",
      errors: [{ name: "Error", message: "gateway did not start", suite: "two Claws" }],
      tests: [{ name: "two Claws > share", state: "skipped", errors: [] }],
    },
    {
      file: "/repo/test/e2e/fleet.test.ts",
      state: "failed",
      errors: [],
      tests: [{ name: "fleet > lists", state: "passed", errors: [] }],
    },
    {
      file: "/repo/schemas/codex/conformance.test.ts",
      state: "passed",
      errors: [],
      tests: [{ name: "conforms", state: "passed", errors: [] }],
    },
  ],
  unhandled: [{ name: "TypeError", message: "Cannot read properties of undefined (reading 'stop')" }],
};

describe("the test report", () => {
  it("gives each failed test (file > name: first line of its error), errors outside tests and unhandled errors", () => {
    expect(summarizeRun(run, "/repo")).toEqual({
      files: 5,
      passed: 3,
      failed: 2,
      skipped: 3,
      failures: [
        {
          file: "test/e2e/tui.test.ts",
          name: "a human's TUI > steer > steers a running turn",
          error: "AssertionError: expected 'idle' to be 'active' // Object.is equality",
        },
        { file: "test/e2e/tui.test.ts", name: "a human's TUI > times out", error: "Error: Test timed out in 60000ms." },
        { file: "test/e2e/mcp.test.ts", name: "(file)", error: "Error: codex app-server (unix): did not start" },
        { file: "test/e2e/claws.test.ts", name: "two Claws", error: "Error: gateway did not start" },
        {
          file: "test/e2e/fleet.test.ts",
          name: "(file)",
          error: "failed without an error in the report: see vitest's output",
        },
        { file: "(run)", name: "unhandled", error: "TypeError: Cannot read properties of undefined (reading 'stop')" },
      ],
    });
  });

  it("keeps an assertion's verdict when a custom message comes first, and clips long lines", () => {
    const custom =
      "WARNING - Installing plugin from local path\nmore output\n: expected 'SIGKILL' to be +0 // Object.is equality";
    expect(errorLine({ name: "AssertionError", message: custom })).toBe(
      "AssertionError: WARNING - Installing plugin from local path … : expected 'SIGKILL' to be +0 // Object.is equality",
    );
    expect(errorLine({ name: "Error", message: "" })).toBe("Error: (no message)");
    const long = errorLine({ name: "Error", message: "x".repeat(500) });
    expect(long).toBe(`Error: ${"x".repeat(239)}…`);
  });

  it("names what is wrong with a report it cannot read", () => {
    expect(() => summarizeRun({ files: [] }, "/repo")).toThrow(
      "the test report is not what codex:check reads: unhandled",
    );
  });
});

describe("the report", () => {
  const base = (over: Partial<CheckReport>): CheckReport => {
    const r: CheckReport = {
      version: "0.171.0",
      codexVersion: "0.171.0",
      pinnedVersion: "0.169.0",
      drifts: groupDrifts([], ours),
      driftCount: 0,
      names: compareNames(
        protocolNames(bundle(["turn/start", "fs/read"], [], [])),
        protocolNames(bundle(["turn/start"], [], [])),
        ours,
      ),
      tests: { files: 1, passed: 1, failed: 0, skipped: 0, failures: [] },
      testsError: null,
      suites: ["schemas/codex/conformance.test.ts"],
      prefix: null,
      ok: true,
      ...over,
    };
    return { ...r, ok: reportOk(r) };
  };

  it("passes with no drift and no failed test", () => {
    const r = base({});
    expect(r.ok).toBe(true);
    const text = formatReport(r);
    expect(text).toContain("codex:check 0.171.0: codex-cli 0.171.0 (pinned: 0.169.0)");
    expect(text).toContain("Schema drift: none");
    expect(text).toContain("  methods, new since 0.169.0: fs/read; 0 more already in 0.169.0");
    expect(text).toContain("Tests (1 files): 1 passed, 0 failed, 0 skipped");
    expect(text.split("\n").at(-1)).toBe("OK: codex 0.171.0 matches our schemas and passes the suites run");
  });

  it("lists drifts under their kind and failed tests, and fails", () => {
    const tests = summarizeRun(run, "/repo");
    const r = base({ drifts: groupDrifts(drifts.slice(5, 7), ours), driftCount: 2, tests });
    expect(r.ok).toBe(false);
    const text = formatReport(r);
    expect(text).toContain(
      [
        "Schema drift: 2",
        "  fields (2)",
        "    - turn/start result.turn.status: field is missing from codex's schema",
        "    - turn/completed params.turn.id: codex marks this field optional and our schema requires it",
      ].join("\n"),
    );
    expect(text).not.toContain("enum values (");
    expect(text).toContain(
      "  FAIL test/e2e/tui.test.ts > a human's TUI > steer > steers a running turn: AssertionError: expected 'idle' to be 'active'",
    );
    expect(text).toContain("  FAIL test/e2e/mcp.test.ts > (file): Error: codex app-server (unix): did not start");
    expect(text).toContain("  FAIL (run) > unhandled: TypeError: Cannot read properties of undefined (reading 'stop')");
    expect(text).toContain("Tests (5 files): 3 passed, 2 failed, 3 skipped");
    expect(text.split("\n").at(-1)).toBe("FAILED: 2 drift(s), 6 test failure(s)");
  });

  it("fails when the tests did not complete, and passes with no suite run", () => {
    const incomplete = base({ tests: null, testsError: "vitest exited 1 without a report" });
    expect(incomplete.ok).toBe(false);
    expect(formatReport(incomplete)).toContain("Tests: did not complete: vitest exited 1 without a report");
    expect(formatReport(incomplete).split("\n").at(-1)).toBe(
      "FAILED: 0 drift(s), 0 test failure(s), tests did not complete",
    );
    const failedOnly = base({ tests: { files: 1, passed: 0, failed: 1, skipped: 0, failures: [] } });
    expect(failedOnly.ok).toBe(false);
    expect(base({ suites: [], tests: null }).ok).toBe(true);
    expect(base({ driftCount: 1, drifts: groupDrifts(drifts.slice(0, 1), ours) }).ok).toBe(false);
  });
});
