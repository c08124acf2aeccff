/**
 * Claw groups in the policy service (issue 18): the `claws` verb (the groups of the policy document's
 * `clawGroups`, their Claws and who owns which session, read from KV `codex-leases`) and the ownership check a
 * Claw's write command on a session passes (interceptors.ts `clawOwnership`): the session's lease record must
 * name the calling Claw, at the epoch the command carries.
 */
import type { ClawGroups, ClawState, ClawsResult, SessionOwnership } from "../../schemas/claw-groups.js";
import {
  denial,
  failure,
  type CommandFailure,
  type CommandRequest,
  type CommandResult,
} from "../../schemas/commands.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { groupOfClaw, owningGroup } from "../clients/claw-ownership.js";
import { followEntryAsKvEntry, followKvBucket, KV_BUCKET_NAMES, leaseView, type LeaseView } from "../bus/index.js";
import { sessionOfClawLeaseKey } from "../bus/lease.js";
import type { NatsConnection } from "@nats-io/transport-node";

/**
 * The verbs that act on a session: a Claw's must be on a session whose lease it holds, when groups are set.
 * `escalate` too (the session's owner hands it up); not `accept`, whose caller takes over a session it does not
 * own yet (escalation.ts checks it is of the group the session went to).
 */
export const CLAW_WRITE_VERBS: ReadonlySet<CommandRequest["verb"]> = new Set([
  "send",
  "interrupt",
  "handoff",
  "mark",
  "assign",
  "reply",
  "approve",
  "escalate",
]);

/**
 * What a command carries about the lease it was made under: the envelope's `lease` (absent: none), or `holder`
 * for a broadcast's target, where one envelope cannot carry an epoch per target and only the holder is checked.
 */
export type LeaseClaimed = { epoch: number } | null | "holder";

/**
 * Why `callerId` (a Claw) may not act on `sessionId` given the session's lease (`view`, null: no record, or bytes
 * that are no lease record), or null when it may: `not_owner` when nobody or another Claw holds it, `stale_lease`
 * when the command's epoch is missing or not the lease's. Pure.
 */
export function ownershipRefusal(
  doc: ClawGroups,
  callerId: string,
  sessionId: string,
  view: LeaseView | null,
  claimed: LeaseClaimed,
): CommandFailure | null {
  if (view === null || view.record.released)
    return denial(
      "not_owner",
      `session ${sessionId} is owned by no Claw (${view === null ? "no lease on it" : `its lease was released by claw ${view.record.holder}`}): a Claw acts only on sessions whose lease it holds, and claw ${callerId} holds none on it; nothing was done`,
    );
  const holder = view.record.holder;
  if (holder !== callerId) {
    const group = groupOfClaw(doc, holder)?.name;
    return denial(
      "not_owner",
      `session ${sessionId} is owned by claw ${holder} (${group === undefined ? "in no Claw group" : `group ${group}`}), not by claw ${callerId}: a Claw acts only on sessions it owns; nothing was done`,
    );
  }
  if (claimed === "holder") return null;
  if (claimed === null)
    return denial(
      "stale_lease",
      `claw ${callerId} holds session ${sessionId}'s lease at epoch ${view.epoch}, but the command carries no lease epoch: a Claw's command on a session must carry its lease's epoch (lease.epoch); nothing was done`,
    );
  if (claimed.epoch !== view.epoch)
    return denial(
      "stale_lease",
      `the command carries lease epoch ${claimed.epoch} for session ${sessionId}, but its lease is at epoch ${view.epoch} now: ${claimed.epoch < view.epoch ? "the lease moved since (taken again after it lapsed or was released)" : "that epoch was never the lease's"}; nothing was done`,
    );
  return null;
}

/** One `claw.*` or `claw-session.*` key of `codex-leases` as `claws` reads it. */
export interface ClawLeaseEntry {
  key: string;
  /** The record, or null for bytes that are no lease record (or a record written for another key): no owner. */
  view: LeaseView | null;
  /** When nats-server stored the entry (its last write: the taking or the last renewal), unix ms. */
  createdMs: number;
}

