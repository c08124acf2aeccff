#!/usr/bin/env node
/**
 * Builds the dashboard page: esbuild bundles services/dashboard/web/main.tsx (Preact, its CSS) into
 * dist/dashboard/web/assets/app-<hash>.js and app-<hash>.css, and index.html (from the template next to this file)
 * references them. No inline script or style, so the server's CSP (script-src 'self'; style-src 'self') holds.
 * Old hashed assets are removed first. Usage: node services/dashboard/web/build.mjs [--dev] (--dev: no minify).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../..");
const outDir = path.join(root, "dist/dashboard/web");
const assetsDir = path.join(outDir, "assets");
const dev = process.argv.includes("--dev");

/**
 * zod's `z` namespace re-exports every locale (about 200 KiB minified) and fromJSONSchema, which the page never
 * uses: the bundle gets English only (zod's default) and a fromJSONSchema that says it is not in the page.
 */
const zodTrim = {
  name: "zod-trim",
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${path.sep}zod${path.sep}`) ? { path: "zod-locales", namespace: "zod-trim" } : undefined,
    );
    b.onResolve({ filter: /^\.\/from-json-schema\.js$/ }, (args) =>
      args.importer.includes(`${path.sep}zod${path.sep}`)
        ? { path: "zod-from-json-schema", namespace: "zod-trim" }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "zod-trim" }, (args) => ({
      resolveDir: path.join(root, "node_modules/zod/v4/locales"),
      contents:
        args.path === "zod-locales"
          ? 'export { default as en } from "./en.js";'
          : 'export function fromJSONSchema() { throw new Error("fromJSONSchema is not in the dashboard page"); }',
      loader: "js",
    }));
  },
};

rmSync(outDir, { recursive: true, force: true });
mkdirSync(assetsDir, { recursive: true });

const result = await build({
  entryPoints: { app: path.join(here, "main.tsx") },
  outdir: assetsDir,
  entryNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["chrome110", "firefox110", "safari16"],
  jsx: "automatic",
  jsxImportSource: "preact",
  tsconfig: path.join(here, "tsconfig.json"),
  minify: !dev,
  sourcemap: "linked",
  legalComments: "linked",
  metafile: true,
  plugins: [zodTrim],
  logLevel: "warning",
  define: { "process.env.NODE_ENV": dev ? '"development"' : '"production"' },
});

const outputs = Object.keys(result.metafile.outputs).map((p) => path.basename(p));
const js = outputs.find((f) => /^app-[A-Z0-9]+\.js$/.test(f));
const css = outputs.find((f) => /^app-[A-Z0-9]+\.css$/.test(f));
if (js === undefined || css === undefined) {
  console.error(`dashboard build: expected app-<hash>.js and app-<hash>.css, got ${outputs.join(", ")}`);
  process.exit(1);
}
const html = readFileSync(path.join(here, "index.html"), "utf8").replace("%JS%", js).replace("%CSS%", css);
if (/<script(?![^>]*\bsrc=)[^>]*>|<style|\sstyle=/i.test(html)) {
  console.error("dashboard build: index.html has an inline script or style, which the CSP refuses");
  process.exit(1);
}
writeFileSync(path.join(outDir, "index.html"), html);
const size = (f) => `${(readFileSync(path.join(assetsDir, f)).length / 1024).toFixed(0)} KiB`;
console.log(`dashboard page: dist/dashboard/web/index.html, assets/${js} (${size(js)}), assets/${css} (${size(css)})`);
