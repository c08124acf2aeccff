/**
 * The Claw's side of the command path: each tool call is one command on `codex.cmd.<verb>` with caller role
 * `claw`, the configured Claw id and a fresh idempotency key. A failure is thrown as a {@link FleetToolError}
 * whose message says what went wrong and what the model can do next.
 */
import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import type { CommandFailure, CommandVerb, ResultCode } from "../../schemas/commands.js";
import { redact } from "../../schemas/redact.js";
import { requestCommand, type CommandEnvelopeOut } from "../clients/command-request.js";

/** A failed fleet tool call; `code` is the command's typed result code (or `unavailable` with no bus). */
export class FleetToolError extends Error {
  override readonly name = "FleetToolError";
  constructor(
    readonly code: ResultCode | "unavailable",
    message: string,
  ) {
    super(redact(message));
  }
}

/** What the model can do after a typed failure of `verb`. Pure. */
export function adviceFor(code: ResultCode, verb?: CommandVerb): string {
  if (verb === "reply" && code === "not_found")
    return "Call fleet_sessions: a session's pending ask (its correlationId) is in its record; answer that one, or reply without a correlationId.";
  if (verb === "approve" && (code === "not_found" || code === "conflict"))
    return "The approval is no longer held (answered, declined at its deadline, or never held); call fleet_sessions to see what the session waits on now.";
  switch (code) {
    case "denied":
      return "The supervisor's policy refuses this for the Claw; do not retry. An operator can change it with 'claw-supervisor policy set'.";
    case "not_found":
      return "Call fleet_sessions to see the session ids that exist now.";
    case "conflict":
      return "The session's turn changed: call fleet_read for its current state, then decide again.";
    case "rate_limited":
      return "Wait a little and try again.";
    case "host_offline":
      return "The session's host is offline; try again later or pick another session (fleet_hosts shows host status).";
    case "timeout":
      return "Try again in a moment; repeat reads freely, but check with fleet_read before repeating a send.";
    case "invalid":
      return "Fix the arguments named above and call the tool again.";
    case "budget_exceeded":
      return "A budget stopped this session (or the group a spawn would join): do not retry; an operator lifts it with 'claw-supervisor budget lift', or escalate it to people.";
  }
}

/** The error a failed command becomes. Pure. */
export function commandError(verb: CommandVerb, f: CommandFailure): FleetToolError {
  return new FleetToolError(f.code, `${verb} failed (${f.code}): ${f.message}. ${adviceFor(f.code, verb)}`);
}

/** Sends commands as the Claw. */
export interface ClawCaller {
  readonly clawId: string;
  /** The verb's result data; throws a FleetToolError on any failure. */
  command(verb: CommandVerb, args: unknown): Promise<unknown>;
}

/**
 * This Claw's session leases as the caller needs them (issue 18; services/claw/ownership.ts): whether it acts at
 * all, and its lease epoch on a session it owns.
 */
export interface ClawLeases {
  /** False while the Claw has stopped acting (its liveness lease not held): commands that change anything refuse. */
  acting(): boolean;
  /** The epoch of this Claw's lease on `sessionId`; undefined when it does not own it (or no groups are configured). */
  epochOf(sessionId: string): number | undefined;
}

/** The verbs that change nothing: a Claw that stopped acting may still send them. */
const READ_VERBS: ReadonlySet<CommandVerb> = new Set<CommandVerb>(["list", "read", "probe", "claws", "budget"]);

/** The message a write tool fails with while the Claw is not acting. */
export const NOT_ACTING_MESSAGE =
  "this Claw lost the supervisor's bus (its liveness lease was not renewed in time) and it stopped acting so another Claw can take its sessions; nothing was sent. Reads still work; try again once 'openclaw claw-supervisor status' shows it acting.";

/** The session a command's arguments target (`args.target.sessionId`), if any. Pure. */
export function targetSessionOf(args: unknown): string | undefined {
  const target = (args as { target?: { sessionId?: unknown } } | null)?.target;
  return typeof target?.sessionId === "string" ? target.sessionId : undefined;
}

/** How long a tool call waits for the policy service, ms (a spawn may take a while). */
export const CLAW_COMMAND_TIMEOUT_MS = 45_000;

/** A caller over `nc` (null while the service has no bus: every call then fails with `unavailable`). */
export function clawCaller(
  nc: () => NatsConnection | null,
  clawId: string,
  timeoutMs = CLAW_COMMAND_TIMEOUT_MS,
  leases?: () => ClawLeases | null,
): ClawCaller {
  return {
    clawId,
    async command(verb, args) {
      const conn = nc();
      if (!conn)
        throw new FleetToolError(
          "unavailable",
          "the claw-supervisor plugin is not connected to the supervisor's bus yet; check 'openclaw claw-supervisor status' and the natsUrl in its config, then try again.",
        );
      const held = leases?.() ?? null;
      if (held && !READ_VERBS.has(verb) && !held.acting())
        throw new FleetToolError("unavailable", `${verb}: ${NOT_ACTING_MESSAGE}`);
      const sessionId = targetSessionOf(args);
      const epoch = held && sessionId !== undefined ? held.epochOf(sessionId) : undefined;
      const body: CommandEnvelopeOut = {
        verb,
        caller: { id: clawId, role: "claw" },
        idempotencyKey: randomUUID(),
        ...(epoch === undefined ? {} : { lease: { epoch } }),
        args,
      };
      const answer = await requestCommand(conn, body, timeoutMs);
      if (answer.ok) {
        if (!answer.result.ok) throw commandError(verb, answer.result);
        return answer.result.data;
      }
      switch (answer.reason) {
        case "no_policy":
          throw new FleetToolError(
            "timeout",
            `${verb} failed: no policy service is answering on the bus, so nothing was run. The supervisor's policy service is down; try again later.`,
          );
        case "timeout":
          throw new FleetToolError(
            "timeout",
            `${verb} got no answer within ${timeoutMs} ms; it may still complete. ${adviceFor("timeout")}`,
          );
        case "not_a_result":
          throw new FleetToolError(
            "timeout",
            `${verb}: the policy service's answer was not a command result; it may have run. Check with fleet_read.`,
          );
        case "unreachable":
          throw new FleetToolError(
            "unavailable",
            `${verb} failed: the bus refused the request (${answer.error?.message ?? "unknown error"}); nothing was run.`,
          );
      }
    },
  };
}
