/**
 * The host agent's bounded buffer of un-acknowledged events. Pure: no I/O, no timers. Every event stays here
 * from the moment it is created until the gateway acks (or rejects) it; while the gateway is unreachable the
 * buffer fills, and when it is over its count or byte limit the OLDEST events are dropped and recorded in one
 * open `agent/gap` event (created at the first drop, updated in place until it is sent). An event dropped
 * while it is sent on the current connection is not lost yet: only its seq is kept, and it goes into a gap
 * only if that connection ends before its ack (otherwise a heal, which resends the whole buffer and then adds
 * events, reported events the gateway went on to store as dropped). Gap events do not count against the
 * limits and are kept until acked like any other; at most MAX_GAP_EVENTS are held, beyond that the oldest sent
 * one is folded into the open gap (a receiver that stored it may then count those drops twice; the seq ranges
 * stay right).
 *
 * An event sent on a connection that ended before its ack is in doubt: the gateway may have stored it. The
 * next hello names the events in doubt (`inDoubt`) and the welcome says which the gateway found stored;
 * `ackStored` drops those as if acked, so a heal after a long one-way cut does not store them again.
 */
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import type { GapPayload } from "../../schemas/agent-events.js";
import type { UnackedEvents } from "../../schemas/gateway.js";

/** Limits of the buffer. */
export interface EventBufferLimits {
  /** Most events held (gap events are not counted). */
  maxEvents: number;
  /** Most bytes of event JSON held (gap events are not counted). */
  maxBytes: number;
}

/** Most gap events held at once (only reached when connections keep failing before any ack). */
export const MAX_GAP_EVENTS = 16;

/** Default limits: 50 000 events or 64 MiB. */
export const DEFAULT_BUFFER_LIMITS: EventBufferLimits = { maxEvents: 50_000, maxBytes: 64 * 1024 * 1024 };

/** One buffered event with its serialised form. */
export interface BufferedEvent {
  readonly seq: number;
  event: SessionEventEnvelope;
  /** The event's JSON (the `event` field of an EventFrame). */
  json: string;
  bytes: number;
  /** Sent on the current gateway connection and waiting for its ack. */
  sent: boolean;
  /** Sent on some connection (so maybe stored) and not acked yet. */
  everSent: boolean;
  /** When it was first sent (the caller's clock, unix ms), when `takeUnsent` was given the time. */
  firstSentAtMs: number | undefined;
  /** True for an `agent/gap` event. */
  readonly gap: boolean;
}

/** Buffer counters for status and heartbeats. */
export interface EventBufferStats {
  events: number;
  bytes: number;
  /** Events dropped since the buffer was created. */
  droppedTotal: number;
}

/** Bounded, ordered buffer of events waiting for an ack; see the module comment. */
export class EventBuffer {
  /** Insertion order is seq order: a Map keeps it and deletes in O(1). */
  private readonly entries = new Map<number, BufferedEvent>();
  private unsent: BufferedEvent[] = [];
  private unsentHead = 0;
  private openGap: BufferedEvent | undefined;
  private heldBytes = 0;
  private gapCount = 0;
  private gapBytes = 0;
  private dropped = 0;
  /** Seqs dropped while sent on the current connection: acked, or a gap when the connection ends. */
  private droppedInFlight = new Set<number>();

  /** `newGapEvent` builds the envelope of a new gap event (it takes the next seq). */
  constructor(
    private readonly limits: EventBufferLimits,
    private readonly newGapEvent: (payload: GapPayload) => SessionEventEnvelope,
  ) {}

  /** Adds an event (seq must be greater than every seq pushed before); drops the oldest when over a limit. */
  push(event: SessionEventEnvelope): void {
    this.add(event, false);
    this.enforceLimits();
  }

  /** Removes the event with this seq (acked or rejected); false when it is not held. */
  ack(seq: number): boolean {
    const entry = this.entries.get(seq);
    if (!entry) return this.droppedInFlight.delete(seq);
    this.remove(entry);
    return true;
  }

  /** The events not yet sent on the current connection, in order; marks them sent (at `nowMs`, if given). */
  takeUnsent(nowMs?: number): BufferedEvent[] {
    const out: BufferedEvent[] = [];
    for (; this.unsentHead < this.unsent.length; this.unsentHead++) {
      const entry = this.unsent[this.unsentHead]!;
      if (!this.entries.has(entry.seq) || entry.sent) continue;
      entry.sent = true;
      if (!entry.everSent) {
        entry.everSent = true;
        entry.firstSentAtMs = nowMs;
      }
      if (entry === this.openGap) this.openGap = undefined;
      out.push(entry);
    }
    this.unsent = [];
    this.unsentHead = 0;
    return out;
  }

  /** The connection is gone: events dropped in flight without an ack are a gap; every held one is sent again, oldest first. */
  resetSent(): void {
    this.unsent = [];
    this.unsentHead = 0;
    for (const entry of this.entries.values()) {
      entry.sent = false;
      this.unsent.push(entry);
    }
    if (this.droppedInFlight.size === 0) return;
    let firstSeq = Number.POSITIVE_INFINITY;
    let lastSeq = Number.NEGATIVE_INFINITY;
    for (const seq of this.droppedInFlight) {
      firstSeq = Math.min(firstSeq, seq);
      lastSeq = Math.max(lastSeq, seq);
    }
    const dropped = this.droppedInFlight.size;
    this.droppedInFlight.clear();
    this.dropped += dropped;
    this.recordInOpenGap({ dropped, firstSeq, lastSeq });
    this.enforceLimits();
  }

