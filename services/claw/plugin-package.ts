/**
 * Build step (`npm run build` runs it after tsc): lays out the plugin for OpenClaw. It copies the manifest
 * (`services/claw/openclaw.plugin.json`, the one source) to the package root, for an install from npm, and makes
 * `dist/services/claw/` a plugin root of its own (manifest plus a package.json whose `openclaw.extensions`
 * names `./index.js`), for `openclaw plugins install --link` from a checkout: a link to the checkout itself
 * would also cover the OpenClaw package in its node_modules, and OpenClaw refuses a plugin root that holds
 * other plugins. Modules resolve from there to the checkout's node_modules as usual.
 */
import { copyFileSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const distClaw = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(distClaw, "..", "..", "..");
const manifest = path.join(root, "services", "claw", "openclaw.plugin.json");
const pkg = JSON.parse(readFileSync(path.join(root, "package.json"), "utf8")) as {
  name: string;
  version: string;
  description: string;
  license: string;
};

copyFileSync(manifest, path.join(root, "openclaw.plugin.json"));
copyFileSync(manifest, path.join(distClaw, "openclaw.plugin.json"));
const pluginPackage = {
  name: pkg.name,
  version: pkg.version,
  description: pkg.description,
  license: pkg.license,
  private: true,
  type: "module",
  openclaw: { extensions: ["./index.js"] },
};
writeFileSync(path.join(distClaw, "package.json"), `${JSON.stringify(pluginPackage, null, 2)}\n`);