/**
 * Every current `claw.*` and `claw-session.*` entry of `codex-leases` (delete markers left out), read through a
 * short follow of the bucket (an ordered pull consumer: JetStream API only) that ends once it caught up. Throws
 * when the bucket cannot be read within `timeoutMs`.
 */
export async function readClawLeases(nc: NatsConnection, timeoutMs: number): Promise<ClawLeaseEntry[]> {
  const follow = await followKvBucket(nc, KV_BUCKET_NAMES.leases);
  const out = new Map<string, ClawLeaseEntry>();
  let timer: NodeJS.Timeout | undefined;
  let received = 0;
  try {
    if (follow.startedEmpty) return [];
    const it = follow[Symbol.asyncIterator]();
    const deadline = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), timeoutMs);
    });
    for (;;) {
      const next = await Promise.race([it.next(), deadline]);
      if (next === "late") {
        // Nothing at all: the entries the bucket held when the follow opened aged out before it could read them.
        if (received === 0) return [];
        throw new Error(`codex-leases was not read to its end within ${timeoutMs} ms`);
      }
      if (next.done) break;
      const e = next.value;
      received++;
      if (e.key.startsWith("claw.") || e.key.startsWith("claw-session.")) {
        if (e.operation === "PUT")
          out.set(e.key, {
            key: e.key,
            view: leaseView(followEntryAsKvEntry(e, KV_BUCKET_NAMES.leases)),
            createdMs: e.createdMs,
          });
        else out.delete(e.key);
      }
      if (e.pending === 0) break;
    }
  } finally {
    clearTimeout(timer);
    await follow.stop();
  }
  return [...out.values()];
}

/** The registry fields ownership selectors read, of each owned session (null: the registry knows none). */
export type OwnedSessions = ReadonlyMap<string, Pick<SessionRecord, "sessionId" | "host" | "repo" | "group"> | null>;

/** The session ids `leases` names (held, released or junk alike). Pure. */
export function leasedSessionIds(leases: readonly ClawLeaseEntry[]): string[] {
  return leases.map((l) => sessionOfClawLeaseKey(l.key)).filter((id): id is string => id !== null);
}

/**
 * What `claws` answers, from the policy's `clawGroups` (undefined: not configured, everything empty), the lease
 * entries, the owned sessions' records, and now. `group` narrows it to one group (its Claws, and the sessions it
 * owns by selector or whose owner is one of its Claws); an unknown group is `not_found`.
 *
 * A Claw is live when its `claw.<id>` record is not released and nats-server stored its last write within
 * `leaseTtlMs` of `nowMs`: this compares the server's clock with the policy service's, so it is for display only
 * (no decision reads it; the Claws decide liveness on their own clocks: services/bus/lease.ts). Pure.
 */
