/**
 * Reading the audit trail (stream AUDIT) and the event log (CODEX_EVENTS) as `claw-supervisor audit` and the
 * dashboard's `/api/audit` do: the records matching a filter (session, caller, verb, kind, time range), the last
 * `limit` of them, oldest first; and the events a replay folds, with how a replay differs from the live registry.
 * The fold itself is the registry's (services/registry/replay.ts), which each caller imports.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { AuditRecord } from "../../schemas/audit.js";
import { SessionEventEnvelopeSchema, type SessionEventEnvelope } from "../../schemas/bus.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { STREAM_NAMES, readStream } from "../bus/index.js";

/** Which records to keep; every filter given must match. Times are unix ms. */
export interface AuditFilter {
  /** The target session's id. */
  session?: string | undefined;
  /** The caller's id, or `<role>:<id>` (e.g. `viewer:vera`). */
  caller?: string | undefined;
  /** A command verb, or an operator request (`token.create`) as {@link auditVerb} names it. */
  verb?: string | undefined;
  kind?: string | undefined;
  sinceMs?: number | undefined;
  untilMs?: number | undefined;
  /** How many of the last matching records to keep. */
  limit: number;
}

/** What an operator request (kind `admin`) asked, e.g. `token.create`, from its detail; else the verb. Pure. */
export function auditVerb(r: AuditRecord): string {
  const request = (r.detail as { request?: unknown } | null)?.request;
  return r.kind === "admin" && typeof request === "string" ? request : (r.verb ?? "-");
}

/**
 * True when `r` passes every filter in `f` but `sinceMs`, which the read applies (it starts at the first record
 * the stream stored at or after it). Pure.
 */
export function auditMatches(r: AuditRecord, f: AuditFilter): boolean {
  return (
    (f.session === undefined || r.target?.sessionId === f.session) &&
    (f.caller === undefined ||
      r.caller?.id === f.caller ||
      (r.caller !== null && `${r.caller.role}:${r.caller.id}` === f.caller)) &&
    (f.verb === undefined || auditVerb(r) === f.verb || r.verb === f.verb) &&
    (f.kind === undefined || r.kind === f.kind) &&
    (f.untilMs === undefined || r.atMs <= f.untilMs)
  );
}

const decoder = new TextDecoder();

/**
 * The last `f.limit` AUDIT records matching `f`, oldest first, read from the stream (from `f.sinceMs` on, when
 * given) to its end at the time of the call. Records that do not parse are skipped. Throws BusErrors.
 */
export async function readAuditRecords(nc: NatsConnection, f: AuditFilter): Promise<AuditRecord[]> {
  const found: AuditRecord[] = [];
  for await (const m of readStream(nc, STREAM_NAMES.audit, f.sinceMs === undefined ? {} : { sinceMs: f.sinceMs })) {
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(m.data));
    } catch {
      continue;
    }
    const parsed = AuditRecord.safeParse(json);
    if (!parsed.success || !auditMatches(parsed.data, f)) continue;
    found.push(parsed.data);
    if (found.length > f.limit) found.shift();
  }
  return found;
}

/**
 * Every session event envelope in CODEX_EVENTS, in order, up to the first stored after `untilMs` (all, without
 * it): what a replay folds. Messages that are not envelopes are skipped. Throws BusErrors.
 */
export async function readEventEnvelopes(nc: NatsConnection, untilMs?: number): Promise<SessionEventEnvelope[]> {
  const envelopes: SessionEventEnvelope[] = [];
  for await (const m of readStream(nc, STREAM_NAMES.events)) {
    if (untilMs !== undefined && m.timeMs > untilMs) break;
    let json: unknown;
    try {
      json = JSON.parse(decoder.decode(m.data));
    } catch {
      continue;
    }
    const parsed = SessionEventEnvelopeSchema.safeParse(json);
    if (parsed.success) envelopes.push(parsed.data);
  }
  return envelopes;
}

const comparable = (s: SessionRecord) => ({ ...s, lastSeenAt: 0 });

/** Differences between replayed and live records, one line each; empty when they are equal. Pure. */
export function replayDifferences(replayed: readonly SessionRecord[], live: readonly SessionRecord[]): string[] {
  const key = (s: SessionRecord) => `${s.host}/${s.sessionId}`;
  const liveByKey = new Map(live.map((s) => [key(s), comparable(s)]));
  const out: string[] = [];
  for (const r of replayed) {
    const l = liveByKey.get(key(r));
    liveByKey.delete(key(r));
    if (!l) {
      out.push(`${key(r)}: in the replay, not in the live registry`);
      continue;
    }
    const c = comparable(r);
    const fields = (Object.keys(c) as (keyof SessionRecord)[]).filter(
      (f) => JSON.stringify(c[f]) !== JSON.stringify(l[f]),
    );
    if (fields.length)
      out.push(
        `${key(r)}: ${fields.map((f) => `${f} replay=${JSON.stringify(c[f])} live=${JSON.stringify(l[f])}`).join(", ")}`,
      );
  }
  for (const k of liveByKey.keys()) out.push(`${k}: in the live registry, not in the replay`);
  return out;
}
