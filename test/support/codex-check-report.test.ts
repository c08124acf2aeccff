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
  summarizeVitest,
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

const vitestJson = {
  numTotalTests: 5,
  numPassedTests: 2,
  numFailedTests: 1,
  numPendingTests: 2,
  numTodoTests: 0,
  success: false,
  testResults: [
    {
      name: "/repo/test/e2e/tui.test.ts",
      status: "failed",
      message: "",
      assertionResults: [
        { ancestorTitles: ["a human's TUI"], title: "shows the thread", status: "passed", failureMessages: [] },
        {
          ancestorTitles: ["a human's TUI", "steer"],
          title: "steers a running turn",
          status: "failed",
          failureMessages: ["\n  AssertionError: expected 'idle' to be 'active'\n    at tui.test.ts:40:3"],
        },
      ],
    },
    {
      name: "/repo/test/e2e/mcp.test.ts",
      status: "failed",
      message: "codex app-server (unix): did not start\nstderr: ...",
      assertionResults: [
        { ancestorTitles: [], title: "lists sessions", status: "skipped", failureMessages: [] },
        { ancestorTitles: [], title: "sends", status: "skipped", failureMessages: null },
      ],
    },
    {
      name: "/repo/schemas/codex/conformance.test.ts",
      status: "passed",
      message: "",
      assertionResults: [{ ancestorTitles: [], title: "conforms", status: "passed", failureMessages: [] }],
    },
  ],
};

describe("vitest's JSON report", () => {
  it("gives each failed test (file > name: first line of its error) and files that failed outside a test", () => {
    expect(summarizeVitest(vitestJson, "/repo")).toEqual({
      files: 3,
      passed: 2,
      failed: 1,
      skipped: 2,
      success: false,
      failures: [
        {
          file: "test/e2e/tui.test.ts",
          name: "a human's TUI > steer > steers a running turn",
          error: "AssertionError: expected 'idle' to be 'active'",
        },
        { file: "test/e2e/mcp.test.ts", name: "(file)", error: "codex app-server (unix): did not start" },
      ],
    });
  });

  it("names what is wrong with a report it cannot read", () => {
    expect(() => summarizeVitest({ testResults: [] }, "/repo")).toThrow(
      "vitest's JSON report is not what codex:check reads: numTotalTests",
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
      tests: { files: 1, passed: 1, failed: 0, skipped: 0, failures: [], success: true },
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
    const tests = summarizeVitest(vitestJson, "/repo");
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
    expect(text).toContain("  FAIL test/e2e/mcp.test.ts > (file): codex app-server (unix): did not start");
    expect(text.split("\n").at(-1)).toBe("FAILED: 2 drift(s), 2 failed test(s)");
  });

  it("fails when the tests did not complete or vitest failed outside a test, and passes with no suite run", () => {
    expect(base({ tests: null, testsError: "vitest exited 1 without a report" }).ok).toBe(false);
    expect(formatReport(base({ tests: null, testsError: "vitest exited 1 without a report" }))).toContain(
      "Tests: did not complete: vitest exited 1 without a report",
    );
    const outside = base({ tests: { files: 1, passed: 1, failed: 0, skipped: 0, failures: [], success: false } });
    expect(outside.ok).toBe(false);
    expect(formatReport(outside)).toContain("vitest reported an error outside the tests");
    expect(base({ suites: [], tests: null }).ok).toBe(true);
    expect(base({ driftCount: 1, drifts: groupDrifts(drifts.slice(0, 1), ours) }).ok).toBe(false);
  });
});
