/**
 * Which sessions this Claw owns when several Claws share the fleet (issue 18): the plugin service's side of
 * the Claw groups (schemas/claw-groups.ts). Every `leaseTtlMs / 3` it
 *
 * 1. asks the policy for the groups (`claws`, as the Claw); none configured: one-Claw mode, nothing here acts
 *    (no leases, every notice delivered, no epochs);
 * 2. keeps its own liveness lease `claw.<clawId>` (taken by force: the key is this Claw's alone);
 * 3. learns which Claws of its group and the groups below it are live: their `claw.<id>` keys, read one at a
 *    time, count as live while their revision keeps changing within the TTL on this Claw's own clock (as a lease
 *    standby judges expiry: services/bus/lease.ts), and from the first sight of a revision;
 * 4. lists the sessions and, for each one `designatedOwner()` gives it, keeps the session's lease
 *    `claw-session.<id>` (a standby lease: a key another Claw holds is taken when released, or at once when its
 *    holder's liveness has stopped changing for a whole TTL, since that holder stopped acting 0.2 TTL before);
 *    a session no longer designated to it is released, so its new owner takes it at once;
 * 5. on each taking publishes a `session-adopted` FLEET notice (msg id `adopted.<sessionId>.<epoch>`) with the
 *    session's current record and the ids of the notices about it published after the previous owner's last
 *    renewal (it may have missed them).
 *
 * While its liveness lease is not held (not renewed within 0.8 TTL) the Claw stops acting: {@link acting} is
 * false (tools that write refuse, no notice is delivered) and its session leases are stopped (nothing written),
 * so another Claw can take them once they lapse.
 *
 * {@link route} says what to do with a fleet notice: deliver it, skip it (another Claw's session, which that
 * Claw is also designated to own), hold it (a session nobody owns yet, one on its way between Claws, or one this
 * Claw is about to take: redelivered after a second, then delivered when still not another's after about two
 * TTLs), or wait (not acting, or the groups not known yet).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { ClawGroup, ClawGroups, ClawsResult } from "../../schemas/claw-groups.js";
import { FleetEvent } from "../../schemas/fleet.js";
import type { SessionRecord } from "../../schemas/registry.js";
import {
  LEASE_BUCKET,
  STREAM_NAMES,
  leaseKeys,
  JetStreamPublisher,
  leaseView,
  openKvBucket,
  publishDeduplicated,
  readStream,
  startLease,
  subjects,
  type KvBucket,
  type Lease,
  type LeaseView,
} from "../bus/index.js";
import { ancestry, designatedOwner, dueEscalations, groupOfClaw, owningGroup } from "../clients/claw-ownership.js";
import { getSession, listAllSessions } from "../clients/registry-queries.js";
import { FleetToolError } from "./claw-caller.js";

/** Where the groups come from: the `claws` command through the policy (injectable for tests). */
export type ClawsSource = () => Promise<ClawsResult>;
/** Every session of the fleet, with the short ids the registry gives them. */
export type SessionsSource = () => Promise<{ sessions: SessionRecord[]; shortIds: Map<string, string> }>;

/** What to do with one delivered notice. */
export type Route =
  /** Deliver it (and ack). */
  | "deliver"
  /** Another Claw's session: ack it without delivering. */
  | "skip"
  /** A session nobody owns yet (or this Claw is taking): redeliver after {@link HOLD_DELAY_MS}. */
  | "hold"
  /** Not acting, or the groups are not known yet: redeliver after {@link WAIT_DELAY_MS}. */
  | "wait";

/** Redelivery delay of a held notice, ms. */
export const HOLD_DELAY_MS = 1_000;
/** Redelivery delay while the Claw is not acting or does not know the groups yet, ms. */
export const WAIT_DELAY_MS = 5_000;

/** How long a notice routed `hold` or `wait` waits before it is delivered again, ms. Pure. */
export function redeliveryDelayMs(r: "hold" | "wait"): number {
  return r === "hold" ? HOLD_DELAY_MS : WAIT_DELAY_MS;
}
/** The most notice ids a `session-adopted` lists. */
const MAX_REPLAYED = 100;
/** How often the groups are asked for while none are configured, ms. */
const UNCONFIGURED_POLL_MS = 10_000;
/** The TTL when the answer gives none (the schema's default). */
const DEFAULT_TTL_MS = 15_000;
/** When an unanswered ask escalates on its own, when the answer gives none (the schema's default). */
const DEFAULT_ESCALATE_AFTER_MS = 600_000;

