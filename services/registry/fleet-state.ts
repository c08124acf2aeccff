/**
 * The registry's in-memory fleet, the one fold the live registry and replay share: one session snapshot per
 * `<hostId>.<threadId>` and one host snapshot per host, each stepped by its machine's pure stepper
 * (`machines/fold.ts`), fed by envelopes, host lifecycle messages and sweeps. Synchronous and pure: no actor,
 * no timer, no I/O, no clock; the caller passes the time of each change (the live registry its clock, replay
 * the events' own times). It tracks which keys changed since they were last persisted (and how urgently), and
 * the fleet notices (computed by `notices.ts`) waiting to be published.
 */
import { sessionEventsOf } from "../../machines/from-bus.js";
import { hostLifecycleEvent, hostMachine, hostRecordOf } from "../../machines/host.js";
import { sessionMachine, sessionRecordOf, type SessionMachineEvent } from "../../machines/session.js";
import { agentEventTypes, AppServerPayload, HOST_THREAD_ID } from "../../schemas/agent-events.js";
import { priceSessionUsage, type PriceTable, type SessionUsage } from "../../schemas/budget.js";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import type { FleetEvent } from "../../schemas/fleet.js";
import type { HostLifecycle } from "../../schemas/gateway.js";
import type { HostRecord, HostStatus, SessionRecord } from "../../schemas/registry.js";
import {
  alreadyApplied,
  sessionKey,
  type AppliedPosition,
  type HostEntry,
  type SessionEntry,
  type ViewWriter,
} from "../../schemas/registry-entry.js";
import { envelopeNotices, hostEpisode, hostNotices, recordJson, sessionNotices, type NoticeCause } from "./notices.js";
import { silentLogger, type RegistryLogger } from "./logger.js";
import { MachineSlot } from "./machine-slot.js";
import { SessionIndex, sortedHosts } from "./session-index.js";
import { compactSessionSnapshot, expandSessionSnapshot, type PersistedSnapshot } from "./snapshot-form.js";

/** Host thresholds (ms) and which host status makes its sessions stale. */
export interface FleetStateOptions {
  degradedAfterMs: number;
  offlineAfterMs: number;
  staleAfterMs: number;
  /** Host status at which its sessions get `STALE` (default `stale`). */
  staleSessionsWhen?: "stale" | "offline";
  /** How entries store the session snapshot (snapshot-form.ts; default `compact`). */
  sessionSnapshots?: "compact" | "whole";
  logger?: RegistryLogger;
  /** The index queries read; shared when several partitions' folds (and a read model) fill one. */
  index?: SessionIndex;
  /** Written into every entry this fold hands out (the partition lease it writes under). */
  writer?: ViewWriter;
  /**
   * The price table records are priced with when made (issue 19): read at each record, so a holder whose
   * `table` is replaced prices the next records by the new one (`reprice` updates the records held). Default: none.
   */
  prices?: PriceBook;
}

/** Holds the price table in force (the active policy's `budgets.prices`); replace `table` when it changes. */
export interface PriceBook {
  readonly table: PriceTable;
}

const NO_PRICES: PriceBook = { table: {} };

/** `now`: the public record changed, write at the next flush; `soon`: only `lastSeenAt`/heartbeat times or hidden machine state changed, may wait for a batch. */
export type Urgency = "now" | "soon";

/** What happened to one envelope. */
export type EnvelopeOutcome = "applied" | "unchanged" | "duplicate" | "ignored";

interface SessionSlot {
  key: string;
  /** `sessionKey(record.host, record.sessionId)`, the index's key (made once: a record's ids never change). */
  indexKey: string;
  /** The start of its KV entry's JSON, up to the record (made at its first write). */
  entryHead?: string;
  /** The JSON of its applied epoch, made when the epoch changes. */
  epochJson?: { epoch: string; json: string };
  /** `[key]`, made once: what every event of this session waits for before its ack. */
  keys: readonly string[];
  hostId: string;
  threadId: string;
  machine: MachineSlot<typeof sessionMachine>;
  applied: AppliedPosition;
  record: SessionRecord;
  /** The machine's (unpriced) usage last priced, the table it was priced with, and the result (always set: one slot shape). */
  pricing: { from: SessionUsage; table: PriceTable; priced: SessionUsage } | undefined;
}

