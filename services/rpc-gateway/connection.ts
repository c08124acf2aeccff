/**
 * One authenticated host agent socket: feeds what happens on it into the pure steps of `protocol.ts` and
 * performs the actions they return (send, publish, close), with backpressure on the socket.
 *
 * Flood control is backpressure, not a rate limit: when `maxInFlight` publishes and unflushed sends are
 * pending, the socket is paused, so the kernel's receive window fills and the agent's own sends block until
 * the bus catches up. Nothing an honest agent sends is dropped (a rate limit would have to reject valid
 * events, and a reject means "never stored"), and memory per connection stays bounded by `maxInFlight`
 * plus one socket read. Heartbeats do not publish to JetStream and are thinned by the protocol instead.
 *
 * A hello naming events whose acks the agent never got (`unacked`) is looked up in CODEX_EVENTS first
 * (stored-lookup.ts): the welcome names those already stored, and they are not published again.
 *
 * The host's lease (host-leases.ts) is taken after the hello and before the welcome; while this connection
 * holds it, it serves the host's commands, each `rpc` frame carrying the lease's epoch. When a newer connection
 * takes it over (here or on another gateway) this one is closed without publishing `disconnected`.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { WebSocket, type RawData } from "ws";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import { failure } from "../../schemas/commands.js";
import { HostLifecycle, MAX_ACKS_PER_FRAME, type GatewayFrame, type UnackedEvents } from "../../schemas/gateway.js";
import type { HostRpcRequest, HostRpcResult } from "../../schemas/host-rpc.js";
import { BusError, publishCheckedSessionEvent, subjects, type JetStreamPublisher } from "../bus/index.js";
import type { ServiceMetrics } from "../ops/metrics.js";
import type { HostLease, HostLeases } from "./host-leases.js";
import {
  connectionClosed,
  eventStored,
  eventStoreFailed,
  frameTooBig,
  gatewayStopping,
  helloTimedOut,
  initialConnectionState,
  leaseExpired,
  leaseNotTaken,
  leaseTaken,
  leaseTakenOver,
  peerUnresponsive,
  receiveFrame,
  storedLookedUp,
  tokenRevoked,
  type ConnectionState,
  type LeaseClaimant,
  type ProtocolAction,
  type ProtocolLimits,
  type Step,
} from "./protocol.js";
import { RpcCalls } from "./rpc-calls.js";
import type { StoredLookup } from "./stored-lookup.js";

/** What a connection needs from the gateway around it. */
export interface HostConnectionDeps {
  gatewayId: string;
  nc: NatsConnection;
  /** Pipelined JetStream publishing for events (one reply subscription for the whole gateway). */
  publisher: JetStreamPublisher;
  logger: Logger;
  limits: ProtocolLimits;
  maxInFlight: number;
  maxFrameBytes: number;
  helloTimeoutMs: number;
  pingIntervalMs: number;
  /** Host leases of this gateway. */
  leases: HostLeases;
  /** Which of a run's unacked events CODEX_EVENTS holds (bounded in time by the gateway); rejects on bus errors. */
  lookupStored(hostId: string, epoch: string, unacked: UnackedEvents): Promise<StoredLookup>;
  metrics?: ServiceMetrics;
  /** Called once the host's lease is this connection's, before the welcome and `connected`. */
  onHeld(conn: HostConnection): void;
  /** Called when the connection stops holding the lease (taken over or expired), before it is closed. */
  onLeaseLost(conn: HostConnection, why: string): void;
  /** A different agent took this host over from this connection: tell the fleet. */
  onConflict(conn: HostConnection, holder: LeaseClaimant): void;
  /** Called once the socket has closed. */
  onClosed(conn: HostConnection): void;
}

// Bus refusals that will not change on a retry: the event itself is at fault.
const PERMANENT_BUS_CODES: ReadonlySet<string> = new Set(["invalid_event", "invalid_subject_token"]);

/** The gateway's handle on one host agent socket. */
export class HostConnection {
  readonly hostId: string;
  readonly tokenId: string;
  readonly remoteAddress: string | null;
  /** Settles once the socket has closed and `disconnected` (if due) has been published. */
  readonly closed: Promise<void>;
  private state: ConnectionState;
  private readonly log: Logger;
  private alive = true;
  private pending = 0;
  private publishing = 0;
  /** Acks gathered for one `acks` frame (agents that asked for batches), sent once the current I/O is handled. */
  private acks: { epoch: string; seqs: number[]; duplicates: number } | null = null;
  private readonly helloTimer: NodeJS.Timeout;
  private leaseTimer: NodeJS.Timeout | undefined;
  private readonly rpcCalls = new RpcCalls();
  private lease: HostLease | undefined;
  /** `lost` once taken over or expired: never held again on this connection. */
  private leaseState: "none" | "taking" | "held" | "lost" = "none";
  private leaseError: string | null = null;
  private socketClosed = false;