/** Minimal logger. */
export interface OwnershipLogger {
  info(msg: string): void;
  warn(msg: string): void;
}

export interface OwnershipOptions {
  nc: NatsConnection;
  clawId: string;
  claws: ClawsSource;
  /** Default: the registry's whole listing. */
  sessions?: SessionsSource;
  log?: OwnershipLogger;
  /** How often to ask for the groups while none are configured (ms, default 10 s). */
  unconfiguredPollMs?: number;
  /**
   * Sends `escalate` for a session this Claw owns (through the policy, with its epoch): what an unanswered ask,
   * approval or escalation does on its own (claw-ownership.ts `dueEscalations`). Absent: nothing escalates itself.
   */
  escalate?: (sessionId: string, reason: string, question: string | null) => Promise<unknown>;
  now?: () => number;
}

/** What `clawSupervisor.status` shows of it. */
export interface OwnershipStatus {
  /** null until the policy first answered `claws`. */
  configured: boolean | null;
  group: string | null;
  /** False while this Claw has stopped acting (its liveness lease not held). */
  acting: boolean;
  leaseTtlMs: number | null;
  /** Live Claws of its group and the groups below, itself included, as last seen. */
  liveClaws: string[];
  sessionsOwned: number;
  /** Leases it waits to take (designated to it, held by another until released or lapsed). */
  sessionsPending: number;
  adoptions: number;
  noticesSkipped: number;
  noticesHeld: number;
  lastError: string | null;
}

/** A `claws` answer as the ownership functions take it. Pure. */
export function groupsOf(r: ClawsResult): ClawGroups {
  return {
    groups: r.groups.map((g) => ({ name: g.name, claws: [...g.claws], owns: [...g.owns], parent: g.parent })),
    leaseTtlMs: r.leaseTtlMs ?? DEFAULT_TTL_MS,
    escalateAfterMs: r.escalateAfterMs ?? DEFAULT_ESCALATE_AFTER_MS,
  };
}

/** `group` and every group below it (whose parents lead to it). Pure. */
export function groupsBelow(doc: ClawGroups, group: ClawGroup): ClawGroup[] {
  const byName = new Map(doc.groups.map((g) => [g.name, g]));
  return doc.groups.filter((g) => {
    for (let at: ClawGroup | undefined = g, n = 0; at && n <= doc.groups.length; n++) {
      if (at.name === group.name) return true;
      at = at.parent === null ? undefined : byName.get(at.parent);
    }
    return false;
  });
}

