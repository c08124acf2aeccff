/**
 * `escalate` and `accept` (issue 18): a session goes up the Claw groups, one group at a time, and a Claw of the
 * group it reached takes it over. Both are annotations in the session's own log (as `handoff` and `ask` are),
 * so replay rebuilds them; the registry announces a new escalation (`session-escalated`) and the Claws of the
 * group it went to get it. Only `accept` moves ownership, and only as far as the record says: the accepting
 * Claw becomes the session's designated owner (services/clients/claw-ownership.ts), the current holder releases
 * the lease and the acceptor takes it at a higher epoch.
 */
import { randomUUID } from "node:crypto";
import type { AnnotationPayload } from "../../schemas/agent-events.js";
import type { ClawGroups } from "../../schemas/claw-groups.js";
import { type CommandRequest, type CommandResult, denial, failure } from "../../schemas/commands.js";
import type { Escalation, SessionRecord } from "../../schemas/registry.js";
import { groupOfClaw, owningGroup } from "../clients/claw-ownership.js";
import type { CommandContext } from "./pipeline.js";

/** Writes an annotation into the session's log through its host (verbs.ts). */
export type Annotate = (t: SessionRecord, annotation: AnnotationPayload) => Promise<CommandResult>;

const notConfigured = (verb: string): CommandResult =>
  failure(
    "invalid",
    `${verb} needs Claw groups, and the policy document has no clawGroups: add them ('claw-supervisor policy set'); nothing was done`,
  );

/** An escalation that went to a group and nobody of it accepted yet. */
export const pendingEscalation = (t: SessionRecord): Escalation | null =>
  t.escalation !== null && t.escalation.acceptedBy === null ? t.escalation : null;

/**
 * The group a new escalation of `t` starts from: the group a pending escalation reached; else the caller's own
 * group (a Claw); else the group the session belongs to. Undefined: the session already reached people. Pure.
 */
export function escalationStart(
  doc: ClawGroups,
  t: SessionRecord,
  callerClaw: string | null,
): string | null | undefined {
  const pending = pendingEscalation(t);
  if (pending !== null) return pending.toGroup === null ? undefined : pending.toGroup;
  const own = callerClaw === null ? null : groupOfClaw(doc, callerClaw);
  return (own ?? owningGroup(doc, t))?.name ?? null;
}

export async function escalateVerb(
  ctx: CommandContext,
  r: Extract<CommandRequest, { verb: "escalate" }>,
  annotate: Annotate,
): Promise<CommandResult> {
  const doc = ctx.policy.clawGroups;
  if (doc === undefined) return notConfigured("escalate");
  const t = ctx.target!;
  const caller = r.caller;
  const from = escalationStart(doc, t, caller.role === "claw" ? caller.id : null);
  if (from === undefined)
    return failure(
      "conflict",
      `session ${t.sessionId} was escalated to people already (${t.escalation?.reason ?? ""}); it shows in 'claw-supervisor attention'`,
    );
  const toGroup = from === null ? null : (doc.groups.find((g) => g.name === from)?.parent ?? null);
  const escalation: Escalation = {
    id: `esc-${randomUUID()}`,
    fromGroup: from,
    toGroup,
    reason: r.args.reason,
    question: r.args.question ?? null,
    by: `${caller.role}:${caller.id}`,
    atMs: Date.now(),
    acceptedBy: null,
    acceptedAtMs: null,
  };
  const result = await annotate(t, { kind: "escalate", escalation });
  return result.ok ? { ok: true, data: { sessionId: t.sessionId, hostId: t.host, escalation } } : result;
}

export async function acceptVerb(
  ctx: CommandContext,
  r: Extract<CommandRequest, { verb: "accept" }>,
  annotate: Annotate,
): Promise<CommandResult> {
  const doc = ctx.policy.clawGroups;
  if (doc === undefined) return notConfigured("accept");
  const t = ctx.target!;
  const pending = pendingEscalation(t);
  if (pending === null)
    return failure(
      "not_found",
      t.escalation === null
        ? `session ${t.sessionId} was never escalated; nothing to accept`
        : `session ${t.sessionId}'s escalation ${t.escalation.id} was accepted by ${t.escalation.acceptedBy} already`,
    );
  if (r.args.escalationId !== undefined && r.args.escalationId !== pending.id)
    return failure(
      "conflict",
      `session ${t.sessionId}'s pending escalation is ${pending.id}, not ${r.args.escalationId}: look again (fleet_read) before accepting`,
    );
  if (r.caller.role !== "claw")
    return denial(
      "no_rule",
      `only a Claw of the group an escalation went to accepts it; a person answers the session instead (it shows in 'claw-supervisor attention')`,
    );
  const mine = groupOfClaw(doc, r.caller.id);
  if (pending.toGroup === null || mine?.name !== pending.toGroup)
    return denial(
      "not_owner",
      `session ${t.sessionId} was escalated to ${pending.toGroup === null ? "people" : `group ${pending.toGroup}`}, and claw ${r.caller.id} is ${mine === null ? "in no group" : `in group ${mine.name}`}`,
    );
  const atMs = Date.now();
  const result = await annotate(t, { kind: "escalation-accepted", id: pending.id, by: r.caller.id, atMs });
  return result.ok
    ? {
        ok: true,
        data: {
          sessionId: t.sessionId,
          hostId: t.host,
          escalation: { ...pending, acceptedBy: r.caller.id, acceptedAtMs: atMs },
        },
      }
    : result;
}
