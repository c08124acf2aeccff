/**
 * The vitest reporter `npm run codex:check` adds to a run: writes every module's state, its own and its suites'
 * errors (a failed beforeAll, an import error), each test's state and errors (name and message, not vitest's
 * JSON reporter's stack, which for a timeout starts "Error: STACK_TRACE_ERROR") and the unhandled errors, as JSON
 * into the file CODEX_CHECK_REPORT names. codex-check-report.ts reads it (RunReport).
 */
import { writeFileSync } from "node:fs";
import type { Reporter, TestModule } from "vitest/node";

export const REPORT_FILE_ENV = "CODEX_CHECK_REPORT";

interface ErrorLike {
  name?: string;
  message?: string;
}

const brief = (e: ErrorLike): { name: string; message: string } => ({
  name: e.name ?? "Error",
  message: e.message ?? "",
});

/** Writes the run's report to $CODEX_CHECK_REPORT; does nothing when it is not set. */
export default class CodexCheckReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<ErrorLike>): void {
    const file = process.env[REPORT_FILE_ENV];
    if (!file) return;
    const files = testModules.map((m) => ({
      file: m.moduleId,
      state: m.state(),
      errors: [
        ...m.errors().map(brief),
        ...[...m.children.allSuites()].flatMap((s) => s.errors().map((e) => ({ ...brief(e), suite: s.fullName }))),
      ],
      tests: [...m.children.allTests()].map((t) => {
        const r = t.result();
        return { name: t.fullName, state: r.state, errors: (r.errors ?? []).map(brief) };
      }),
    }));
    writeFileSync(file, JSON.stringify({ files, unhandled: unhandledErrors.map(brief) }, null, 2));
  }
}
