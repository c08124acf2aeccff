/**
 * Presence records: how `claw-supervisor launch` tells the host agent that a person's TUI is running.
 * One JSON file per TUI, `<stateDir>/presence/<tuiPid>.json`, written atomically (temp file + rename) once the
 * TUI has been spawned and removed when it exits. The agent watches the folder (see presence-monitor.ts) and
 * treats a record whose TUI pid is gone as stale. Files only: nothing listens on the host.
 */
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";

/** One attached TUI. `startedAtMs` is taken before the TUI is spawned, so its thread starts after it. */
export const PresenceRecordSchema = z.object({
  version: z.literal(1),
  /** The Codex TUI process. */
  tuiPid: z.number().int().positive(),
  /** The `claw-supervisor launch` process that runs it. */
  launcherPid: z.number().int().positive(),
  /** The terminal, e.g. `/dev/pts/3`; null when not known. */
  tty: z.string().nullable(),
  /** The TUI's working directory (real path). */
  workspace: z.string().min(1),
  /** The thread given to `codex resume`, when there is one. */
  resumeThreadId: z.string().min(1).nullable(),
  /** The app-server endpoint the TUI uses, as given to `--remote`. */
  endpoint: z.string(),
  /** Unix ms, on this host's clock. */
  startedAtMs: z.number().int().nonnegative(),
});
/** A validated presence record. */
export type PresenceRecord = z.infer<typeof PresenceRecordSchema>;

/** The folder holding presence records. */
export function presenceDir(stateDir: string): string {
  return path.join(stateDir, "presence");
}

/** The file of the record for `tuiPid`. */
export function presenceFile(stateDir: string, tuiPid: number): string {
  return path.join(presenceDir(stateDir), `${tuiPid}.json`);
}

/** Writes a record atomically (readers never see half a file); creates the folder if needed. Returns the file. */
export async function writePresenceRecord(stateDir: string, record: PresenceRecord): Promise<string> {
  const checked = PresenceRecordSchema.parse(record);
  const file = presenceFile(stateDir, checked.tuiPid);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temp = path.join(path.dirname(file), `.${checked.tuiPid}.${process.pid}.tmp`);
  await writeFile(temp, `${JSON.stringify(checked)}\n`, { mode: 0o600 });
  await rename(temp, file);
  return file;
}

/** Removes the record of `tuiPid`; a missing file is fine. */
export async function removePresenceRecord(stateDir: string, tuiPid: number): Promise<void> {
  await rm(presenceFile(stateDir, tuiPid), { force: true });
}