  constructor(
    private readonly ws: WebSocket,
    auth: { hostId: string; tokenId: string; remoteAddress: string | undefined },
    private readonly deps: HostConnectionDeps,
  ) {
    this.hostId = auth.hostId;
    this.tokenId = auth.tokenId;
    this.remoteAddress = auth.remoteAddress ?? null;
    this.state = initialConnectionState(auth.hostId, deps.gatewayId);
    this.log = deps.logger.child({ hostId: auth.hostId, tokenId: auth.tokenId, remote: auth.remoteAddress });
    this.helloTimer = setTimeout(() => this.apply(helloTimedOut(this.state, deps.helloTimeoutMs)), deps.helloTimeoutMs);
    this.helloTimer.unref();
    this.watchFrameSize();
    ws.on("message", (data: RawData) => this.apply(receiveFrame(this.state, toBytes(data), Date.now(), deps.limits)));
    ws.on("pong", () => {
      this.alive = true;
    });
    ws.on("error", (err) => this.log.warn({ err: err.message }, "socket error"));
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.socketClosed = true;
        clearTimeout(this.helloTimer);
        clearTimeout(this.leaseTimer);
        this.rpcCalls.close(`socket closed (${code})`);
        this.apply(
          connectionClosed(
            this.state,
            Date.now(),
            `socket closed (${code}${reason.length ? ` ${reason.toString()}` : ""})`,
          ),
        );
        this.endLease();
        deps.onClosed(this);
        resolve();
      });
    });
  }

  /** True once this connection's hello was accepted. */
  get helloAccepted(): boolean {
    return this.state.hello !== null;
  }

  /** The epoch of the host lease this connection holds or held; null before it was taken. */
  get leaseEpoch(): number | null {
    return this.state.leaseEpoch;
  }

  /** True while this connection holds its host's lease (taken, renewed in time, not taken over). */
  holdsLease(): boolean {
    return this.leaseState === "held" && this.lease?.held() === true && !this.state.closing;
  }

  /** This connection as a lease claimant (for deposing an older one and for conflict notices). */
  claimant(): LeaseClaimant | null {
    if (this.state.leaseEpoch === null) return null;
    return {
      agentEpoch: this.state.hello?.epoch ?? null,
      runKey: this.state.runKey,
      hostname: this.state.hello?.hostname ?? null,
      tokenId: this.tokenId,
      remoteAddress: this.remoteAddress,
      gatewayId: this.deps.gatewayId,
      leaseEpoch: this.state.leaseEpoch,
    };
  }

  /** The agent run and host name of this connection's hello, if accepted. */
  get agent(): { epoch: string; hostname: string } | null {
    return this.state.hello ? { epoch: this.state.hello.epoch, hostname: this.state.hello.hostname } : null;
  }

  /** A newer connection of the same host on this gateway took the lease (`holder`): close this one at once. */
  depose(holder: LeaseClaimant): void {
    if (this.leaseState === "lost") return;
    this.lease?.stop();
    this.loseLease(`taken over by a newer connection at lease epoch ${holder.leaseEpoch}`);
    this.apply(leaseTakenOver(this.state, holder));
  }

  /**
   * Sends an approved command to the agent and resolves with its result: the agent's answer, `timeout`
   * after `timeoutMs`, or `host_offline` when the connection ends first. Never rejects.
   */
  callAgent(id: string, request: HostRpcRequest, timeoutMs: number): Promise<HostRpcResult> {
    const leaseEpoch = this.state.leaseEpoch;
    if (!this.holdsLease() || leaseEpoch === null)
      return Promise.resolve(
        failure("host_offline", `this connection no longer holds host ${this.hostId}'s lease; nothing was sent`),
      );
    if (this.state.closing || this.ws.readyState !== WebSocket.OPEN) this.rpcCalls.close("closing");
    return this.rpcCalls.start(id, timeoutMs, () => this.send({ type: "rpc", id, request, timeoutMs, leaseEpoch }));
  }

  /** One ping round: terminates the peer if it missed the last pong, then pings again. */
  checkAlive(): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    // While paused for our own publishes, pongs sit unread in the socket: that is not the peer's fault.
    const pausedByBus = this.ws.isPaused && this.publishing > 0;
    if (!this.alive && !pausedByBus) {
      this.apply(peerUnresponsive(this.state, this.deps.pingIntervalMs));
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  /** The gateway is stopping: report the host gone and close with 1001. */
  shutdown(): void {
    this.apply(gatewayStopping(this.state, Date.now()));
  }

  /** This connection's token was revoked: report the host gone and close with 1008. */
  revoke(): void {
    this.apply(tokenRevoked(this.state, Date.now()));
  }

  /** Drops the socket at once (after `shutdown` when the peer does not finish the close handshake). */
  terminate(): void {
    this.ws.terminate();
  }

  private apply(step: Step): void {
    const helloJustAccepted = this.state.hello === null && step.state.hello !== null;
    const leaseJustTaken = this.state.leaseEpoch === null && step.state.leaseEpoch !== null;
    this.state = step.state;
    if (helloJustAccepted) clearTimeout(this.helloTimer);
    if (leaseJustTaken) {
      clearTimeout(this.leaseTimer);
      this.leaseState = "held";
      this.deps.metrics?.leaseHeld.set({ lease: this.lease?.key ?? this.hostId }, 1);
      this.deps.onHeld(this);
    }
    for (const action of step.actions) this.perform(action);
  }

  /** Takes the host's lease (by force); the welcome follows once it is taken. */
  private takeLease(): void {
    const hello = this.state.hello;
    if (!hello || this.lease) return;
    this.leaseState = "taking";
    const waitMs = this.deps.helloTimeoutMs;
    this.leaseTimer = setTimeout(() => {
      if (this.leaseState !== "taking") return;
      this.lease?.stop();
      this.leaseState = "lost";
      this.apply(leaseNotTaken(this.state, waitMs, this.leaseError));
    }, waitMs);
    this.leaseTimer.unref();
    this.lease = this.deps.leases.claim(
      this.hostId,
      {
        agentEpoch: hello.epoch,
        hostname: hello.hostname,
        runKey: this.state.runKey,
        tokenId: this.tokenId,
        remoteAddress: this.remoteAddress,
      },
      {
        onAcquired: (epoch) => {
          // The socket closed (or the wait ended) while the write was in flight: give the lease back.
          if (this.socketClosed || this.leaseState !== "taking") {
            void this.lease?.release("connection ended before the lease was taken");
            return;
          }
          this.apply(leaseTaken(this.state, epoch, Date.now()));
        },
        onLost: (reason, holder) => {
          if (this.leaseState === "lost") return;
          if (reason === "taken") {
            this.loseLease(
              holder ? `taken over at lease epoch ${holder.leaseEpoch} via ${holder.gatewayId}` : "taken over",
            );
            this.apply(leaseTakenOver(this.state, holder));
          } else {
            this.loseLease("the lease could not be renewed in time");
            this.apply(leaseExpired(this.state));
          }
        },
        onError: (err) => {
          this.leaseError = err.message;
          this.log.warn({ err: err.message }, "host lease: bus error (retrying)");
        },
      },
    );
  }

  /** Looks up the hello's unacked events; the lease is taken once that is done, found or not. */
  private lookupStored(unacked: UnackedEvents): void {
    const epoch = this.state.hello?.epoch;
    if (epoch === undefined) return;
    const startedAt = Date.now();
    this.deps.lookupStored(this.hostId, epoch, unacked).then(
      (found) => {
        const stored = found.seqs.reduce((n, [first, last]) => n + last - first + 1, 0);
        this.log.info(
          {
            epoch,
            unacked,
            stored,
            ranges: found.seqs.length,
            scanned: found.scanned,
            skipped: found.skipped,
            ms: Date.now() - startedAt,
          },
          "looked up the agent's unacknowledged events",
        );
        this.apply(storedLookedUp(this.state, found.seqs));
      },
      (err: unknown) => {
        this.log.warn(
          { epoch, unacked, err: err instanceof Error ? err.message : String(err), ms: Date.now() - startedAt },
          "could not look up the agent's unacknowledged events: it sends them all again",
        );
        this.apply(storedLookedUp(this.state, null));
      },
    );
  }

  private loseLease(why: string): void {
    const wasHeld = this.leaseState === "held";
    this.leaseState = "lost";
    clearTimeout(this.leaseTimer);
    if (wasHeld) this.deps.metrics?.leaseHeld.set({ lease: this.lease?.key ?? this.hostId }, 0);
    this.log.info({ why, leaseEpoch: this.state.leaseEpoch }, "host lease lost");
    this.rpcCalls.close(`this gateway no longer holds the host: ${why}`);
    this.deps.onLeaseLost(this, why);
  }

  /** The socket closed: give a held lease back (a standby or the agent's next connection takes it at once). */
  private endLease(): void {
    if (!this.lease) return;
    if (this.leaseState === "held") {
      this.deps.metrics?.leaseHeld.set({ lease: this.lease.key }, 0);
      void this.lease.release("connection closed");
    } else if (this.leaseState === "taking") this.lease.stop();
    if (this.leaseState !== "lost") this.leaseState = "lost";
  }

  private perform(action: ProtocolAction): void {
    switch (action.kind) {
      case "send":
        if (action.frame.type === "ack" && this.state.hello?.batchAcks)
          return this.gatherAck(action.frame.epoch, action.frame.seq, action.frame.duplicate);
        this.sendAcks();
        return this.send(action.frame);
      case "publishEvent":
        return this.publishEvent(action.event);
      case "publishLifecycle":
        return this.publishLifecycle(action.lifecycle);
      case "lookupStored":
        return this.lookupStored(action.unacked);
      case "takeLease":
        return this.takeLease();
      case "reportConflict":
        return this.deps.onConflict(this, action.holder);
      case "rpcResult":
        if (!this.rpcCalls.settle(action.id, action.result))
          this.log.warn({ id: action.id }, "rpc result for no call in flight (late or unknown): dropped");
        return;
      case "close":
        this.sendAcks();
        return this.ws.close(action.code, action.reason);
      case "terminate":
        return this.ws.terminate();
      case "log":
        return this.log[action.level](action.data ?? {}, action.msg);
    }
  }

  private send(frame: GatewayFrame): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    this.track(1);
    this.ws.send(JSON.stringify(frame), () => this.track(-1));
  }

  /** Adds one ack to the batch; the batch leaves on the next turn of the event loop, or when full. */
  private gatherAck(epoch: string, seq: number, duplicate: boolean): void {
    if (this.acks && this.acks.epoch !== epoch) this.sendAcks();
    if (!this.acks) {
      this.acks = { epoch, seqs: [], duplicates: 0 };
      setImmediate(() => this.sendAcks());
    }
    this.acks.seqs.push(seq);
    if (duplicate) this.acks.duplicates++;
    if (this.acks.seqs.length >= MAX_ACKS_PER_FRAME) this.sendAcks();
  }

  private sendAcks(): void {
    const acks = this.acks;
    if (!acks) return;
    this.acks = null;
    this.send({ type: "acks", ...acks });
  }

  private publishEvent(event: SessionEventEnvelope): void {
    this.publishing++;
    this.track(1);
    publishCheckedSessionEvent(this.deps.publisher, event)
      .then(
        (ack) => {
          if (!ack.duplicate) this.deps.metrics?.eventsIn.inc({ service: "rpc-gateway" });
          this.apply(eventStored(this.state, event, ack.duplicate));
        },
        (err: unknown) => {
          const permanent = err instanceof BusError && PERMANENT_BUS_CODES.has(err.code);
          const message = err instanceof Error ? err.message : String(err);
          this.apply(eventStoreFailed(this.state, event, { permanent, message }, this.deps.limits));
        },
      )
      .finally(() => {
        this.publishing--;
        this.track(-1);
      });
  }

  private publishLifecycle(lifecycle: HostLifecycle): void {
    try {
      this.deps.nc.publish(subjects.hostLifecycle(lifecycle.hostId), JSON.stringify(HostLifecycle.parse(lifecycle)));
    } catch (err) {
      this.log.error({ err: (err as Error).message, type: lifecycle.type }, "cannot publish host lifecycle");
    }
  }

  private track(delta: number): void {
    this.pending += delta;
    if (this.pending >= this.deps.maxInFlight && !this.ws.isPaused) {
      this.ws.pause();
      this.log.debug({ pending: this.pending }, "backpressure: pausing reads");
    } else if (this.pending <= this.deps.maxInFlight / 2 && this.ws.isPaused) {
      this.ws.resume();
      this.log.debug({ pending: this.pending }, "backpressure: resuming reads");
    }
  }

  // ws closes an oversized frame with 1009 but no reason. Its receiver reports the length before the
  // payload is read; listening first lets us close with a reason, and ws's own close becomes a no-op.
  private watchFrameSize(): void {
    const receiver = (this.ws as unknown as { _receiver?: EventEmitter })._receiver;
    receiver?.prependListener("error", (err: Error & { code?: string }) => {
      if (err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH")
        this.apply(frameTooBig(this.state, this.deps.maxFrameBytes));
    });
  }
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}
