/**
 * `<stateDir>/up.json`: where a running `claw-supervisor up` put the bus, so `sessions`, `hosts` and `token`
 * find it without flags. Written when `up` is ready, removed when it stops.
 */
import { readFileSync } from "node:fs";
import { rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { defaultStateDir } from "./state-dir.js";

/**
 * What `up.json` holds. `embedded` says `up` runs its own nats-server (pid `natsPid`, store `<stateDir>/nats`):
 * only then are the state dir's bus credentials for `natsUrl` (see `loginForUrl`). A file without it (an older
 * version's) reads as not embedded, so no credentials go anywhere on its word.
 */
export const UpFile = z.object({
  natsUrl: z.string(),
  gatewayUrl: z.string(),
  pid: z.number().int(),
  mcpUrl: z.string().optional(),
  embedded: z.boolean().default(false),
  natsPid: z.number().int().positive().optional(),
});
export type UpFile = z.infer<typeof UpFile>;

const fileOf = (stateDir: string): string => path.join(stateDir, "up.json");

/** Records where the running stack is. */
export async function writeUpFile(stateDir: string, info: z.input<typeof UpFile>): Promise<void> {
  await writeFile(fileOf(stateDir), `${JSON.stringify(info)}\n`, { mode: 0o600 });
}

/** Forgets it (on stop). */
export async function removeUpFile(stateDir: string): Promise<void> {
  await rm(fileOf(stateDir), { force: true });
}

/** The running stack's record, or undefined when there is none, it is unreadable, or its process is gone. */
export function readUpFile(stateDir: string): UpFile | undefined {
  try {
    const parsed = UpFile.safeParse(JSON.parse(readFileSync(fileOf(stateDir), "utf8")));
    if (!parsed.success) return undefined;
    process.kill(parsed.data.pid, 0);
    return parsed.data;
  } catch {
    return undefined;
  }
}

/** The bus to use: `--nats-url`, else `$NATS_URL`, else the running `up` recorded in the default state dir. */
export function resolveNatsUrl(flag: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  return flag ?? env.NATS_URL ?? readUpFile(defaultStateDir(env))?.natsUrl;
}
