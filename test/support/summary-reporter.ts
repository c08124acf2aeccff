/**
 * Ends a vitest run with the plain line `Tests: N passed, N failed, N skipped`, which CI reads as the
 * run's result whatever the runner. Failed modules (a file that cannot load) count as failed tests.
 */
import type { Reporter, TestModule } from "vitest/node";

/** A vitest reporter that prints one summary line last. */
export default class SummaryLineReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = unhandledErrors.length;
    let skipped = 0;
    for (const module of testModules) {
      if (module.state() === "failed" && [...module.children.allTests()].length === 0) failed++;
      for (const test of module.children.allTests()) {
        const state = test.result().state;
        if (state === "passed") passed++;
        else if (state === "failed") failed++;
        else skipped++;
      }
    }
    process.stdout.write(`\nTests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
