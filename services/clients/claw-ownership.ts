/**
 * Who should own a session, from the Claw groups (schemas/claw-groups.ts) and the set of live Claws: pure
 * functions the plugin service (taking leases), the policy service (`claws`) and the CLI share.
 *
 * - A session belongs to the first group, in document order, one of whose `owns` selectors matches its record.
 * - Its **acting group** is that group when one of its Claws is live, else the nearest ancestor with a live
 *   Claw; none (the root has no live Claw either): people (`attention`).
 * - Within the acting group the session goes to the live Claw with the highest rendezvous hash of
 *   (clawId, sessionId): every Claw computes the same answer, a Claw's death moves only its own sessions, and a
 *   Claw joining takes about its share.
 */
import { createHash } from "node:crypto";
import type { ClawGroup, ClawGroups, OwnershipSelector } from "../../schemas/claw-groups.js";

/** The fields of a session record the selectors read. */
export interface OwnedSession {
  sessionId: string;
  host: string;
  repo: string | null;
  group: string | null;
  /** An escalation a Claw accepted: that Claw owns the session while it is live (absent: none). */
  escalation?: { acceptedBy: string | null } | null;
}

/** Whether `sel` matches `s` (every given field equal). Pure. */
export function selectorMatches(sel: OwnershipSelector, s: OwnedSession): boolean {
  return (
    (sel.group === undefined || sel.group === s.group) &&
    (sel.host === undefined || sel.host === s.host) &&
    (sel.repo === undefined || sel.repo === s.repo)
  );
}

/** The group `clawId` is in, or null. Pure. */
export function groupOfClaw(doc: ClawGroups, clawId: string): ClawGroup | null {
  return doc.groups.find((g) => g.claws.includes(clawId)) ?? null;
}

/** The group a session belongs to by the selectors, or null. Pure. */
export function owningGroup(doc: ClawGroups, s: OwnedSession): ClawGroup | null {
  return doc.groups.find((g) => g.owns.some((sel) => selectorMatches(sel, s))) ?? null;
}

/** `group` and its ancestors, nearest first (the document's validation rules out cycles; guarded anyway). Pure. */
export function ancestry(doc: ClawGroups, group: ClawGroup): ClawGroup[] {
  const byName = new Map(doc.groups.map((g) => [g.name, g]));
  const out: ClawGroup[] = [];
  for (let at: ClawGroup | undefined = group; at && out.length <= doc.groups.length; ) {
    out.push(at);
    at = at.parent === null ? undefined : byName.get(at.parent);
  }
  return out;
}

/** The group that acts for `s` given the live Claws: its own, else the nearest ancestor with one live; null: people. Pure. */
export function actingGroup(doc: ClawGroups, s: OwnedSession, live: ReadonlySet<string>): ClawGroup | null {
  const own = owningGroup(doc, s);
  if (own === null) return null;
  return ancestry(doc, own).find((g) => g.claws.some((c) => live.has(c))) ?? null;
}

/** Rendezvous weight of (clawId, sessionId): the first 6 bytes of a SHA-256, as a number. Pure. */
function weight(clawId: string, sessionId: string): number {
  return createHash("sha256").update(clawId).update("\0").update(sessionId).digest().readUIntBE(0, 6);
}

/** The Claw of `candidates` that should own `sessionId` (highest rendezvous weight); null when there is none. Pure. */
export function designatedClaw(sessionId: string, candidates: readonly string[]): string | null {
  let best: string | null = null;
  let bestWeight = -1;
  for (const c of candidates) {
    const w = weight(c, sessionId);
    if (w > bestWeight || (w === bestWeight && best !== null && c < best)) [best, bestWeight] = [c, w];
  }
  return best;
}

/**
 * The live Claw that should own `s`, with its group: the Claw that accepted its escalation while it is live and in
 * a group; else by the acting group's rendezvous. Null when no group with a live Claw acts for it. Pure.
 */
export function designatedOwner(
  doc: ClawGroups,
  s: OwnedSession,
  live: ReadonlySet<string>,
): { clawId: string; group: string } | null {
  const acceptedBy = s.escalation?.acceptedBy ?? null;
  if (acceptedBy !== null && live.has(acceptedBy)) {
    const accepting = groupOfClaw(doc, acceptedBy);
    if (accepting !== null) return { clawId: acceptedBy, group: accepting.name };
  }
  const g = actingGroup(doc, s, live);
  if (g === null) return null;
  const clawId = designatedClaw(
    s.sessionId,
    g.claws.filter((c) => live.has(c)),
  );
  return clawId === null ? null : { clawId, group: g.name };
}

/** The fields of a session record deadline escalation reads. */
export interface WaitingSession extends OwnedSession {
  ask: { correlationId: string; atMs: number; question?: string } | null;
  approval: { requestId: string; atMs: number } | null;
  escalation?: { acceptedBy: string | null; toGroup: string | null; atMs: number } | null;
}

/**
 * What should escalate on its own at `nowMs` (the owner's plugin sends it): an ask or a held approval older than
 * `escalateAfterMs` that no escalation covers yet, or a pending escalation nobody of its group accepted within
 * `escalateAfterMs` (it goes one group further up). One reason per session; none once it reached people. Pure.
 */
export function dueEscalations(
  doc: ClawGroups,
  sessions: readonly WaitingSession[],
  nowMs: number,
): { sessionId: string; reason: string; question: string | null }[] {
  const after = doc.escalateAfterMs;
  const minutes = (ms: number) => `${Math.round(ms / 60_000)} min`;
  const out: { sessionId: string; reason: string; question: string | null }[] = [];
  for (const s of sessions) {
    const e = s.escalation ?? null;
    const pending = e !== null && e.acceptedBy === null ? e : null;
    if (pending !== null) {
      if (pending.toGroup !== null && nowMs - pending.atMs >= after)
        out.push({
          sessionId: s.sessionId,
          reason: `nobody of group ${pending.toGroup} accepted the escalation within ${minutes(after)}`,
          question: null,
        });
      continue;
    }
    // An escalation made after the ask (or approval) already covers it.
    const since = e?.atMs ?? -1;
    if (s.ask !== null && s.ask.atMs > since && nowMs - s.ask.atMs >= after)
      out.push({
        sessionId: s.sessionId,
        reason: `ask ${s.ask.correlationId} unanswered for ${minutes(nowMs - s.ask.atMs)}`,
        question: s.ask.question ?? null,
      });
    else if (s.approval !== null && s.approval.atMs > since && nowMs - s.approval.atMs >= after)
      out.push({
        sessionId: s.sessionId,
        reason: `approval ${s.approval.requestId} unanswered for ${minutes(nowMs - s.approval.atMs)}`,
        question: null,
      });
  }
  return out;
}
