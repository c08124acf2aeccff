import { defineConfig } from "vitest/config";

// Tests start real nats-server and codex processes: keep parallelism at the
// machine's two cores and give process start-up room in the timeouts.
export default defineConfig({
  test: {
    include: ["{schemas,machines,services,test,bench,deploy}/**/*.test.ts"],
    exclude: ["node_modules/**", "dist/**"],
    pool: "forks",
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    teardownTimeout: 20_000,
    reporters: ["default", "./test/support/summary-reporter.ts"],
  },
});
