/**
 * Sending one command to the policy service from the CLI: the caller is an operator (`--caller`, default
 * `$USER@host`), every command gets an idempotency key (`--key`, default random), and the typed result
 * becomes the exit code. No policy service answering is a one-line error: nothing was run.
 */
import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import type { CommandResult, CommandVerb } from "../../schemas/commands.js";
import { subjects } from "../bus/index.js";
import { requestCommand, type CommandEnvelopeOut } from "../clients/command-request.js";
import { defaultCallerId } from "./caller-id.js";
import { CliError, EXIT_CODES } from "./io.js";

/** Exit code of each typed failure (defined in io.ts, where the CLI shell finds it without the bus). */
export { EXIT_CODES };

/** The operator id the CLI sends when `--caller` is not given (caller-id.ts, which `sessions` loads without the bus). */
export { defaultCallerId };

/** How long the CLI waits for a command's result by default, ms (a spawn may take a while). */
export const DEFAULT_COMMAND_TIMEOUT_MS = 60_000;

/** Sends one command and returns its typed result; throws a CliError when no policy service answers. */
export async function sendCommand(
  nc: NatsConnection,
  verb: CommandVerb,
  args: unknown,
  o: { callerId: string; key?: string | undefined; timeoutMs?: number | undefined },
): Promise<CommandResult> {
  const body: CommandEnvelopeOut = {
    verb,
    caller: { id: o.callerId, role: "operator" },
    idempotencyKey: o.key ?? randomUUID(),
    args,
  };
  const timeoutMs = o.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  const answer = await requestCommand(nc, body, timeoutMs);
  if (answer.ok) return answer.result;
  switch (answer.reason) {
    case "no_policy":
      throw new CliError(
        `timeout: no policy service is answering on ${subjects.command(verb)}: is 'claw-supervisor up' or 'service policy' running? Nothing was run.`,
        EXIT_CODES.timeout,
      );
    case "timeout":
      throw new CliError(
        `timeout: the policy service did not answer ${verb} within ${timeoutMs} ms; it may still complete (repeat with the same --key to get its result)`,
        EXIT_CODES.timeout,
      );
    case "not_a_result":
      throw new CliError(`the policy service's answer to ${verb} is not a command result`);
    case "unreachable":
      throw answer.error ?? new Error(`could not send ${verb}`);
  }
}
