/**
 * Which of a reconnecting agent's unacknowledged events CODEX_EVENTS already holds.
 *
 * Why: an event is stored once because its `Nats-Msg-Id` (`evt:<hostId>:<epoch>:<seq>`) repeats on a resend,
 * but JetStream only remembers ids for the stream's duplicate window (2 min by default). When the gateway's
 * acks are lost (a one-way cut, or a connection that dies after the store and before the ack) the agent keeps
 * the events and sends them again when it is back; after a longer outage the window has passed and they would be
 * stored twice. So the agent's hello says which of its events are in doubt (`unacked`: their seq range and how
 * long ago the first was first sent), and the gateway reads what the stream holds for the host since then.
 *
 * The answer is the seqs actually found, never "everything up to the last stored one": a publish can fail
 * while a later one of the same connection succeeds (a NATS reconnect, a stream leader change), and the agent
 * must send such a hole again. Whatever this misses (a clock more than `marginMs` apart, a scan cut short) is
 * sent again and at worst stored twice, as before; it never makes the agent drop an event that is not stored.
 *
 * Cost: one STREAM.MSG.GET (the host's last event, `last_by_subj` with a wildcard, which nats-server 2.9
 * takes); when that one is of this run and not older than the doubt, one ordered consumer reading headers only
 * of the host's events since the first in-doubt one was sent. Only at a hello that names events in doubt: the
 * ingest path is untouched.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { MAX_STORED_RANGES, type UnackedEvents } from "../../schemas/gateway.js";
import { STREAM_NAMES, lastStoredMessage, readStoredMsgIds, sessionEventMsgId, subjects } from "../bus/index.js";

/** How far back (ms) before the agent's first send to start reading: the gateway's and the server's clocks may differ. */
export const DEFAULT_STORED_LOOKUP_MARGIN_MS = 30_000;
/** How long a lookup may take before the welcome goes out without it (ms). */
export const DEFAULT_STORED_LOOKUP_TIMEOUT_MS = 3_000;

/** What a lookup found. */
export interface StoredLookup {
  /** The in-doubt seqs of the run found stored, as ascending inclusive ranges (at most MAX_STORED_RANGES). */
  seqs: [number, number][];
  /** Messages of the host read from the stream. */
  scanned: number;
  /** Why no scan was needed, when none ran. */
  skipped?: string;
}

/** Options of `findStoredSeqs`. */
export interface StoredLookupOptions {
  nowMs: number;
  marginMs?: number;
  /** Stop reading at this time (unix ms): what was found so far is the answer. */
  deadlineMs?: number;
}

/** The seq of a session event's message id when it is of `prefix`'s host and run, else undefined. Pure. */
function seqOf(msgId: string | undefined, prefix: string): number | undefined {
  if (msgId === undefined || !msgId.startsWith(prefix)) return undefined;
  const rest = msgId.slice(prefix.length);
  if (!/^\d{1,15}$/.test(rest)) return undefined;
  return Number(rest);
}

/** Sorted distinct seqs as inclusive ranges, the first `max` of them. Pure. */
export function seqRanges(seqs: readonly number[], max = MAX_STORED_RANGES): [number, number][] {
  const sorted = [...seqs].sort((a, b) => a - b);
  const out: [number, number][] = [];
  for (const seq of sorted) {
    const last = out.at(-1);
    if (last && seq <= last[1] + 1) last[1] = Math.max(last[1], seq);
    else {
      if (out.length === max) break;
      out.push([seq, seq]);
    }
  }
  return out;
}

/** Whether `seq` lies in one of `ranges` (ascending, inclusive). Pure. */
export function inSeqRanges(ranges: readonly (readonly [number, number])[], seq: number): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [first, last] = ranges[mid]!;
    if (seq < first) hi = mid - 1;
    else if (seq > last) lo = mid + 1;
    else return true;
  }
  return false;
}

/**
 * The seqs in `unacked` of host `hostId`'s run `epoch` that CODEX_EVENTS holds; see the module comment.
 * Throws BusErrors when the stream cannot be read.
 */
export async function findStoredSeqs(
  nc: NatsConnection,
  hostId: string,
  epoch: string,
  unacked: UnackedEvents,
  opts: StoredLookupOptions,
): Promise<StoredLookup> {
  const subject = subjects.hostSessionEvents(hostId);
  // `evt:<hostId>:<epoch>:`, what every message id of this run starts with.
  const prefix = sessionEventMsgId({ hostId, epoch, seq: 0 }).slice(0, -1);
  const last = await lastStoredMessage(nc, STREAM_NAMES.events, subject);
  if (last === null) return { seqs: [], scanned: 0, skipped: "nothing stored for the host" };
  const sinceMs = opts.nowMs - unacked.ageMs - (opts.marginMs ?? DEFAULT_STORED_LOOKUP_MARGIN_MS);
  if (last.timeMs < sinceMs)
    return { seqs: [], scanned: 0, skipped: "the host's last event was stored before the first one in doubt was sent" };
  const lastSeq = seqOf(last.msgId, prefix);
  if (lastSeq !== undefined && lastSeq < unacked.firstSeq)
    return { seqs: [], scanned: 0, skipped: "the host's last stored event precedes those in doubt" };
  const found: number[] = [];
  let scanned = 0;
  for await (const m of readStoredMsgIds(nc, STREAM_NAMES.events, subject, { sinceMs, toSeq: last.seq })) {
    scanned++;
    const seq = seqOf(m.msgId, prefix);
    if (seq !== undefined && seq >= unacked.firstSeq && seq <= unacked.lastSeq) found.push(seq);
    if (opts.deadlineMs !== undefined && Date.now() >= opts.deadlineMs) break;
  }
  return { seqs: seqRanges(found), scanned };
}
