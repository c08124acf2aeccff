/**
 * Writes audit records to stream AUDIT (`codex.audit.<kind>`), redacted, each with a deterministic message id
 * (`<commandId>:<kind>[:<part>]`) so a retried write is stored once.
 */
import type { Logger } from "pino";
import type { AuditKind, AuditRecord } from "../../schemas/audit.js";
import { redact } from "../../schemas/redact.js";
import { subjects, type JetStreamPublisher } from "../bus/index.js";

/** A record as a caller gives it: the log adds the time and the writer. */
export type AuditInput = Omit<AuditRecord, "atMs" | "by">;

/** The policy service's audit writer. */
export class AuditLog {
  constructor(
    private readonly publisher: JetStreamPublisher,
    private readonly by: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Stores one record; rejects when AUDIT did not acknowledge it (callers that must not act unaudited check this). */
  async write(input: AuditInput, part?: string): Promise<void> {
    // Built here from typed parts, so not parsed again; redacted like every output edge.
    const record = redact<AuditRecord>({ ...input, atMs: this.now(), by: this.by });
    const msgId = `${record.commandId}:${record.kind}${part === undefined ? "" : `:${part}`}`;
    await this.publisher.publish(subjects.audit(record.kind), JSON.stringify(record), { msgId });
  }

  /** Stores one record, logging (not throwing) a failure: for records written after the command has acted. */
  async writeLate(input: AuditInput, part?: string): Promise<void> {
    await this.write(input, part).catch((err: Error) =>
      this.log.error(
        { commandId: input.commandId, kind: input.kind satisfies AuditKind, err: err.message },
        "could not write an audit record",
      ),
    );
  }
}