/** How the policy's refusal of `claws` reads: an older policy, or one that does not let this Claw ask, has no groups for it. */
function definitiveRefusal(err: unknown): boolean {
  return err instanceof FleetToolError && (err.code === "invalid" || err.code === "denied" || err.code === "not_found");
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Tracked {
  revision: number;
  sinceMs: number;
}

interface SessionLease {
  lease: Lease;
  sessionId: string;
}

/** See the module comment. */
export class OwnershipManager {
  private readonly now: () => number;
  private kv: KvBucket | null = null;
  /** Publishes the session-adopted notices (one reply subscription for all of them). */
  private publisher: JetStreamPublisher | null = null;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private running: Promise<void> = Promise.resolve();
  private doc: ClawGroups | null = null;
  private configuredState: boolean | null = null;
  private ttlMs = DEFAULT_TTL_MS;
  private group: ClawGroup | null = null;
  private liveness: Lease | null = null;
  private readonly leases = new Map<string, SessionLease>();
  /** Liveness keys of other Claws: the revision last seen and since when (this Claw's clock). */
  private readonly tracked = new Map<string, Tracked>();
  private live = new Set<string>();
  private sessions = new Map<string, SessionRecord>();
  private shortIds = new Map<string, string>();
  /** First sight of a held notice, by delivery key. */
  private readonly holding = new Map<string, number>();
  /** When this Claw last escalated each session on its own (unix ms). */
  private readonly escalatedAt = new Map<string, number>();
  /** Another Claw's session lease as last read, by session id, for routing. */
  private readonly owners = new Map<string, { holder: string | null; atMs: number }>();
  private readonly counts = { adoptions: 0, noticesSkipped: 0, noticesHeld: 0 };
  private lastError: string | null = null;

  constructor(private readonly opts: OwnershipOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Starts ticking (the first tick at once). */
  start(): void {
    this.schedule(0);
  }

  /** One tick now (tests); resolves when it is done. */
  async tickNow(): Promise<void> {
    await this.running;
    this.running = this.tick();
    await this.running;
  }

  /**
   * Stops. `release` (default): gives every lease up, so other Claws take its sessions at once; without it the
   * leases are left to lapse (as after a crash).
   */
  async stop(o: { release?: boolean } = {}): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running.catch(() => undefined);
    await this.dropAll(o.release ?? true);
    this.publisher?.close("the ownership manager stopped");
  }

  /** Null until the groups are known; then whether any are configured. */
  configured(): boolean | null {
    return this.configuredState;
  }

  /** True when notices and commands need no ownership at all (no groups configured). */
  passThrough(): boolean {
    return this.configuredState === false;
  }

  /** False while the Claw must not act: groups configured and its liveness lease not held. */
  acting(): boolean {
    if (this.configuredState !== true) return true;
    return this.liveness?.held() ?? false;
  }

  /** This Claw's lease epoch on `sessionId` (a full id, or a short id or unique prefix of one it owns); undefined when it does not own it. */
  owns(sessionId: string): number | undefined {
    if (this.configuredState !== true || !this.acting()) return undefined;
    const id = this.resolve(sessionId);
    if (id === undefined) return undefined;
    const l = this.leases.get(id)?.lease;
    return l?.held() ? l.epoch : undefined;
  }

  /** The sessions it owns now, with their epochs. */
  owned(): Map<string, number> {
    const out = new Map<string, number>();
    if (this.configuredState !== true || !this.acting()) return out;
    for (const [id, { lease }] of this.leases) if (lease.held() && lease.epoch !== undefined) out.set(id, lease.epoch);
    return out;
  }

  status(): OwnershipStatus {
    const owned = this.owned().size;
    return {
      configured: this.configuredState,
      group: this.group?.name ?? null,
      acting: this.acting(),
      leaseTtlMs: this.configuredState === true ? this.ttlMs : null,
      liveClaws: [...this.live].sort(),
      sessionsOwned: owned,
      sessionsPending: this.configuredState === true ? this.leases.size - owned : 0,
      adoptions: this.counts.adoptions,
      noticesSkipped: this.counts.noticesSkipped,
      noticesHeld: this.counts.noticesHeld,
      lastError: this.lastError,
    };
  }

  /**
   * What to do with a delivered notice (see {@link Route}); `deliveryKey` names the message across its
   * redeliveries (consumer and stream sequence), for how long it has been held.
   */
  async route(e: FleetEvent, deliveryKey: string): Promise<Route> {
    const r = await this.decide(e, deliveryKey);
    if (r === "hold") {
      if (!this.holding.has(deliveryKey)) {
        this.holding.set(deliveryKey, this.now());
        this.counts.noticesHeld++;
      }
    } else if (r !== "wait") this.holding.delete(deliveryKey);
    if (r === "skip") this.counts.noticesSkipped++;
    return r;
  }

  private async decide(e: FleetEvent, deliveryKey: string): Promise<Route> {
    if (this.configuredState === false) return "deliver";
    if (this.configuredState === null || !this.acting()) return "wait";
    if (e.sessionId === null) return "deliver";
    if (e.kind === "session-adopted") return e.adoption?.clawId === this.opts.clawId ? "deliver" : "skip";
    // An escalation is for the Claws of the group it went to (the owner sent it; people see it in attention).
    if (e.kind === "session-escalated") {
      const to = e.session?.escalation?.toGroup ?? null;
      return to !== null && to === this.group?.name ? "deliver" : "skip";
    }
    const sid = e.sessionId;
    if (this.owns(sid) !== undefined) return "deliver";
    const held = this.holding.get(deliveryKey);
    const expired = held !== undefined && this.now() - held >= 2 * this.ttlMs;
    // About to take it: hold it for the taking (then it is delivered above).
    if (this.leases.has(sid)) return expired ? "deliver" : "hold";
    // A session of no group is nobody's and stays so: every Claw gets it.
    const record = this.sessions.get(sid) ?? e.session;
    if (record && this.doc && owningGroup(this.doc, record) === null) return "deliver";
    const holder = await this.ownerOf(sid);
    // Another Claw's, and staying so (it is the one this Claw would designate too): it gets the notice. A session
    // on its way between Claws is held instead, so the notice reaches whichever takes it.
    if (holder !== null && holder !== this.opts.clawId && record && this.doc)
      if (designatedOwner(this.doc, record, this.live)?.clawId === holder) return "skip";
    return expired ? "deliver" : "hold";
  }

  /** Who holds `sessionId`'s lease (null: nobody, released, or junk), read at most once per period. */
  private async ownerOf(sessionId: string): Promise<string | null> {
    const known = this.owners.get(sessionId);
    if (known && this.now() - known.atMs < this.period()) return known.holder;
    let holder: string | null = null;
    try {
      const view = leaseView(await (await this.bucket()).get(leaseKeys.clawSession(sessionId)));
      holder = view && !view.record.released ? view.record.holder : null;
    } catch (err) {
      this.lastError = `reading the lease of ${sessionId}: ${(err as Error).message}`;
    }
    this.owners.set(sessionId, { holder, atMs: this.now() });
    return holder;
  }

  private resolve(sessionId: string): string | undefined {
    if (this.leases.has(sessionId)) return sessionId;
    for (const [id, short] of this.shortIds) if (short === sessionId && this.leases.has(id)) return id;
    const matches = [...this.leases.keys()].filter((id) => id.startsWith(sessionId));
    return sessionId.length >= 4 && matches.length === 1 ? matches[0] : undefined;
  }

  private period(): number {
    return Math.max(100, Math.floor(this.ttlMs / 3));
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .catch((err: Error) => {
          this.lastError = err.message;
          this.opts.log?.warn(`claw-supervisor: ownership: ${err.message}`);
        })
        .finally(() => this.schedule(this.configuredState === true ? this.period() : this.idlePoll()));
    }, ms);
    this.timer.unref?.();
  }

  private idlePoll(): number {
    return this.configuredState === null
      ? Math.min(this.period(), 2_000)
      : (this.opts.unconfiguredPollMs ?? UNCONFIGURED_POLL_MS);
  }

  private async bucket(): Promise<KvBucket> {
    // Direct gets by subject: the claw user may read its lease keys one at a time, nothing else of the bucket.
    this.kv ??= await openKvBucket(this.opts.nc, LEASE_BUCKET, { direct: true });
    return this.kv;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    let answer: ClawsResult;
    try {
      answer = await this.opts.claws();
    } catch (err) {
      if (!definitiveRefusal(err)) {
        this.lastError = `claws: ${(err as Error).message}`;
        return; // keep what was known
      }
      if (this.configuredState !== false)
        this.opts.log?.warn(
          `claw-supervisor: the policy refuses 'claws' (${(err as Error).message}); acting as the only Claw`,
        );
      answer = { configured: false, leaseTtlMs: null, escalateAfterMs: null, groups: [], claws: [], sessions: [] };
    }
    if (this.stopped) return;
    if (!answer.configured) {
      if (this.configuredState === true)
        this.opts.log?.info("claw-supervisor: Claw groups removed; acting as the only Claw");
      this.configuredState = false;
      this.doc = null;
      this.group = null;
      await this.dropAll(true);
      return;
    }
    const doc = groupsOf(answer);
    const ttl = doc.leaseTtlMs;
    if (this.configuredState === true && ttl !== this.ttlMs) await this.dropAll(true); // new timings: start over
    this.doc = doc;
    this.ttlMs = ttl;
    this.configuredState = true;
    this.group = groupOfClaw(doc, this.opts.clawId);
    const kv = await this.bucket();
    const fresh = this.liveness === null;
    this.liveness ??= startLease({
      kv,
      key: leaseKeys.claw(this.opts.clawId),
      holder: this.opts.clawId,
      ttlMs: ttl,
      force: true,
      note: "claw liveness",
      onLost: (reason) => {
        if (reason === "stopped" || reason === "released") return;
        this.opts.log?.warn(
          `claw-supervisor: this Claw's liveness lease ended (${reason}): it stops acting until it holds it again`,
        );
        this.stopSessionLeases();
      },
      onError: (err) => {
        this.lastError = err.message;
      },
      now: this.now,
    });
    if (fresh) await Promise.race([this.liveness.acquired, sleep(Math.min(2_000, this.period()))]);
    if (!this.liveness.held()) {
      // Not (yet, or no longer) live: hold nothing, act on nothing.
      this.stopSessionLeases();
      return;
    }
    if (this.group === null) {
      // In no group: it owns nothing (it still gets host notices and its own session-adopted, none).
      await this.releaseAll();
      this.live = new Set([this.opts.clawId]);
      return;
    }
    this.live = await this.readLiveness(kv, this.group, doc);
    let listing: Awaited<ReturnType<SessionsSource>>;
    try {
      listing = await (this.opts.sessions ?? this.listSessions)();
    } catch (err) {
      this.lastError = `listing sessions: ${(err as Error).message}`;
      return; // keep the leases as they are
    }
    this.sessions = new Map(listing.sessions.map((s) => [s.sessionId, s]));
    this.shortIds = listing.shortIds;
    const want = new Set<string>();
    for (const s of listing.sessions) {
      const d = designatedOwner(doc, s, this.live);
      if (d?.clawId === this.opts.clawId) want.add(s.sessionId);
    }
    for (const [id, l] of this.leases)
      if (!want.has(id)) {
        this.leases.delete(id);
        await l.lease.release("no longer designated to this Claw");
      }
    for (const id of want) if (!this.leases.has(id)) await this.take(kv, id);
    await this.escalateDue(doc);
  }

  /** Sends the escalations that are due on sessions this Claw holds (at most once a TTL per session). */
  private async escalateDue(doc: ClawGroups): Promise<void> {
    const send = this.opts.escalate;
    if (send === undefined) return;
    const mine = [...this.leases.keys()]
      .filter((id) => this.leases.get(id)?.lease.held())
      .flatMap((id) => this.sessions.get(id) ?? []);
    const now = Date.now();
    for (const due of dueEscalations(doc, mine, now)) {
      const last = this.escalatedAt.get(due.sessionId);
      if (last !== undefined && now - last < this.ttlMs) continue; // the registry may not show it yet
      this.escalatedAt.set(due.sessionId, now);
      try {
        await send(due.sessionId, due.reason, due.question);
        this.opts.log?.info(`claw-supervisor: escalated ${due.sessionId} on its own: ${due.reason}`);
      } catch (err) {
        this.lastError = `escalating ${due.sessionId}: ${(err as Error).message}`;
      }
    }
  }

  private listSessions = async (): Promise<Awaited<ReturnType<SessionsSource>>> => {
    const { sessions, shortIds } = await listAllSessions(this.opts.nc, {});
    return { sessions, shortIds };
  };

  /** The live Claws of `group` and the groups below it, this one included (see the module comment). */
  private async readLiveness(kv: KvBucket, group: ClawGroup, doc: ClawGroups): Promise<Set<string>> {
    const live = new Set([this.opts.clawId]);
    // Below: the groups whose sessions may pass up to this one; above: a Claw that accepted an escalation of one
    // of this group's sessions holds it while it is live.
    const relevant = new Set([...groupsBelow(doc, group), ...ancestry(doc, group)].flatMap((g) => g.claws));
    relevant.delete(this.opts.clawId);
    for (const id of this.tracked.keys()) if (!relevant.has(id)) this.tracked.delete(id);
    for (const id of relevant) {
      let entry: Awaited<ReturnType<KvBucket["get"]>>;
      try {
        entry = await kv.get(leaseKeys.claw(id));
      } catch (err) {
        this.lastError = `reading ${leaseKeys.claw(id)}: ${(err as Error).message}`;
        // Unknown: keep the last judgement.
        const t = this.tracked.get(id);
        if (t && this.now() - t.sinceMs < this.ttlMs) live.add(id);
        continue;
      }
      const view = leaseView(entry);
      if (entry === null || entry.operation !== "PUT" || view?.record.released) {
        this.tracked.delete(id);
        continue;
      }
      const t = this.tracked.get(id);
      if (!t || t.revision !== entry.revision) this.tracked.set(id, { revision: entry.revision, sinceMs: this.now() });
      if (this.now() - (this.tracked.get(id)?.sinceMs ?? 0) < this.ttlMs) live.add(id);
    }
    return live;
  }

  /** Whether `clawId`'s liveness key has been seen unchanged for a whole TTL (it stopped acting before that). */
  private seenDead(clawId: string): boolean {
    const t = this.tracked.get(clawId);
    return t !== undefined && this.now() - t.sinceMs >= this.ttlMs;
  }

  /** Starts the lease on a session designated to this Claw. */
  private async take(kv: KvBucket, sessionId: string): Promise<void> {
    const key = leaseKeys.clawSession(sessionId);
    let current: LeaseView | null = null;
    try {
      current = leaseView(await kv.get(key));
    } catch {
      // The lease reads it again.
    }
    // Its holder's liveness stood still for a TTL: it stopped acting, take it now rather than wait another TTL.
    const holder = current && !current.record.released ? current.record.holder : null;
    const force = holder !== null && holder !== this.opts.clawId && this.seenDead(holder);
    const group = this.group?.name ?? null;
    const lease = startLease({
      kv,
      key,
      holder: this.opts.clawId,
      ttlMs: this.ttlMs,
      force,
      standby: true,
      note: force ? `taken from ${holder}: its liveness lapsed` : "claw session",
      onAcquired: (epoch, previous) => {
        this.owners.delete(sessionId);
        void this.adopted(sessionId, epoch, previous, group);
      },
      onError: (err) => {
        this.lastError = err.message;
      },
      now: this.now,
    });
    this.leases.set(sessionId, { lease, sessionId });
  }

  /** Publishes the `session-adopted` notice of a taking (a few tries; its msg id makes repeats harmless). */
  private async adopted(sessionId: string, epoch: number, previous: LeaseView | null, group: string | null) {
    this.counts.adoptions++;
    const previousClawId = previous?.record.holder ?? null;
    const record = this.sessions.get(sessionId);
    const why =
      record?.escalation?.acceptedBy === this.opts.clawId
        ? "accepted"
        : previous === null
          ? "unowned"
          : previous.record.released
            ? "released"
            : "lapsed";
    for (let attempt = 1; attempt <= 3 && !this.stopped; attempt++) {
      try {
        const replayed =
          previous?.createdMs === undefined ? [] : await this.noticesSince(sessionId, previous.createdMs);
        const session =
          (await getSession(this.opts.nc, { sessionId }).catch(() => null)) ?? this.sessions.get(sessionId) ?? null;
        const id = `adopted.${sessionId}.${epoch}`;
        const notice: FleetEvent = {
          id,
          kind: "session-adopted",
          priority: "high",
          hostId: session?.host ?? "",
          sessionId,
          atMs: Date.now(),
          previousStatus: null,
          session,
          host: null,
          adoption: {
            clawId: this.opts.clawId,
            group,
            leaseEpoch: epoch,
            previousClawId,
            why,
            replayed,
          },
        };
        await publishDeduplicated(
          (this.publisher ??= new JetStreamPublisher(this.opts.nc)),
          subjects.fleet("session-adopted"),
          JSON.stringify(notice),
          id,
        );
        this.opts.log?.info(
          `claw-supervisor: adopted ${sessionId} at epoch ${epoch} (${why}${previousClawId ? ` from ${previousClawId}` : ""})`,
        );
        return;
      } catch (err) {
        this.lastError = `session-adopted ${sessionId}: ${(err as Error).message}`;
        await sleep(500 * attempt);
      }
    }
  }

  /** Ids of FLEET notices about `sessionId` stored at or after `sinceMs` (server time), oldest first, at most 100. */
  private async noticesSince(sessionId: string, sinceMs: number): Promise<string[]> {
    const ids: string[] = [];
    const decoder = new TextDecoder();
    for await (const m of readStream(this.opts.nc, STREAM_NAMES.fleet, { sinceMs, batch: 500 })) {
      let parsed: ReturnType<typeof FleetEvent.safeParse>;
      try {
        parsed = FleetEvent.safeParse(JSON.parse(decoder.decode(m.data)));
      } catch {
        continue;
      }
      if (!parsed.success || parsed.data.sessionId !== sessionId) continue;
      ids.push(parsed.data.id);
      if (ids.length >= MAX_REPLAYED) break;
    }
    return ids;
  }

  /** Stops the session leases without writing (not acting: they lapse for another Claw to take). */
  private stopSessionLeases(): void {
    for (const { lease } of this.leases.values()) lease.stop();
    this.leases.clear();
  }

  private async releaseAll(): Promise<void> {
    const all = [...this.leases.values()];
    this.leases.clear();
    await Promise.all(all.map((l) => l.lease.release("released by its Claw")));
  }

  private async dropAll(release: boolean): Promise<void> {
    if (release) await this.releaseAll();
    else this.stopSessionLeases();
    const liveness = this.liveness;
    this.liveness = null;
    if (liveness) {
      if (release) await liveness.release("claw stopped");
      else liveness.stop();
    }
    this.tracked.clear();
    this.live = new Set();
  }
}
