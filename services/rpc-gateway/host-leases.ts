/**
 * At most one live connection per host id across every gateway instance: a connection whose hello is accepted
 * takes the `host.<hostId>` lease in `codex-leases` by force (services/bus/lease.ts), so the newest connection
 * holds the host; its epoch (the revision of the taking write) fences what is done under it. The holder renews
 * it every third of the TTL; a holder learns that it was taken over on its next renewal, or at once through
 * this gateway's follow of the bucket (`observe`). The lease's note names the agent run (hello epoch) and host
 * name, so whoever is deposed can tell a reconnect of the same agent from a second agent claiming the host id.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { HostConflict } from "../../schemas/fleet.js";
import { fleetPriorityOf, type FleetEvent } from "../../schemas/fleet.js";
import {
  followKvBucket,
  LEASE_BUCKET,
  leaseKeys,
  startLease,
  type KvBucket,
  type KvEntry,
  type KvFollow,
  type KvFollowEntry,
  type Lease,
  type LeaseLossReason,
  type LeaseView,
} from "../bus/index.js";
import { agentRunToken, type LeaseClaimant } from "./protocol.js";

/** Default TTL of a host lease, in ms (capped at half the bucket's max age). */
export const DEFAULT_HOST_LEASE_TTL_MS = 15_000;

const NOTE = /^agent=(\S+) hostname=(.*)$/s;

/** The lease note naming a connection's agent run and host name (at most 200 characters). Pure. */
export function claimNote(agentEpoch: string, hostname: string): string {
  return `agent=${agentRunToken(agentEpoch)} hostname=${hostname.replace(/\s+/g, " ").slice(0, 100)}`;
}

/** Who holds a lease, read from its record (holder: the gateway id; note: the agent run and host name). Pure. */
export function claimantOf(view: LeaseView): LeaseClaimant {
  const m = NOTE.exec(view.record.note ?? "");
  return {
    agentEpoch: m?.[1] ?? null,
    hostname: m?.[2] || null,
    gatewayId: view.record.holder,
    leaseEpoch: view.epoch,
  };
}

/** A followed bucket entry as the KvEntry `Lease.observe` reads. Pure. */
export function asKvEntry(e: KvFollowEntry, bucket: string = LEASE_BUCKET): KvEntry {
  const text = (): string => new TextDecoder().decode(e.value);
  return {
    bucket,
    key: e.key,
    rawKey: e.key,
    value: e.value,
    created: new Date(e.createdMs),
    revision: e.revision,
    delta: e.pending,
    operation: e.operation,
    length: e.value.length,
    json: <T>() => JSON.parse(text()) as T,
    string: text,
  };
}

/** The `host-conflict` notice a deposing gateway publishes: the id is per host and taking epoch. Pure. */
export function hostConflictNotice(hostId: string, conflict: HostConflict, atMs: number): FleetEvent {
  return {
    id: `fleet:host-conflict:${hostId}:${conflict.leaseEpoch}`,
    kind: "host-conflict",
    priority: fleetPriorityOf["host-conflict"],
    hostId,
    sessionId: null,
    atMs,
    previousStatus: null,
    session: null,
    host: null,
    conflict,
  };
}

/** What a claim reports back to its connection. */
export interface HostLeaseEvents {
  onAcquired(epoch: number): void;
  /** `taken`: by a newer connection (`holder`, null when unreadable); `expired`: not renewed in time. */
  onLost(reason: Extract<LeaseLossReason, "taken" | "expired">, holder: LeaseClaimant | null): void;
  onError(err: Error): void;
}

/** One connection's claim on its host's lease. */
export interface HostLease {
  readonly key: string;
  /** True while held and renewed in time. */
  held(): boolean;
  /** Gives the lease up (a `released` record) if still held; then stops. */
  release(note: string): Promise<void>;
  /** Stops renewing without writing anything (after a takeover). */
  stop(): void;
}

/** Takes host leases for one gateway and follows the bucket so takeovers are noticed at once. */
export class HostLeases {
  private readonly byKey = new Map<string, Set<Lease>>();
  private readonly releasing = new Set<Promise<void>>();
  private follow: KvFollow | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly kv: KvBucket,
    private readonly gatewayId: string,
    readonly ttlMs: number,
    private readonly logger: Logger,
  ) {}

  /** Starts following the bucket (re-opened after a pause whenever it ends). */
  start(): void {
    this.loop ??= this.followLoop();
  }

  /** Takes `host.<hostId>` by force for a connection of agent run `agentEpoch`; see HostLeaseEvents. */
  claim(hostId: string, agent: { agentEpoch: string; hostname: string }, events: HostLeaseEvents): HostLease {
    const key = leaseKeys.host(hostId);
    let lease: Lease | undefined;
    const forget = (): void => {
      const set = this.byKey.get(key);
      if (!lease || !set) return;
      set.delete(lease);
      if (set.size === 0) this.byKey.delete(key);
    };
    lease = startLease({
      kv: this.kv,
      key,
      holder: this.gatewayId,
      ttlMs: this.ttlMs,
      force: true,
      standby: false,
      note: claimNote(agent.agentEpoch, agent.hostname),
      onAcquired: (epoch) => events.onAcquired(epoch),
      onLost: (reason, by) => {
        forget();
        if (reason === "taken" || reason === "expired")
          events.onLost(reason, reason === "taken" && by ? claimantOf(by) : null);
      },
      onError: (err) => events.onError(err),
    });
    const set = this.byKey.get(key) ?? new Set<Lease>();
    set.add(lease);
    this.byKey.set(key, set);
    const held = lease;
    return {
      key,
      held: () => held.held(),
      release: (note) => {
        forget();
        const done = held.release(note).catch(() => undefined);
        this.releasing.add(done);
        void done.finally(() => this.releasing.delete(done));
        return done;
      },
      stop: () => {
        forget();
        held.stop();
      },
    };
  }

  /** Stops the follow and waits (at most `graceMs`) for releases still being written. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    // Both write to the bus: bounded, since it may be unreachable.
    const following = this.follow?.stop().catch(() => undefined);
    const grace = new Promise((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([Promise.all([following, ...this.releasing]), grace]);
  }

  private route(e: KvFollowEntry): void {
    const set = this.byKey.get(e.key);
    if (!set) return;
    const entry = asKvEntry(e);
    for (const lease of [...set]) lease.observe(entry);
  }

  private async followLoop(): Promise<void> {
    let pauseMs = 250;
    while (!this.stopped) {
      try {
        const follow = await followKvBucket(this.nc, LEASE_BUCKET);
        this.follow = follow;
        if (this.stopped) await follow.stop();
        for await (const e of follow) {
          pauseMs = 250;
          if (e.key.startsWith("host.")) this.route(e);
        }
      } catch (err) {
        if (!this.stopped)
          this.logger.warn(
            { err: (err as Error).message, retryInMs: pauseMs },
            "cannot follow codex-leases: takeovers are noticed at the next renewal until it is back",
          );
      } finally {
        this.follow = undefined;
      }
      if (this.stopped) break;
      await new Promise((resolve) => setTimeout(resolve, pauseMs).unref());
      pauseMs = Math.min(pauseMs * 2, 5_000);
    }
  }
}