interface HostSlot {
  machine: MachineSlot<typeof hostMachine>;
  record: HostRecord;
}

interface Dirty {
  urgency: Urgency;
  sinceMs: number;
}

/** Counters since start; `eventsUnchanged` counts envelopes that left every persisted state as it was. */
export interface FleetStateStats {
  eventsApplied: number;
  eventsUnchanged: number;
  eventsDuplicate: number;
  eventsIgnored: number;
}

// How far gone a host is: its sessions go stale when it first reaches the configured rank (a sweep can skip a step).
const hostRank: Record<HostStatus, number> = { connecting: 0, online: 0, degraded: 1, offline: 2, stale: 3 };

/**
 * `JSON.stringify(slot.applied)` (`{"epoch":...,"seq":...}`), with the JSON of the session's epoch kept on the
 * slot: a session's epoch changes only when its host agent restarts.
 */
function appliedJson(slot: SessionSlot): string {
  const { epoch, seq } = slot.applied;
  if (slot.epochJson?.epoch !== epoch) slot.epochJson = { epoch, json: JSON.stringify(epoch) };
  return `{"epoch":${slot.epochJson.json},"seq":${JSON.stringify(seq)}}`;
}

/** True when two records agree on every field but `except` (fields are primitives, or objects the machine replaces whenever they change). */
function sameExcept<T extends object>(a: T, b: T, except: keyof T): boolean {
  // for-in over own data fields (records are plain objects): no key arrays built per comparison.
  let fields = 0;
  for (const key in b) {
    fields++;
    if (key !== except && a[key] !== b[key]) return false;
  }
  for (const _ in a) fields--;
  return fields === 0;
}
const sameButSeen = (a: SessionRecord, b: SessionRecord): boolean => sameExcept(a, b, "lastSeenAt");
const sameButHeartbeat = (a: HostRecord, b: HostRecord): boolean => sameExcept(a, b, "lastHeartbeatAt");

/** True when two pricings of the same tokens agree on every cost and the flag. */
function samePricing(a: SessionUsage, b: SessionUsage): boolean {
  if (a.costUsd !== b.costUsd || a.priced !== b.priced || a.model !== b.model) return false;
  for (const day in b.days) if (a.days[day]?.costUsd !== b.days[day]?.costUsd) return false;
  return true;
}

/** The fleet in memory. Not thread-safe by design: every method is synchronous. */
export class FleetState {
  readonly index: SessionIndex;
  readonly stats: FleetStateStats = { eventsApplied: 0, eventsUnchanged: 0, eventsDuplicate: 0, eventsIgnored: 0 };
  private readonly sessions = new Map<string, SessionSlot>();
  private readonly hosts = new Map<string, HostSlot>();
  private readonly sessionKeysByHost = new Map<string, string[]>();
  private readonly dirtySessions = new Map<string, Dirty>();
  private readonly dirtyHosts = new Map<string, Dirty>();
  private notices: FleetEvent[] = [];
  /** The last envelope applied to a session, and that session (see `keysOf`). */
  private lastEnvelope: SessionEventEnvelope | undefined;
  private lastSlot: SessionSlot | undefined;
  private readonly logger: RegistryLogger;
  private readonly staleSessionsWhen: HostStatus;
  /** `,"writer":{...}` appended to every entry handed out, or "" without a writer. */
  private readonly writerJson: string;
  private readonly prices: PriceBook;
  private readonly compactSnapshots: boolean;

  constructor(private readonly opts: FleetStateOptions) {
    this.logger = opts.logger ?? silentLogger;
    this.staleSessionsWhen = opts.staleSessionsWhen ?? "stale";
    this.index = opts.index ?? new SessionIndex();
    this.writerJson = opts.writer ? `,"writer":${JSON.stringify(opts.writer)}` : "";
    this.prices = opts.prices ?? NO_PRICES;
    this.compactSnapshots = (opts.sessionSnapshots ?? "compact") === "compact";
  }

