/**
 * Which threads this host's agent spawned (autonomous sessions) and the approval rules each was given. Kept in
 * memory and in `<stateDir>/autonomous.json` (written atomically: temp file, fsync, rename), so a restarted
 * agent still answers their approvals. A corrupt or unreadable file is logged and treated as empty.
 */
import { randomUUID } from "node:crypto";
import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import type { Logger } from "pino";
import { z } from "zod";
import { ApprovalRules, type ApprovalRulesInput } from "../../schemas/host-rpc.js";

/** The file's name inside the agent's state dir. */
export const AUTONOMOUS_FILE = "autonomous.json";

const Entry = z.strictObject({ rules: ApprovalRules, markedAtMs: z.number().int().nonnegative() });
type Entry = z.infer<typeof Entry>;

/** What `autonomous.json` holds. */
export const AutonomousFileSchema = z.strictObject({
  version: z.literal(1),
  threads: z.record(z.string().min(1), Entry),
});
export type AutonomousFile = z.infer<typeof AutonomousFileSchema>;

/** The autonomous threads of one host agent; see the module comment. */
export class AutonomousThreads {
  private writing: Promise<void> = Promise.resolve();

  private constructor(
    /** Absolute path of the JSON file. */
    readonly file: string,
    private readonly entries: Map<string, Entry>,
    private readonly log: Logger | undefined,
    private readonly now: () => number,
  ) {}

  /** Reads `<stateDir>/autonomous.json`; a missing file is empty, a corrupt one is logged and treated as empty. Never throws. */
  static async load(stateDir: string, logger?: Logger, now: () => number = Date.now): Promise<AutonomousThreads> {
    const file = path.join(stateDir, AUTONOMOUS_FILE);
    const entries = new Map<string, Entry>();
    let text: string | undefined;
    try {
      text = await readFile(file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        logger?.error(
          { file, err: (err as Error).message },
          "cannot read the autonomous threads file; starting with none",
        );
    }
    if (text !== undefined) {
      const parsed = parseFile(text);
      if (parsed.success) for (const [id, entry] of Object.entries(parsed.data.threads)) entries.set(id, entry);
      else
        logger?.error(
          { file, problem: parsed.problem },
          "the autonomous threads file is corrupt; starting with none (their approvals are left to other clients)",
        );
    }
    return new AutonomousThreads(file, entries, logger, now);
  }

  /** True when this agent spawned the thread (and has not forgotten it). */
  isAutonomous(threadId: string): boolean {
    return this.entries.has(threadId);
  }

  /** The thread's approval rules, or undefined when it is not autonomous. */
  rules(threadId: string): ApprovalRules | undefined {
    return this.entries.get(threadId)?.rules;
  }

  /** Every autonomous thread id. */
  ids(): string[] {
    return [...this.entries.keys()];
  }

  /**
   * Marks a thread autonomous with its rules; takes effect at once in memory, and resolves once the file is
   * written (rejects when it could not be: the mark still holds until the agent restarts).
   */
  mark(threadId: string, rules: ApprovalRulesInput): Promise<void> {
    this.entries.set(threadId, { rules: ApprovalRules.parse(rules), markedAtMs: this.now() });
    return this.persist();
  }

  /** Forgets a thread (it was closed for good, or handed to a person); resolves once the file is written. */
  forget(threadId: string): Promise<void> {
    if (!this.entries.delete(threadId)) return this.writing;
    return this.persist();
  }

  /** Writes the current entries after any write in flight; each write has the state as of when it runs. */
  private persist(): Promise<void> {
    const next = this.writing.catch(() => undefined).then(() => this.writeNow());
    this.writing = next;
    return next;
  }

  private async writeNow(): Promise<void> {
    const content: AutonomousFile = { version: 1, threads: Object.fromEntries(this.entries) };
    const tmp = `${this.file}.${process.pid}.${randomUUID()}.tmp`;
    try {
      await mkdir(path.dirname(this.file), { recursive: true, mode: 0o700 });
      const handle = await open(tmp, "w", 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(content, null, 2)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, this.file);
    } catch (err) {
      await rm(tmp, { force: true }).catch(() => undefined);
      this.log?.error({ file: this.file, err: (err as Error).message }, "could not write the autonomous threads file");
      throw err;
    }
  }
}

function parseFile(text: string): { success: true; data: AutonomousFile } | { success: false; problem: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { success: false, problem: `not JSON: ${(err as Error).message}` };
  }
  const parsed = AutonomousFileSchema.safeParse(value);
  if (parsed.success) return { success: true, data: parsed.data };
  return {
    success: false,
    problem: parsed.error.issues.map((i) => `${i.path.join(".") || "value"}: ${i.message}`).join("; "),
  };
}
