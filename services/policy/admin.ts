/**
 * Operator requests on `codex.admin.<area>.<op>` (schemas/admin.ts), served by the policy service in its queue
 * group: one table from `<area>.<op>` to its op, each op a request schema and a handler. Adding an area is adding
 * entries to the table (`serveAdmin({ ops: { ...policyAdminOps(deps), ...otherOps } })`).
 *
 * Every request gets exactly one reply: a body that is not JSON, an unknown op or a request its schema refuses
 * gets an `invalid` failure naming what is wrong; a handler that throws gets a `timeout` failure saying so; a
 * reply too large for the bus is replaced by a failure that says that. Nothing a caller sends stops the service.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { z } from "zod";
import { randomUUID } from "node:crypto";
import type { AdminCaller } from "../../schemas/admin.js";
import type { AuditTarget } from "../../schemas/audit.js";
import { failure, issuesText, type CommandFailure } from "../../schemas/commands.js";
import { POLICY_QUEUE_GROUP, notALiveRequest, subjects } from "../bus/index.js";
import type { AuditInput, AuditLog } from "./audit-log.js";
import { commandIdOf } from "./ledger.js";

/** What an op answers: its own success shape (with `ok: true`) or a typed failure. */
export type AdminReply = { ok: true; [field: string]: unknown } | CommandFailure;

/** What a handler gets besides its parsed request. */
export interface AdminContext {
  subject: string;
  log: Logger;
}

/** One operator request: parses its body and handles it. Build with {@link adminOp}. */
export interface AdminOp {
  run(body: unknown, ctx: AdminContext): Promise<AdminReply>;
}

/** The ops the service serves, by `<area>.<op>` (the subject's last two tokens). */
export type AdminOps = Readonly<Record<string, AdminOp>>;

/** An op from its request schema and handler; a request the schema refuses is `invalid`, naming every bad field. */
export function adminOp<T>(
  name: string,
  request: z.ZodType<T>,
  handle: (request: T, ctx: AdminContext) => Promise<AdminReply>,
): AdminOp {
  return {
    run(body, ctx) {
      const parsed = request.safeParse(body);
      if (!parsed.success)
        return Promise.resolve(failure("invalid", `invalid ${name} request: ${issuesText(parsed.error)}`));
      return handle(parsed.data, ctx);
    },
  };
}

/** Who asked an operator request and what about, for its audit records. */
export interface AuditedRequest {
  /** `<area>.<op>`, e.g. `token.create`. */
  op: string;
  caller: AdminCaller;
  requestId: string | undefined;
  target?: AuditTarget | null;
  detail: Record<string, unknown>;
}

/**
 * Runs an operator request that changes something between its two audit records: the request record is written
 * first (if AUDIT does not take it, nothing is run and the reply says so), then `run`, then the result record
 * with the detail `run` adds.
 */
export async function audited<R extends AdminReply>(
  audit: AuditLog,
  req: AuditedRequest,
  run: () => Promise<{ reply: R; detail: Record<string, unknown> }>,
): Promise<R | CommandFailure> {
  const id = req.requestId ?? randomUUID();
  const record = (outcome: AuditInput["outcome"], more: Record<string, unknown>): AuditInput => ({
    kind: "admin",
    commandId: commandIdOf(req.caller, id),
    verb: null,
    caller: req.caller,
    target: req.target ?? null,
    decision: null,
    outcome,
    detail: { request: req.op, requestId: id, ...req.detail, ...more },
  });
  try {
    await audit.write(record(null, {}), "request");
  } catch (err) {
    return failure(
      "timeout",
      `could not write the audit record of ${req.op} (${(err as Error).message}); nothing was changed`,
    );
  }
  const { reply, detail } = await run();
  await audit.writeLate(
    record(
      reply.ok ? { ok: true, code: null, message: null } : { ok: false, code: reply.code, message: reply.message },
      detail,
    ),
    "result",
  );
  return reply;
}

/** Options of {@link serveAdmin}. */
export interface ServeAdminOptions {
  nc: NatsConnection;
  ops: AdminOps;
  log: Logger;
  /** Called with each request's handling, so the service can wait for those in flight when it stops. */
  track(handling: Promise<unknown>): void;
  /** The wildcard subject served, `<prefix>.>` (default `codex.admin.>`; `codex.auth.>` for the sign-in checks). */
  subject?: string;
}

/** Answers one request's body; never throws. `served` is the wildcard subject the ops are served on. */
export async function answerAdmin(
  ops: AdminOps,
  subject: string,
  data: Uint8Array,
  log: Logger,
  served: string = subjects.allAdmin(),
): Promise<AdminReply> {
  const SUBJECT_PREFIX = served.slice(0, -1); // "codex.admin."
  const name = subject.startsWith(SUBJECT_PREFIX) ? subject.slice(SUBJECT_PREFIX.length) : subject;
  const op = Object.hasOwn(ops, name) ? ops[name] : undefined;
  if (op === undefined) {
    const known = Object.keys(ops)
      .map((k) => `${SUBJECT_PREFIX}${k}`)
      .join(", ");
    return failure("invalid", `invalid request: ${subject} is not an operator request this service serves (${known})`);
  }
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return failure("invalid", `invalid request: the body of ${subject} is not JSON`);
  }
  try {
    return await op.run(body, { subject, log });
  } catch (err) {
    log.error({ subject, err: (err as Error).message }, "operator request failed unexpectedly");
    return failure("timeout", `the policy service failed while handling ${subject}: ${(err as Error).message}`);
  }
}

/** Sends `reply`, or a failure saying why it could not be sent (larger than the bus accepts). */
function respond(nc: NatsConnection, msg: Msg, reply: AdminReply, log: Logger): void {
  if (!msg.reply) return;
  let text = JSON.stringify(reply);
  const max = nc.info?.max_payload;
  const bytes = Buffer.byteLength(text);
  if (max !== undefined && bytes > max)
    text = JSON.stringify(
      failure(
        "invalid",
        `the answer to ${msg.subject} is ${bytes} bytes; the bus accepts at most ${max} (the NATS server's max_payload)`,
      ),
    );
  try {
    msg.respond(text);
  } catch (err) {
    log.error({ subject: msg.subject, err: (err as Error).message }, "could not answer an operator request");
  }
}

/** Serves `codex.admin.>` (or `opts.subject`) in the policy queue group with `ops`; unsubscribe to stop. */
export function serveAdmin(opts: ServeAdminOptions): Subscription {
  const { nc, ops, log } = opts;
  const served = opts.subject ?? subjects.allAdmin();
  return nc.subscribe(served, {
    queue: POLICY_QUEUE_GROUP,
    callback: (err, msg) => {
      if (err) return log.error({ err: err.message }, "operator request subscription failed");
      // Stored bytes a client had the server deliver here (see notALiveRequest) are never an operator's request.
      const notLive = notALiveRequest(msg);
      if (notLive)
        return log.warn({ subject: msg.subject, why: notLive }, "dropped a message that is not an operator request");
      opts.track(
        answerAdmin(ops, msg.subject, msg.data, log, served).then((reply) => {
          if (!reply.ok)
            log.warn({ subject: msg.subject, code: reply.code, message: reply.message }, "operator request refused");
          respond(nc, msg, reply, log);
        }),
      );
    },
  });
}
