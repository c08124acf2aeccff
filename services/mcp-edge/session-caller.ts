/**
 * The calling session's side of the command path: every tool call becomes one command on `codex.cmd.<verb>`
 * with caller role `session`, the session's thread id as caller id and `originSessionId`, one agent hop, and a
 * fresh idempotency key. The typed result comes back as the policy service answered it.
 */
import { randomUUID } from "node:crypto";
import { NoRespondersError, RequestError, TimeoutError, type NatsConnection } from "@nats-io/transport-node";
import { CommandResult, failure, type CommandVerb } from "../../schemas/commands.js";
import { busRequest, subjects } from "../bus/index.js";

/** Sends commands as one session. */
export interface SessionCaller {
  readonly sessionId: string;
  command(verb: CommandVerb, args: unknown): Promise<CommandResult>;
}

/** How long a tool call waits for the policy service, ms (a spawn may take a while). */
export const EDGE_COMMAND_TIMEOUT_MS = 45_000;

/** A caller for `sessionId` over `nc`; never throws: no answer is a `timeout` failure saying nothing ran. */
export function sessionCaller(nc: NatsConnection, sessionId: string, timeoutMs = EDGE_COMMAND_TIMEOUT_MS): SessionCaller {
  return {
    sessionId,
    async command(verb, args) {
      const body = { verb, caller: { id: sessionId, role: "session" }, idempotencyKey: randomUUID(), originSessionId: sessionId, hops: 1, args };
      try {
        const reply = await busRequest(nc, subjects.command(verb), JSON.stringify(body), { timeout: timeoutMs });
        const parsed = CommandResult.safeParse(reply.json());
        return parsed.success ? parsed.data : failure("timeout", `the policy service's answer to ${verb} was not a command result; it may have run`);
      } catch (err) {
        if (err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders())) {
          return failure("timeout", "no policy service is answering: the supervisor is down; nothing was run, try again later");
        }
        if (err instanceof TimeoutError) return failure("timeout", `the policy service did not answer ${verb} within ${timeoutMs} ms; it may still complete`);
        return failure("timeout", `could not reach the policy service (${(err as Error).message}); nothing was run`);
      }
    },
  };
}
