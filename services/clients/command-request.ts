/**
 * Sending one command to the policy service (`codex.cmd.<verb>`), as every caller does (the CLI, the MCP edge,
 * the Claw plugin): the request goes through `busRequest`, and the answer is either the typed result or why
 * there is none. Callers word those reasons for their own users; nothing here throws.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { z } from "zod";
import { CommandResult, type CommandEnvelope } from "../../schemas/commands.js";
import { busRequest, classifyRequestFailure, subjects } from "../bus/index.js";

/**
 * A command as a caller sends it: the input side of the `CommandEnvelope` schema (so `hops` may be left out and
 * defaults to 0); the policy service validates it against that schema.
 */
export type CommandEnvelopeOut = z.input<typeof CommandEnvelope>;

/**
 * The policy service's result, or why there is none: `no_policy` (nobody serves the subject: nothing ran),
 * `timeout` (no answer in time: it may still run), `unreachable` (the bus refused the request: nothing ran),
 * `not_a_result` (an answer that is not a command result: it may have run).
 */
export type CommandAnswer =
  | { ok: true; result: CommandResult }
  | { ok: false; reason: "no_policy" | "timeout" | "unreachable" | "not_a_result"; error?: Error };

/** The policy service's raw answer to a request, or why there is none (see the reasons of each caller). */
export type PolicyServiceAnswer =
  | { ok: true; data: unknown }
  | { ok: false; reason: "no_policy" | "timeout" | "unreachable" | "bad_reply"; error?: Error };

/** Sends `text` on `subject` to the policy service and waits up to `timeoutMs` for its JSON answer. Never throws. */
export async function askPolicyService(
  nc: NatsConnection,
  subject: string,
  text: string,
  timeoutMs: number,
): Promise<PolicyServiceAnswer> {
  try {
    return { ok: true, data: (await busRequest(nc, subject, text, { timeout: timeoutMs })).json() };
  } catch (err) {
    switch (classifyRequestFailure(err)) {
      case "no_responders":
        return { ok: false, reason: "no_policy" };
      case "timeout":
        return { ok: false, reason: "timeout" };
      case "bad_reply":
        return { ok: false, reason: "bad_reply", error: err as Error };
      case "other":
        return { ok: false, reason: "unreachable", error: err as Error };
    }
  }
}

/** Sends `envelope` on its verb's subject and waits up to `timeoutMs` for the result. Never throws. */
export async function requestCommand(
  nc: NatsConnection,
  envelope: CommandEnvelopeOut,
  timeoutMs: number,
): Promise<CommandAnswer> {
  const answer = await askPolicyService(nc, subjects.command(envelope.verb), JSON.stringify(envelope), timeoutMs);
  if (!answer.ok) return { ...answer, reason: answer.reason === "bad_reply" ? "not_a_result" : answer.reason };
  const parsed = CommandResult.safeParse(answer.data);
  return parsed.success ? { ok: true, result: parsed.data } : { ok: false, reason: "not_a_result" };
}
