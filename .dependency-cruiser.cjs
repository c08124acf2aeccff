/**
 * The layering of the supervisor, checked by dependency-cruiser in `npm test` (`npm run lint:deps`), so a
 * change that crosses a boundary is named at once. The layout is ../shared/docs/architecture.md's:
 *
 *   schemas/, machines/            pure shapes and machines: no I/O at all
 *   services/bus/, codex-rpc/      shared libraries every service builds on (bus: the only JetStream code)
 *   services/clients/              request/reply clients several callers share (commands, registry queries,
 *                                  finding the running stack, the version)
 *   services/<service>/            one service each; they talk only over the bus, never import each other
 *   services/stack/                the composition root: starts the local stack, imports every service
 *   services/cli/                  the `claw-supervisor` command: entry points of the services and the stack
 *
 * Tests (`*.test.ts`, `services/<x>/test-*.ts` rigs, `test/`) and benchmarks (`bench/`) may import whatever
 * they exercise, so most rules leave them out.
 * @type {import("dependency-cruiser").IConfiguration}
 */

/** Test code: unit tests beside their code, the per-service test rigs, and the shared test tree. */
const TESTS = ["\\.test\\.ts$", "^services/[^/]+/test-[^/]+\\.ts$", "^test/", "^vitest\\.config\\.ts$"];
const BENCH = ["^bench/"];

/**
 * Each service folder, and who besides itself, the composition root (services/stack/), tests and benches may
 * import it: its entry points, with the reason each is one.
 */
const SERVICES = {
  "rpc-gateway": {
    "^services/cli/service\\.ts$": "`service gateway` runs it",
    "^services/cli/token\\.ts$": "`token create|revoke|list` administers the gateway's host-token store",
  },
  registry: {
    "^services/cli/service\\.ts$": "`service registry` runs it",
    "^services/cli/audit\\.ts$": "`audit replay` runs the registry's fold offline over the recorded events",
    "^services/dashboard/server/audit-routes\\.ts$":
      "the dashboard's replay check (/api/audit/replay) runs the registry's pure fold (replay.ts) offline, as `audit replay` does",
  },
  policy: {
    "^services/cli/service\\.ts$": "`service policy` runs it",
  },
  "mcp-edge": {
    "^services/cli/service\\.ts$": "`service mcp-edge` runs it",
    "^services/cli/mcp\\.ts$": "`mcp` serves it over stdio and `mcp-config` prints its client config",
  },
  "host-agent": {
    "^services/cli/host-agent\\.ts$": "`host-agent` runs it",
    "^services/cli/launch\\.ts$": "`launch` is the host agent's login launcher",
  },
  // The plugin's entry point is services/claw/index.ts (package.json openclaw.extensions), inside the folder.
  claw: {},
  dashboard: {
    "^services/cli/service\\.ts$": "`service dashboard` runs it",
  },
};

const serviceRules = Object.entries(SERVICES).map(([name, entryPoints]) => ({
  name: `only-entry-points-import-${name}`,
  comment:
    `services/${name}/ is imported only by itself, the composition root, its entry points ` +
    `(${Object.values(entryPoints).join("; ") || "none outside the folder"}) and tests: services talk over the ` +
    "bus, so one service reaching into another's files couples their releases and hides a bus contract." +
    (name === "policy"
      ? " Exception: policy/decide.ts, the pure policy decision, may be imported by anyone (`policy check` gives " +
        "the very answer the service would); rule policy-decide-is-pure keeps it free of I/O."
      : ""),
  severity: "error",
  from: {
    pathNot: [`^services/${name}/`, "^services/stack/", ...Object.keys(entryPoints), ...TESTS, ...BENCH],
  },
  to: {
    path: `^services/${name}/`,
    ...(name === "policy" ? { pathNot: ["^services/policy/decide\\.ts$"] } : {}),
  },
}));