  /**
   * The held events sent on an earlier connection without an ack (the gateway may have stored them): their
   * lowest and highest seq and how long ago the first was first sent. Null when there are none, or when one
   * was sent without a time (then nothing is looked up and everything is sent again).
   */
  inDoubt(nowMs: number): UnackedEvents | null {
    let firstSeq = -1;
    let lastSeq = -1;
    let firstSentAtMs = Number.POSITIVE_INFINITY;
    for (const entry of this.entries.values()) {
      if (!entry.everSent) continue;
      if (entry.firstSentAtMs === undefined) return null;
      if (firstSeq < 0) firstSeq = entry.seq;
      lastSeq = entry.seq;
      firstSentAtMs = Math.min(firstSentAtMs, entry.firstSentAtMs);
    }
    if (firstSeq < 0) return null;
    return { firstSeq, lastSeq, ageMs: Math.max(0, Math.round(nowMs - firstSentAtMs)) };
  }

  /**
   * The gateway found these seqs stored (inclusive ranges): drops each held event among them that was sent
   * before, as if acked. An event never sent is kept whatever the ranges say. Returns how many were dropped.
   */
  ackStored(ranges: readonly (readonly [number, number])[]): number {
    const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
    let acked = 0;
    let r = 0;
    for (const entry of this.entries.values()) {
      while (r < sorted.length && sorted[r]![1] < entry.seq) r++;
      if (r === sorted.length) break;
      if (entry.everSent && entry.seq >= sorted[r]![0]) {
        this.remove(entry);
        acked++;
      }
    }
    return acked;
  }

  /** Counters for status reports. */
  stats(): EventBufferStats {
    return { events: this.entries.size, bytes: this.heldBytes, droppedTotal: this.dropped };
  }

  /** Every held event in order (for tests and diagnostics). */
  snapshot(): SessionEventEnvelope[] {
    return [...this.entries.values()].map((e) => e.event);
  }

  private add(event: SessionEventEnvelope, gap: boolean): BufferedEvent {
    const json = JSON.stringify(event);
    const entry: BufferedEvent = {
      seq: event.seq,
      event,
      json,
      bytes: Buffer.byteLength(json, "utf8"),
      sent: false,
      everSent: false,
      firstSentAtMs: undefined,
      gap,
    };
    this.entries.set(entry.seq, entry);
    this.unsent.push(entry);
    this.heldBytes += entry.bytes;
    if (gap) {
      this.gapCount++;
      this.gapBytes += entry.bytes;
    }
    return entry;
  }

  private remove(entry: BufferedEvent): void {
    this.entries.delete(entry.seq);
    this.heldBytes -= entry.bytes;
    if (entry.gap) {
      this.gapCount--;
      this.gapBytes -= entry.bytes;
    }
    if (entry === this.openGap) this.openGap = undefined;
  }

  private enforceLimits(): void {
    let gap: GapPayload | undefined;
    let newlyDropped = 0;
    while (
      this.entries.size - this.gapCount > this.limits.maxEvents ||
      this.heldBytes - this.gapBytes > this.limits.maxBytes
    ) {
      const oldest = this.oldest((e) => !e.gap);
      if (!oldest) break;
      this.remove(oldest);
      if (oldest.sent) {
        this.droppedInFlight.add(oldest.seq);
        continue;
      }
      newlyDropped++;
      const lost = { dropped: 1, firstSeq: oldest.seq, lastSeq: oldest.seq };
      gap = gap ? mergeGaps(gap, lost) : lost;
    }
    if (gap) {
      this.dropped += newlyDropped;
      this.recordInOpenGap(gap);
    }
    while (this.gapCount > MAX_GAP_EVENTS) {
      const oldestSent = this.oldest((e) => e.gap && e !== this.openGap);
      if (!oldestSent) break;
      this.remove(oldestSent);
      this.recordInOpenGap(oldestSent.event.payload as GapPayload);
    }
  }

  private recordInOpenGap(gap: GapPayload): void {
    const open = this.openGap;
    if (!open) {
      this.openGap = this.add(this.newGapEvent(gap), true);
      return;
    }
    const delta = -open.bytes;
    open.event = { ...open.event, payload: mergeGaps(open.event.payload as GapPayload, gap) };
    open.json = JSON.stringify(open.event);
    open.bytes = Buffer.byteLength(open.json, "utf8");
    this.heldBytes += delta + open.bytes;
    this.gapBytes += delta + open.bytes;
  }

  private oldest(pred: (e: BufferedEvent) => boolean): BufferedEvent | undefined {
    for (const entry of this.entries.values()) if (pred(entry)) return entry;
    return undefined;
  }
}

/** Two gap records as one: counts add up, the range covers both. Pure. */
export function mergeGaps(a: GapPayload, b: GapPayload): GapPayload {
  return {
    dropped: a.dropped + b.dropped,
    firstSeq: Math.min(a.firstSeq, b.firstSeq),
    lastSeq: Math.max(a.lastSeq, b.lastSeq),
  };
}
