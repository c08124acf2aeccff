/**
 * An operator request that got no usable answer (services/clients/admin-request.ts), or a failure the policy
 * service answered, worded as a CLI error with the verbs' exit codes. Shared by `policy`, `token` and
 * `mcp-config --revoke`.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { z } from "zod";
import type { CommandFailure } from "../../schemas/commands.js";
import { subjects } from "../bus/index.js";
import { type AdminAnswer, requestAdmin } from "../clients/admin-request.js";
import { DEFAULT_COMMAND_TIMEOUT_MS } from "./command-client.js";
import { CliError, EXIT_CODES } from "./io.js";

/** How one request's failures are worded. */
export interface AdminRequestWords {
  /** What was asked, e.g. `token create`. */
  what: string;
  /** Said when no policy service answers: nothing was done, e.g. `Nothing was stored.` */
  nothingDone: string;
  /** Said on a timeout: what may have happened and how to look, after `timeout: `. */
  mayHaveDone: string;
}

/** Why a request got no usable answer, as a CliError (no policy service and timeouts exit 8). */
export function adminAnswerError(
  answer: Exclude<AdminAnswer<unknown>, { ok: true }>,
  subject: string,
  words: AdminRequestWords,
): CliError {
  switch (answer.reason) {
    case "no_policy":
      return new CliError(
        `timeout: no policy service is answering on ${subject}: is 'claw-supervisor up' or 'service policy' running? ${words.nothingDone}`,
        EXIT_CODES.timeout,
      );
    case "timeout":
      return new CliError(`timeout: ${words.mayHaveDone}`, EXIT_CODES.timeout);
    case "too_large":
      return new CliError(
        `the request is ${answer.bytes} bytes; the bus accepts at most ${answer.maxPayload} (the NATS server's max_payload)`,
      );
    case "not_a_reply":
      return new CliError(`the answer on ${subject} is not a ${words.what} reply; is something else serving it?`);
    case "unreachable":
      return new CliError(`could not send ${words.what}: ${answer.error?.message ?? "the bus refused the request"}`);
  }
}

/** A failure the policy service answered: its code and message; `invalid` exits `invalidExit` (default 9). */
export function adminFailureError(failure: CommandFailure, invalidExit: number = EXIT_CODES.invalid): CliError {
  return new CliError(
    `${failure.code}: ${failure.message}`,
    failure.code === "invalid" ? invalidExit : EXIT_CODES[failure.code],
  );
}

/**
 * Asks the policy service's `<area> <op>` (`codex.admin.<area>.<op>`) and returns its success; no answer, or a
 * failure it answered, becomes a CliError with the verbs' exit codes (`invalid` exits 2). `listCommand` is what
 * a timeout tells the user to run to see whether it happened.
 */
export async function askPolicyAdmin<T extends { ok: true } | CommandFailure>(
  nc: NatsConnection,
  area: string,
  op: string,
  body: Record<string, unknown>,
  reply: z.ZodType<T>,
  listCommand: string,
): Promise<Extract<T, { ok: true }>> {
  const answer = await requestAdmin(nc, area, op, body, reply, DEFAULT_COMMAND_TIMEOUT_MS);
  if (!answer.ok)
    throw adminAnswerError(answer, subjects.admin(area, op), {
      what: `${area} ${op}`,
      nothingDone: "Nothing was changed.",
      mayHaveDone: `the policy service did not answer ${area} ${op}; see '${listCommand}'`,
    });
  const r = answer.reply;
  if (!r.ok) throw adminFailureError(r as CommandFailure, 2);
  return r as Extract<T, { ok: true }>;
}