module.exports = {
  forbidden: [
    ...serviceRules,
    {
      name: "policy-decide-is-pure",
      comment:
        "services/policy/decide.ts is the one service file anyone may import (rule only-entry-points-import-policy), " +
        "because it is pure: it may import only schemas/, so importing it never drags the policy service's I/O along.",
      severity: "error",
      from: { path: "^services/policy/decide\\.ts$" },
      to: { pathNot: ["^schemas/"] },
    },
    {
      name: "only-up-and-embedded-mode-import-the-stack",
      comment:
        "services/stack/ starts every service in one process; only `claw-supervisor up` (cli/up.ts) and the Claw " +
        "plugin's embedded mode (claw/fleet-service.ts) start it, so nothing else pulls the whole supervisor in.",
      severity: "error",
      from: {
        pathNot: [
          "^services/stack/",
          "^services/cli/up\\.ts$",
          "^services/claw/fleet-service\\.ts$",
          ...TESTS,
          ...BENCH,
        ],
      },
      to: { path: "^services/stack/" },
    },
    {
      name: "nothing-imports-the-cli",
      comment:
        "services/cli/ is the top of the house: it words things for a terminal (CliError, exit codes) and imports " +
        "the services it runs; a service or client that imports it inverts the layering (put what is shared in " +
        "services/clients/).",
      severity: "error",
      from: { pathNot: ["^services/cli/", ...TESTS, ...BENCH] },
      to: { path: "^services/cli/" },
    },
    {
      name: "clients-import-no-service",
      comment:
        "services/clients/ is what every caller may import; if it imported a service folder, the CLI, or the " +
        "stack, every caller would depend on that service's internals through it. Clients build on schemas/ and " +
        "the shared libraries only.",
      severity: "error",
      from: { path: "^services/clients/", pathNot: TESTS },
      to: {
        path: "^services/(rpc-gateway|registry|policy|mcp-edge|claw|host-agent|dashboard|cli|stack)/",
      },
    },
    {
      name: "shared-libraries-import-no-service",
      comment:
        "services/bus/ and services/codex-rpc/ are libraries every service builds on; importing a service, a client, " +
        "the CLI or the stack from them would make a cycle between layers.",
      severity: "error",
      from: { path: "^services/(bus|codex-rpc|ops)/", pathNot: TESTS },
      to: { path: "^services/", pathNot: ["^services/(bus|codex-rpc|ops)/"] },
    },
    {
      name: "pure-core-has-no-io",
      comment:
        "schemas/ and machines/ are pure (style.md 1-2): replay folds machines with transition() and no I/O, so " +
        "they import no service, no NATS client, no ws and no Node.js core module (file system, network, processes, " +
        "timers, workers).",
      severity: "error",
      from: { path: "^(schemas|machines)/", pathNot: TESTS },
      to: {
        path: ["^services/", "^node_modules/(@nats-io|ws)/", "^(node:)?(fs|fs/promises|net)$"],
      },
    },
    {
      name: "pure-core-uses-no-node-core-module",
      comment:
        "schemas/ and machines/ run wherever a fold runs (the registry, replay, a browser someday): any Node.js " +
        "core module there (child_process, http, os, timers, worker_threads...) would be I/O or a platform tie.",
      severity: "error",
      from: { path: "^(schemas|machines)/", pathNot: TESTS },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "jetstream-only-in-bus",
      comment:
        "services/bus/ is the only place that knows JetStream (architecture.md): it offers the bucket, stream and " +
        "consumer operations the services need and classifies JetStream errors by code in one place. Tests may " +
        "inspect streams directly; bench/jetstream-ceiling.ts measures raw JetStream as the baseline.",
      severity: "error",
      from: { pathNot: ["^services/bus/", "^bench/jetstream-ceiling\\.ts$", ...TESTS] },
      to: { path: "^node_modules/@nats-io/(jetstream|kv)/" },
    },
    {
      name: "no-circular",
      comment:
        "A cycle means two modules cannot be understood, tested or loaded apart; the import order at startup " +
        "then decides which sees the other half-initialised.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "no-test-code-in-production",
      comment:
        "Shipped code (everything compiled into dist/ except benchmarks) must not import tests, test rigs or " +
        "test/support/: they start servers, fake models and write temp files, and would ship in the package.",
      severity: "error",
      from: { pathNot: [...TESTS, ...BENCH] },
      to: { path: TESTS },
    },
    {
      name: "not-to-unresolvable",
      comment:
        "An import dependency-cruiser cannot resolve is invisible to every other rule here, so it must resolve " +
        "(TypeScript's `.js` specifiers are resolved to the `.ts` sources through tsconfig.json).",
      severity: "error",
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: ["^dist/"] },
    // Type-only imports count: `import type { KV } from "@nats-io/kv"` still ties a file to JetStream.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".tsx", ".js", ".mjs", ".cjs", ".json", ".d.ts"],
    },
  },
};
