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
  /** The web dashboard's URL, when `up` serves it. */
  dashboardUrl: z.string().optional(),
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

/** The running stack's record, or why there is none (a few words, e.g. "no up.json"). */
export type FoundUp = { ok: true; up: UpFile } | { ok: false; why: string };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The running stack's record in `stateDir`, or why there is none: no file, an unreadable one, or its `up` gone. */
export function findRunningUp(stateDir: string): FoundUp {
  const file = fileOf(stateDir);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, why: code === "ENOENT" ? `no ${file}` : `cannot read ${file} (${code ?? "error"})` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, why: `${file} is not JSON` };
  }
  const parsed = UpFile.safeParse(json);
  if (!parsed.success) return { ok: false, why: `${file} is not an up file` };
  if (!alive(parsed.data.pid)) return { ok: false, why: `${file} names pid ${parsed.data.pid}, which is not running` };
  return { ok: true, up: parsed.data };
}

/** The running stack's record, or undefined when there is none, it is unreadable, or its process is gone. */
export function readUpFile(stateDir: string): UpFile | undefined {
  const found = findRunningUp(stateDir);
  return found.ok ? found.up : undefined;
}

/**
 * The bus to use: `--nats-url`, else `$NATS_URL`, else the running `up` recorded in `stateDir` (default: the
 * default state dir); undefined when there is none (callers say so, naming the state dir: never a guess).
 */
export function resolveNatsUrl(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  stateDir: string = defaultStateDir(env),
): string | undefined {
  return flag ?? env.NATS_URL ?? readUpFile(stateDir)?.natsUrl;
}
