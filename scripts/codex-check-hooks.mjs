/**
 * Node module hooks that let scripts/codex-check.mjs run the project's TypeScript without a build: a relative
 * `./x.js` import from a .ts file that has no x.js resolves to x.ts, and a .ts file is compiled by esbuild
 * (a devDependency) on load. Type-only code is erased; nothing is type-checked here (tsc does that).
 */
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { transform } from "esbuild";

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    const fromTs = context.parentURL?.endsWith(".ts");
    if (fromTs && err?.code === "ERR_MODULE_NOT_FOUND" && /^\.\.?\/.*\.js$/.test(specifier)) {
      return nextResolve(specifier.replace(/\.js$/, ".ts"), context);
    }
    throw err;
  }
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith("file:") || !url.endsWith(".ts")) return nextLoad(url, context);
  const file = fileURLToPath(url);
  const { code } = await transform(await readFile(file, "utf8"), {
    loader: "ts",
    format: "esm",
    target: "node20",
    sourcemap: "inline",
    sourcefile: file,
  });
  return { format: "module", source: code, shortCircuit: true };
}