export function clawsResult(
  doc: ClawGroups | undefined,
  leases: readonly ClawLeaseEntry[],
  sessions: OwnedSessions,
  nowMs: number,
  group?: string,
): ClawsResult | CommandFailure {
  if (doc === undefined)
    return { configured: false, leaseTtlMs: null, escalateAfterMs: null, groups: [], claws: [], sessions: [] };
  const only = group === undefined ? undefined : doc.groups.find((g) => g.name === group);
  if (group !== undefined && only === undefined)
    return failure("not_found", `no Claw group ${group}; the groups are ${doc.groups.map((g) => g.name).join(", ")}`);
  const ago = (ms: number): number => Math.max(0, Math.round(nowMs - ms));

  const owned: SessionOwnership[] = [];
  const alive = new Map<string, ClawLeaseEntry>();
  for (const l of leases) {
    const sessionId = sessionOfClawLeaseKey(l.key);
    if (sessionId === null) {
      if (l.key.startsWith("claw.")) alive.set(l.key.slice("claw.".length), l);
      continue;
    }
    if (l.view === null || l.view.record.released) continue; // junk or released: nobody owns it
    const record = sessions.get(sessionId) ?? null;
    const renewedAgoMs = ago(l.createdMs);
    owned.push({
      sessionId,
      clawId: l.view.record.holder,
      epoch: l.view.epoch,
      // The record's takenAtMs is the holder's clock (at the taking, or at its last write): never less than the
      // time since the server stored the last renewal.
      heldForMs: Math.max(renewedAgoMs, ago(l.view.record.takenAtMs)),
      renewedAgoMs,
      group: record === null ? null : (owningGroup(doc, record)?.name ?? null),
      escalatedFrom: null,
    });
  }
  owned.sort((a, b) => a.clawId.localeCompare(b.clawId) || a.sessionId.localeCompare(b.sessionId));

  const claws: ClawState[] = [];
  const listed = new Set<string>();
  const state = (clawId: string, groupName: string | null): ClawState => {
    const l = alive.get(clawId);
    const live = l !== undefined && l.view !== null && !l.view.record.released && nowMs - l.createdMs <= doc.leaseTtlMs;
    return {
      clawId,
      group: groupName,
      live,
      seenAgoMs: l === undefined ? null : ago(l.createdMs),
      sessions: owned.filter((s) => s.clawId === clawId).length,
    };
  };
  for (const g of doc.groups)
    for (const c of g.claws) {
      listed.add(c);
      claws.push(state(c, g.name));
    }
  // A Claw renewing a liveness lease but named by no group (configured for a group since removed, say).
  for (const c of [...alive.keys()].sort()) if (!listed.has(c)) claws.push(state(c, null));

  const groups = doc.groups.map((g) => ({ name: g.name, parent: g.parent, owns: g.owns, claws: g.claws }));
  if (only === undefined)
    return {
      configured: true,
      leaseTtlMs: doc.leaseTtlMs,
      escalateAfterMs: doc.escalateAfterMs,
      groups,
      claws,
      sessions: owned,
    };
  const members = new Set(only.claws);
  return {
    configured: true,
    leaseTtlMs: doc.leaseTtlMs,
    escalateAfterMs: doc.escalateAfterMs,
    groups: groups.filter((g) => g.name === only.name),
    claws: claws.filter((c) => c.group === only.name),
    sessions: owned.filter((s) => s.group === only.name || members.has(s.clawId)),
  };
}

/** What the `claws` handler needs from the service. */
export interface ClawsDeps {
  readClawLeases(): Promise<ClawLeaseEntry[]>;
  lookupSession(sessionId: string): Promise<SessionRecord | null | CommandResult>;
}

/** The `claws` verb: see clawsResult. A lease bucket that cannot be read is a `timeout`. */
export async function clawsVerb(
  policy: { clawGroups?: ClawGroups | undefined },
  args: { group?: string | undefined },
  deps: ClawsDeps,
): Promise<CommandResult> {
  const doc = policy.clawGroups;
  if (doc === undefined) return { ok: true, data: clawsResult(undefined, [], new Map(), Date.now()) };
  let leases: ClawLeaseEntry[];
  try {
    leases = await deps.readClawLeases();
  } catch (err) {
    return failure("timeout", `could not read the Claws' leases in codex-leases (${(err as Error).message})`);
  }
  const ids = [...new Set(leasedSessionIds(leases))];
  const records = await Promise.all(
    ids.map(async (id) => {
      const r = await deps.lookupSession(id).catch(() => null);
      return r !== null && "sessionId" in r ? r : null;
    }),
  );
  const result = clawsResult(
    doc,
    leases,
    new Map(ids.map((id, i) => [id, records[i] ?? null])),
    Date.now(),
    args.group,
  );
  return "ok" in result ? result : { ok: true, data: result };
}
