/**
 * At most one live connection per host id across every gateway instance: a connection whose hello is accepted
 * takes the `host.<hostId>` lease in `codex-leases` by force (services/bus/lease.ts), so the newest connection
 * holds the host; its epoch (the revision of the taking write) fences what is done under it. The holder renews
 * it every third of the TTL; a holder learns that it was taken over on its next renewal, or at once through
 * this gateway's follow of the bucket (`observe`). The lease's note names the agent run (hello epoch) with the
 * hash of its secret, so whoever is deposed can tell a reconnect of the same agent from a second agent claiming
 * the host id, and the host name, token id and remote address, so a conflict notice names both sides.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { HostClaimant, HostConflict } from "../../schemas/fleet.js";
import { fleetPriorityOf, type FleetEvent } from "../../schemas/fleet.js";
import {
  followEntryAsKvEntry,
  followKvBucket,
  LEASE_BUCKET,
  leaseKeys,
  startLease,
  type KvBucket,
  type KvFollow,
  type KvFollowEntry,
  type Lease,
  type LeaseLossReason,
  type LeaseView,
} from "../bus/index.js";
import { agentRunToken, type LeaseClaimant } from "./protocol.js";

/** Default TTL of a host lease, in ms (capped at half the bucket's max age). */
export const DEFAULT_HOST_LEASE_TTL_MS = 15_000;

/** Most characters a lease note may have (LeaseRecord.note). */
const MAX_NOTE = 200;
/** Most characters of a remote address in a note (an IPv6 address with a zone fits). */
const MAX_NOTE_ADDRESS = 64;
/** A note as this gateway writes it: host name without whitespace, then the optional fields. */
const NOTE = /^agent=(\S+) hostname=(\S*)((?: (?:key|token|from)=\S+)*)$/;
/** A note as older gateways wrote it (a host name with single spaces, nothing after it). */
const OLD_NOTE = /^agent=(\S+) hostname=(.*)$/s;

/** What a connection's lease note says about it. */
export interface ClaimNoteFields {
  agentEpoch: string;
  hostname: string;
  /** runKeyOf the hello's runSecret; null when it had none. */
  runKey: string | null;
  tokenId: string | null;
  remoteAddress: string | null;
}

/**
 * The lease note naming a connection's agent run, host name, run key, token id and remote address, at most 200
 * characters: `agent=<run> hostname=<name> key=<runKey> token=<tokenId> from=<address>` (the last three when
 * known). The host name loses its whitespace and is cut to what the rest leaves. Older gateways read the run
 * from it as before (the rest as part of the host name). Pure.
 */
export function claimNote(c: ClaimNoteFields): string {
  const word = (text: string, max: number): string => text.replace(/\s+/g, "_").slice(0, max);
  const tail = [
    c.runKey === null ? "" : ` key=${word(c.runKey, 64)}`,
    c.tokenId === null ? "" : ` token=${word(c.tokenId, 32)}`,
    c.remoteAddress === null || c.remoteAddress === "" ? "" : ` from=${word(c.remoteAddress, MAX_NOTE_ADDRESS)}`,
  ].join("");
  const head = `agent=${agentRunToken(c.agentEpoch)} hostname=`;
  return `${head}${word(c.hostname, Math.max(0, MAX_NOTE - head.length - tail.length))}${tail}`;
}

/** Who holds a lease, read from its record (holder: the gateway id; note: see claimNote). Pure. */
export function claimantOf(view: LeaseView): LeaseClaimant {
  const note = view.record.note ?? "";
  const m = NOTE.exec(note);
  const fields = new Map(
    (m?.[3] ?? "")
      .split(" ")
      .filter(Boolean)
      .map((f) => [f.slice(0, f.indexOf("=")), f.slice(f.indexOf("=") + 1)] as const),
  );
  const old = m ? null : OLD_NOTE.exec(note);
  return {
    agentEpoch: (m ?? old)?.[1] ?? null,
    runKey: fields.get("key") ?? null,
    hostname: (m ?? old)?.[2] || null,
    tokenId: fields.get("token") ?? null,
    remoteAddress: fields.get("from") ?? null,
    gatewayId: view.record.holder,
    leaseEpoch: view.epoch,
  };
}

/** One side of a conflict as a notice names it. Pure. */
function claimantText(c: HostClaimant): string {
  const about = [
    `run ${c.agentEpoch ?? "?"}`,
    `token ${c.tokenId ?? "?"}`,
    ...(c.remoteAddress ? [`from ${c.remoteAddress}`] : []),
    `via ${c.gatewayId ?? "?"}`,
  ];
  return `the agent on ${c.hostname ?? "an unknown host"} (${about.join(", ")})`;
}

/**
 * What a host-conflict notice reports (the newer claimant `holder` holds the host at `leaseEpoch`), with its
 * summary. The same token id on both sides means one host token is in use on two machines: copied, or stolen;
 * the summary says so and how to revoke it. Pure.
 */
export function hostConflict(
  hostId: string,
  holder: HostClaimant,
  displaced: HostClaimant,
  leaseEpoch: number,
): HostConflict {
  const copiedToken = holder.tokenId != null && holder.tokenId === displaced.tokenId;
  const tokens =
    holder.tokenId == null || displaced.tokenId == null
      ? ""
      : copiedToken
        ? ` Both used host token ${holder.tokenId}: that token was copied to a second machine, or stolen. Revoke it (claw-supervisor token revoke ${hostId} --token-id ${holder.tokenId}) and give each machine its own host id and token.`
        : ` They used two different tokens of this host id (${holder.tokenId}, ${displaced.tokenId}): two machines are set up as one host; give each its own host id.`;
  const summary = `Host ${hostId} is claimed by two agents: ${claimantText(holder)} holds it since lease epoch ${leaseEpoch}; ${claimantText(displaced)} was told to stop.${tokens}`;
  return { holder, displaced, leaseEpoch, copiedToken, summary: summary.slice(0, 1_000) };
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

  /** Takes `host.<hostId>` by force for a connection of agent run `agent.agentEpoch`; see HostLeaseEvents. */
  claim(hostId: string, agent: ClaimNoteFields, events: HostLeaseEvents): HostLease {
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
      note: claimNote(agent),
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
    const entry = followEntryAsKvEntry(e, LEASE_BUCKET);
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