  /**
   * The record of a slot's machine, its usage priced with the table in force. The priced usage is kept per slot
   * and made again only when the machine's usage or the table changed (a new object either way), so an event
   * that is not token usage costs two comparisons here and leaves `usage` the same object (`sameButSeen`).
   */
  private recordOf(slot: Pick<SessionSlot, "machine" | "pricing">): SessionRecord {
    const record = sessionRecordOf(slot.machine.snapshot);
    const usage = record.usage;
    if (usage === null) return record;
    const table = this.prices.table;
    const pricing = slot.pricing;
    if (pricing !== undefined && pricing.from === usage && pricing.table === table) record.usage = pricing.priced;
    else {
      record.usage = priceSessionUsage(usage, table);
      slot.pricing = { from: usage, table, priced: record.usage };
    }
    return record;
  }

  /**
   * The price table changed: every held session with usage is priced again, and those whose costs changed are
   * written at the next flush (no notice: nothing happened to the session). `nowMs` times the change.
   */
  reprice(nowMs: number): number {
    let changed = 0;
    for (const slot of this.sessions.values()) {
      const before = slot.record.usage;
      if (before === null) continue;
      const next = this.recordOf(slot);
      if (samePricing(before, next.usage as SessionUsage)) continue;
      slot.record = next;
      this.index.put(next, slot.indexKey);
      this.markDirty(this.dirtySessions, slot.key, "now", nowMs);
      changed++;
    }
    return changed;
  }

  /**
   * Restores one session from its KV entry (not marked dirty, no notices). A session already held is replaced
   * by it (adopting an entry another writer stored further along the same session's events).
   */
  restoreSession(entry: SessionEntry): void {
    const machine = new MachineSlot(
      sessionMachine,
      { hostId: entry.hostId, threadId: entry.threadId },
      this.logger,
      entry.record.sessionId,
      expandSessionSnapshot(entry.snapshot, entry.record),
    );
    const existing = this.sessions.get(sessionKey(entry.hostId, entry.threadId));
    if (existing) {
      existing.machine = machine;
      existing.applied = entry.applied;
      existing.record = this.recordOf(existing);
      existing.indexKey = sessionKey(existing.record.host, existing.record.sessionId);
      this.index.put(existing.record, existing.indexKey);
      return;
    }
    const slot = this.addSession(entry.hostId, entry.threadId, machine, entry.applied);
    this.index.put(slot.record, slot.indexKey);
  }

  /** The position a held session has applied up to (undefined for a session not held). */
  appliedOf(key: string): AppliedPosition | undefined {
    return this.sessions.get(key)?.applied;
  }

