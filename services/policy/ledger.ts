/**
 * The command ledger: KV `codex-commands`, one entry per (caller, idempotency key). A command is claimed with
 * a create (which fails when the key exists) before anything runs, and its result is stored when it ends, so
 * the same key never executes twice, across retries and across policy instances: every instance claims in the
 * same bucket, and a repeat that finds the first attempt still running waits a moment for its result. Entries
 * expire with the bucket's TTL (a day).
 */
import { hash } from "node:crypto";
import { z } from "zod";
import { CommandResult, type Caller } from "../../schemas/commands.js";
import {
  KV_BUCKET_NAMES,
  isRevisionConflict,
  putKvEntry,
  type JetStreamPublisher,
  type KvBucket,
} from "../bus/index.js";

/** A ledger entry: claimed and running, or done with its result. Times are unix ms. */
export const LedgerEntry = z.discriminatedUnion("state", [
  z.object({ state: z.literal("running"), atMs: z.number(), by: z.string() }),
  z.object({ state: z.literal("done"), atMs: z.number(), result: CommandResult }),
]);
export type LedgerEntry = z.infer<typeof LedgerEntry>;

/** The command id of a caller's idempotency key: 32 hex digits, a valid KV key. Pure. */
export function commandIdOf(caller: Caller, idempotencyKey: string): string {
  // crypto.hash: the one-shot form (Node >= 20.12), no Hash object per command.
  return hash("sha256", `${caller.role}\u0000${caller.id}\u0000${idempotencyKey}`, "hex").slice(0, 32);
}

/** Claims and completes commands in KV `codex-commands`. */
export class CommandLedger {
  constructor(
    private readonly kv: KvBucket,
    private readonly publisher: JetStreamPublisher,
    private readonly by: string,
    private readonly now: () => number = Date.now,
    /** How long a repeat waits for a claim that is still running before it answers `conflict`, ms. */
    private readonly runningWaitMs = 2_000,
  ) {}

  /**
   * Claims `commandId`; when it was claimed before, returns what the ledger holds (an unreadable entry counts as
   * running). A claim still running is waited for (its result, or its release, which this attempt then claims
   * over) up to `runningWaitMs`: the first attempt's result is stored just after its reply, so a repeat sent the
   * moment that reply arrived, to this instance or another, gets it rather than `conflict`.
   */
  async claim(commandId: string): Promise<{ claimed: true } | { claimed: false; entry: LedgerEntry }> {
    const running = JSON.stringify({ state: "running", atMs: this.now(), by: this.by } satisfies LedgerEntry);
    const unknown: LedgerEntry = { state: "running", atMs: 0, by: "unknown" };
    const deadline = this.now() + this.runningWaitMs;
    // A create is a publish expecting no earlier message on the key's subject (the pipelined publisher: no
    // per-request timer or inbox); a key released earlier has a delete marker, which may be claimed over.
    for (let expect = 0, attempt = 0; attempt < 3; attempt++) {
      try {
        await putKvEntry(this.publisher, KV_BUCKET_NAMES.commands, commandId, running, expect);
        return { claimed: true };
      } catch (err) {
        if (!isRevisionConflict(err)) throw err;
      }
      for (let pauseMs = 1; ; pauseMs = Math.min(pauseMs * 2, 50)) {
        const found = await this.kv.get(commandId);
        if (!found) return { claimed: false, entry: unknown };
        if (found.operation !== "PUT") {
          expect = found.revision;
          break;
        }
        const parsed = LedgerEntry.safeParse(safeJson(found.string()));
        const entry = parsed.success ? parsed.data : unknown;
        if (entry.state === "done" || this.now() + pauseMs > deadline) return { claimed: false, entry };
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
      }
    }
    return { claimed: false, entry: unknown };
  }

  /** Gives the key up: the command was refused before it could act, so the same key may be tried again. */
  async release(commandId: string): Promise<void> {
    await this.kv.delete(commandId);
  }

  /** Stores the command's result (a repeat of its key gets it back). */
  async complete(commandId: string, result: CommandResult): Promise<void> {
    const entry: LedgerEntry = { state: "done", atMs: this.now(), result };
    await putKvEntry(this.publisher, KV_BUCKET_NAMES.commands, commandId, JSON.stringify(entry));
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
