/**
 * Audit records on `codex.audit.<kind>` (stream AUDIT): every command's request, the policy decision, the
 * execution on a host, and the result, plus policy changes and operator requests on `codex.admin.*` (kind `admin`),
 * and (kind `approval`) every approval request of an autonomous session a host agent held for an answer or
 * answered, with who answered it: the rules (caller `host-agent:<hostId>`), a deadline (caller `deadline`), or
 * an operator or the Claw (their identity; their `approve` command has its own request and result records).
 * Redacted before they are written. `commandId` ties the records of one command (or operator request) together;
 * it is derived from the caller and the idempotency key (the request id).
 */
import { z } from "zod";
import { Caller, CommandVerb, ResultCode } from "./commands.js";

/** What an audit record reports. */
export const AuditKind = z.enum(["request", "decision", "execution", "result", "policy", "admin", "approval"]);
export type AuditKind = z.infer<typeof AuditKind>;

/** The session (or host) a record is about. */
export const AuditTarget = z.object({ hostId: z.string().nullable(), sessionId: z.string().nullable() });
export type AuditTarget = z.infer<typeof AuditTarget>;

/** One audit record. `atMs` is the policy service's clock, unix ms. */
export const AuditRecord = z.object({
  kind: AuditKind,
  atMs: z.number().int().nonnegative(),
  commandId: z.string(),
  verb: CommandVerb.nullable(),
  caller: Caller.nullable(),
  target: AuditTarget.nullable(),
  /** For `decision`: allowed, or refused with its code and reason; the rule that allowed it. For `approval`: accepted or declined (null while held). */
  decision: z
    .object({
      allow: z.boolean(),
      code: ResultCode.nullable(),
      reason: z.string().nullable(),
      ruleId: z.string().nullable(),
    })
    .nullable(),
  /** For `execution` and `result`: ok, or the failure's code and message. */
  outcome: z.object({ ok: z.boolean(), code: ResultCode.nullable(), message: z.string().nullable() }).nullable(),
  /**
   * The request's arguments (on `request`), the host op (on `execution`), the policy revision and who wrote it
   * (on `policy`), the operator request and its revision (on `admin`); redacted.
   */
  detail: z.unknown(),
  /** The policy service instance that wrote it. */
  by: z.string(),
});
export type AuditRecord = z.infer<typeof AuditRecord>;