  /** Number of held sessions by status. */
  statusCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const slot of this.sessions.values())
      counts.set(slot.record.status, (counts.get(slot.record.status) ?? 0) + 1);
    return counts;
  }

  /** Restores one host from its KV entry; the thresholds come from these options, not the stored snapshot. */
  restoreHost(entry: HostEntry): void {
    const persisted = entry.snapshot as { context?: Record<string, unknown> };
    const snapshot = { ...persisted, context: { ...persisted.context, ...this.thresholds() } };
    this.addHost(entry.hostId, snapshot);
  }

  /**
   * After restoring: gives every host that has sessions but no stored entry a host snapshot (written at the
   * next flush). `nowMs` times those changes; they are urgent, so it never delays their write.
   */
  finishRestore(nowMs = 0): void {
    for (const hostId of this.sessionKeysByHost.keys()) this.ensureHost(hostId, nowMs);
  }

  /**
   * Applies one envelope to its session, unless `(epoch, seq)` was already applied there. `nowMs` is when the
   * change counts as made, for batching its write (default: the envelope's `emittedAtMs`).
   */
  applyEnvelope(env: SessionEventEnvelope, nowMs: number = env.emittedAtMs): EnvelopeOutcome {
    if (env.threadId === HOST_THREAD_ID) return this.applyHostEvent(env, nowMs);
    const key = sessionKey(env.hostId, env.threadId);
    const position = { epoch: env.epoch, seq: env.seq };
    let slot = this.sessions.get(key);
    if (slot && alreadyApplied(slot.applied, position)) {
      this.stats.eventsDuplicate++;
      return "duplicate";
    }
    const isNew = slot === undefined;
    if (!slot) {
      const machine = new MachineSlot(
        sessionMachine,
        { hostId: env.hostId, threadId: env.threadId },
        this.logger,
        env.threadId,
      );
      slot = this.addSession(env.hostId, env.threadId, machine, position);
      this.ensureHost(env.hostId, nowMs);
    }
    slot.applied = position;
    this.lastEnvelope = env;
    this.lastSlot = slot;
    let changed = isNew;
    for (const event of sessionEventsOf(env)) changed = slot.machine.send(event) || changed;
    if (!changed) {
      this.stats.eventsUnchanged++;
      this.notices.push(...envelopeNotices(env, slot.record));
      return "unchanged";
    }
    this.stats.eventsApplied++;
    this.sessionChanged(
      slot,
      isNew ? undefined : slot.record,
      { atMs: env.emittedAtMs, token: `${env.epoch}:${env.seq}` },
      nowMs,
    );
    this.notices.push(...envelopeNotices(env, slot.record));
    if (isNew) this.hostChanged(env.hostId, env.emittedAtMs, nowMs);
    return "applied";
  }

  /**
   * The session keys whose persisted entries hold an envelope's effect (its ack waits for all of them): its
   * session's, every session of its host for an `agent/app-server` event, none for other host events.
   */
  keysOf(env: SessionEventEnvelope): readonly string[] {
    // The envelope applied last (the registry asks right after applying it): its slot, without a new key.
    if (env === this.lastEnvelope && this.lastSlot !== undefined) return this.lastSlot.keys;
    if (env.threadId !== HOST_THREAD_ID) {
      const key = sessionKey(env.hostId, env.threadId);
      return this.sessions.get(key)?.keys ?? [key];
    }
    return env.type === agentEventTypes.appServer ? [...(this.sessionKeysByHost.get(env.hostId) ?? [])] : [];
  }

  /**
   * A host-wide envelope. `agent/app-server` reaches every session of the host known so far (the fold of the
   * log before it, so replay agrees): `disconnected` makes each that claims a status `unknown`; `connected` with
   * the list of loaded threads closes each not on it (a loaded one waits for the agent's sync). Each session
   * takes it once: its applied position moves only when it changed. Other host events change no session.
   */
  private applyHostEvent(env: SessionEventEnvelope, nowMs: number): EnvelopeOutcome {
    const parsed = env.type === agentEventTypes.appServer ? AppServerPayload.safeParse(env.payload) : undefined;
    if (!parsed?.success) {
      this.stats.eventsIgnored++;
      return "ignored";
    }
    const payload = parsed.data;
    const atMs = env.emittedAtMs;
    const position = { epoch: env.epoch, seq: env.seq };
    const cause = { atMs, token: `${env.epoch}:${env.seq}` };
    const loaded = payload.state === "connected" && payload.loaded !== null ? new Set(payload.loaded) : null;
    let fresh = false;
    let changed = false;
    for (const key of this.sessionKeysByHost.get(env.hostId) ?? []) {
      const slot = this.sessions.get(key) as SessionSlot;
      if (alreadyApplied(slot.applied, position)) continue;
      fresh = true;
      let event: SessionMachineEvent | undefined;
      if (payload.state === "disconnected") event = { type: "APP_SERVER_LOST", atMs };
      else if (loaded !== null && !loaded.has(slot.threadId) && slot.record.status !== "closed")
        event = { type: "CLOSED", atMs };
      if (event === undefined || !slot.machine.send(event)) continue;
      slot.applied = position;
      changed = true;
      this.sessionChanged(slot, slot.record, cause, nowMs);
    }
    const outcome: EnvelopeOutcome = changed ? "applied" : fresh ? "unchanged" : "duplicate";
    if (outcome === "applied") this.stats.eventsApplied++;
    else if (outcome === "unchanged") this.stats.eventsUnchanged++;
    else this.stats.eventsDuplicate++;
    return outcome;
  }

  /**
   * Applies one gateway lifecycle message to its host (creating the host on first sight). `nowMs` is when the
   * change counts as made (default: the message's `atMs`).
   */
  applyHostLifecycle(msg: HostLifecycle, nowMs: number = msg.atMs): void {
    const slot = this.ensureHost(msg.hostId, nowMs);
    if (slot.machine.send(hostLifecycleEvent(msg))) this.hostChanged(msg.hostId, msg.atMs, nowMs);
  }

  /** Sends `SWEEP { nowMs }` to every host; hosts that reach the configured status make their sessions stale. */
  sweep(nowMs: number): void {
    for (const hostId of this.hosts.keys()) {
      const slot = this.hosts.get(hostId) as HostSlot;
      if (slot.machine.send({ type: "SWEEP", nowMs })) this.hostChanged(hostId, nowMs, nowMs);
    }
  }

  /** Notices waiting to be published, in order; taking them empties the queue. */
  takeNotices(): FleetEvent[] {
    const taken = this.notices;
    this.notices = [];
    return taken;
  }

  /** True when `key` has changes not yet handed out by `takeSessionWrites`. */
  isSessionDirty(key: string): boolean {
    return this.dirtySessions.has(key);
  }

  /** Session entries to write: every `now` key, plus `soon` keys dirty since `soonBeforeMs` (all when `force`). */
  takeSessionWrites(soonBeforeMs: number, force: boolean): { key: string; value: string }[] {
    const writes: { key: string; value: string }[] = [];
    for (const [key, dirty] of this.dirtySessions) {
      if (!force && dirty.urgency === "soon" && dirty.sinceMs > soonBeforeMs) continue;
      const slot = this.sessions.get(key) as SessionSlot;
      slot.entryHead ??= `{"v":1,"hostId":${JSON.stringify(slot.hostId)},"threadId":${JSON.stringify(slot.threadId)},"record":`;
      const snapshot = this.compactSnapshots
        ? JSON.stringify(compactSessionSnapshot(slot.machine.persisted as PersistedSnapshot, slot.record))
        : slot.machine.persistedJson;
      const entry = `${slot.entryHead}${recordJson(slot.record)},"snapshot":${snapshot},"applied":${appliedJson(slot)}${this.writerJson}}`;
      writes.push({ key, value: entry });
      this.dirtySessions.delete(key);
    }
    return writes;
  }

  /** Host entries to write, by the same rule as sessions. */
  takeHostWrites(soonBeforeMs: number, force: boolean): { key: string; value: string }[] {
    const writes: { key: string; value: string }[] = [];
    for (const [hostId, dirty] of this.dirtyHosts) {
      if (!force && dirty.urgency === "soon" && dirty.sinceMs > soonBeforeMs) continue;
      const slot = this.hosts.get(hostId) as HostSlot;
      writes.push({
        key: hostId,
        value: `{"v":1,"hostId":${JSON.stringify(hostId)},"record":${JSON.stringify(slot.record)},"snapshot":${slot.machine.persistedJson}${this.writerJson}}`,
      });
      this.dirtyHosts.delete(hostId);
    }
    return writes;
  }

  /** Earliest time (wall clock ms) a `soon` change was made, or undefined when none waits. */
  oldestSoonChange(): number | undefined {
    let oldest: number | undefined;
    for (const d of [...this.dirtySessions.values(), ...this.dirtyHosts.values()]) {
      if (d.urgency === "soon" && (oldest === undefined || d.sinceMs < oldest)) oldest = d.sinceMs;
    }
    return oldest;
  }

  /** Every host record, sorted by id. */
  hostRecords(): HostRecord[] {
    return sortedHosts([...this.hosts.values()].map((h) => h.record));
  }

  /** Number of session and host snapshots held. */
  get size(): { sessions: number; hosts: number } {
    return { sessions: this.sessions.size, hosts: this.hosts.size };
  }

  /** Nothing to stop: the fold holds snapshots, nothing runs in the background. Kept for holders' teardown. */
  stop(): void {}

  private thresholds() {
    return {
      degradedAfterMs: this.opts.degradedAfterMs,
      offlineAfterMs: this.opts.offlineAfterMs,
      staleAfterMs: this.opts.staleAfterMs,
    };
  }

  private addSession(
    hostId: string,
    threadId: string,
    machine: MachineSlot<typeof sessionMachine>,
    applied: AppliedPosition,
  ): SessionSlot {
    const key = sessionKey(hostId, threadId);
    const priced: Pick<SessionSlot, "machine" | "pricing"> = { machine, pricing: undefined };
    const record = this.recordOf(priced);
    const slot: SessionSlot = {
      key,
      indexKey: sessionKey(record.host, record.sessionId),
      keys: [key],
      hostId,
      threadId,
      machine,
      applied,
      record,
      pricing: priced.pricing,
    };
    this.sessions.set(key, slot);
    const keys = this.sessionKeysByHost.get(hostId);
    if (keys) keys.push(key);
    else this.sessionKeysByHost.set(hostId, [key]);
    return slot;
  }

  private addHost(hostId: string, persisted?: unknown): HostSlot {
    const machine = new MachineSlot(
      hostMachine,
      { hostId, ...this.thresholds() },
      this.logger,
      `host ${hostId}`,
      persisted,
    );
    const slot: HostSlot = {
      machine,
      record: hostRecordOf(machine.snapshot, this.sessionKeysByHost.get(hostId)?.length ?? 0),
    };
    this.hosts.set(hostId, slot);
    return slot;
  }

  private ensureHost(hostId: string, nowMs: number): HostSlot {
    const existing = this.hosts.get(hostId);
    if (existing) return existing;
    const slot = this.addHost(hostId);
    this.markDirty(this.dirtyHosts, hostId, "now", nowMs);
    return slot;
  }

  private markDirty(map: Map<string, Dirty>, key: string, urgency: Urgency, nowMs: number): void {
    const prev = map.get(key);
    if (!prev) map.set(key, { urgency, sinceMs: nowMs });
    else if (urgency === "now") prev.urgency = "now";
  }

  private sessionChanged(slot: SessionSlot, prev: SessionRecord | undefined, cause: NoticeCause, nowMs: number): void {
    const next = this.recordOf(slot);
    const urgent = prev === undefined || !sameButSeen(prev, next);
    if (next.host !== slot.record.host || next.sessionId !== slot.record.sessionId)
      slot.indexKey = sessionKey(next.host, next.sessionId);
    slot.record = next;
    this.index.put(next, slot.indexKey);
    this.markDirty(this.dirtySessions, slot.key, urgent ? "now" : "soon", nowMs);
    this.notices.push(...sessionNotices(prev, next, cause));
  }

  /** A host's snapshot changed at `atMs` (the notice time), recorded at `nowMs` (the write batching time). */
  private hostChanged(hostId: string, atMs: number, nowMs: number): void {
    const slot = this.hosts.get(hostId);
    if (!slot) return;
    const prev = slot.record;
    const next = hostRecordOf(slot.machine.snapshot, this.sessionKeysByHost.get(hostId)?.length ?? 0);
    slot.record = next;
    this.markDirty(this.dirtyHosts, hostId, sameButHeartbeat(prev, next) ? "soon" : "now", nowMs);
    this.notices.push(...hostNotices(prev, next, atMs));
    const trigger = hostRank[this.staleSessionsWhen];
    if (hostRank[next.status] >= trigger && hostRank[prev.status] < trigger)
      this.staleSessionsOf(hostId, next, atMs, nowMs);
  }

  private staleSessionsOf(hostId: string, host: HostRecord, atMs: number, nowMs: number): void {
    const cause = { atMs, token: `stale:${hostEpisode(host)}` };
    for (const key of this.sessionKeysByHost.get(hostId) ?? []) {
      const slot = this.sessions.get(key) as SessionSlot;
      if (slot.machine.send({ type: "STALE", atMs })) this.sessionChanged(slot, slot.record, cause, nowMs);
    }
  }
}
