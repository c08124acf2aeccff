/**
 * The calling session's side of the command path: every tool call becomes one command on `codex.cmd.<verb>`
 * with caller role `session`, the session's thread id as caller id and `originSessionId`, one agent hop, and a
 * fresh idempotency key. The typed result comes back as the policy service answered it.
 */
import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { failure, type CommandResult, type CommandVerb } from "../../schemas/commands.js";
import { requestCommand, type CommandEnvelopeOut } from "../clients/command-request.js";

/** Sends commands as one session. */
export interface SessionCaller {
  readonly sessionId: string;
  command(verb: CommandVerb, args: unknown): Promise<CommandResult>;
}

/** How long a tool call waits for the policy service, ms (a spawn may take a while). */
export const EDGE_COMMAND_TIMEOUT_MS = 45_000;

/** A caller for `sessionId` over `nc`; never throws: no answer is a `timeout` failure saying nothing ran. */
export function sessionCaller(
  nc: NatsConnection,
  sessionId: string,
  timeoutMs = EDGE_COMMAND_TIMEOUT_MS,
): SessionCaller {
  return {
    sessionId,
    async command(verb, args) {
      const body: CommandEnvelopeOut = {
        verb,
        caller: { id: sessionId, role: "session" },
        idempotencyKey: randomUUID(),
        originSessionId: sessionId,
        hops: 1,
        args,
      };
      const answer = await requestCommand(nc, body, timeoutMs);
      if (answer.ok) return answer.result;
      switch (answer.reason) {
        case "no_policy":
          return failure(
            "timeout",
            "no policy service is answering: the supervisor is down; nothing was run, try again later",
          );
        case "timeout":
          return failure(
            "timeout",
            `the policy service did not answer ${verb} within ${timeoutMs} ms; it may still complete`,
          );
        case "not_a_result":
          return failure("timeout", `the policy service's answer to ${verb} was not a command result; it may have run`);
        case "unreachable":
          return failure(
            "timeout",
            `could not reach the policy service (${answer.error?.message ?? "the bus refused the request"}); nothing was run`,
          );
      }
    },
  };
}

/**
 * `inner` with its token checked again before every command (the stdio edge serves one session for as long as
 * Codex runs it, so an expiry or revocation must stop it mid-way, as the HTTP edge's per-request check does):
 * a refused check answers `denied` with the reason and runs nothing.
 */
export function checkedCaller(
  inner: SessionCaller,
  recheck: () => Promise<{ ok: true } | { ok: false; message: string }>,
): SessionCaller {
  return {
    sessionId: inner.sessionId,
    async command(verb, args) {
      const still = await recheck();
      if (!still.ok) return failure("denied", `this session's MCP token no longer works: ${still.message}`);
      return inner.command(verb, args);
    },
  };
}
