/** The edge's token secret on disk: minted once, kept mode 0600 (the state dir's `mcp-secret`, or a given file). */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { newEdgeSecret } from "./tokens.js";

/** Where the edge secret lives by default: `<stateDir>/mcp-secret`. */
export function defaultSecretFile(stateDir: string): string {
  return path.join(stateDir, "mcp-secret");
}

/** Reads the secret from `file`, creating it (0600) when missing or empty when `create` is true. */
export async function ensureEdgeSecret(file: string, create = true): Promise<string> {
  const existing = (await readFile(file, "utf8").catch(() => "")).trim();
  if (existing) return existing;
  if (!create)
    throw new Error(
      `no MCP secret in ${file}: run 'claw-supervisor up' or 'claw-supervisor service mcp-edge' first, or pass --secret-file`,
    );
  await mkdir(path.dirname(file), { recursive: true });
  const secret = newEdgeSecret();
  await writeFile(file, `${secret}\n`, { mode: 0o600, flag: "wx" }).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== "EEXIST") throw err;
  });
  return (await readFile(file, "utf8")).trim();
}
