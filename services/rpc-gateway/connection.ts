/**
 * One authenticated host agent socket: feeds what happens on it into the pure steps of `protocol.ts` and
 * performs the actions they return (send, publish, close), with backpressure on the socket.
 *
 * Flood control is backpressure, not a rate limit: when `maxInFlight` publishes and unflushed sends are
 * pending, the socket is paused, so the kernel's receive window fills and the agent's own sends block until
 * the bus catches up. Nothing an honest agent sends is dropped (a rate limit would have to reject valid
 * events, and a reject means "never stored"), and memory per connection stays bounded by `maxInFlight`
 * plus one socket read. Heartbeats do not publish to JetStream and are thinned by the protocol instead.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { EventEmitter } from "node:events";
import type { Logger } from "pino";
import { WebSocket, type RawData } from "ws";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import { HostLifecycle, MAX_ACKS_PER_FRAME, type GatewayFrame } from "../../schemas/gateway.js";
import type { HostRpcRequest, HostRpcResult } from "../../schemas/host-rpc.js";
import { BusError, publishCheckedSessionEvent, subjects, type JetStreamPublisher } from "../bus/index.js";
import {
  connectionClosed,
  connectionReplaced,
  eventStored,
  eventStoreFailed,
  frameTooBig,
  gatewayStopping,
  helloTimedOut,
  initialConnectionState,
  peerUnresponsive,
  receiveFrame,
  tokenRevoked,
  type ConnectionState,
  type ProtocolAction,
  type ProtocolLimits,
  type Step,
} from "./protocol.js";
import { RpcCalls } from "./rpc-calls.js";

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
  /** Called once the hello is accepted, before `connected` is published. */
  onHello(conn: HostConnection): void;
  /** Called once the socket has closed. */
  onClosed(conn: HostConnection): void;
}

// Bus refusals that will not change on a retry: the event itself is at fault.
const PERMANENT_BUS_CODES: ReadonlySet<string> = new Set(["invalid_event", "invalid_subject_token"]);

/** The gateway's handle on one host agent socket. */
export class HostConnection {
  readonly hostId: string;
  readonly tokenId: string;
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
  private readonly rpcCalls = new RpcCalls();

  constructor(
    private readonly ws: WebSocket,
    auth: { hostId: string; tokenId: string; remoteAddress: string | undefined },
    private readonly deps: HostConnectionDeps,
  ) {
    this.hostId = auth.hostId;
    this.tokenId = auth.tokenId;
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
        clearTimeout(this.helloTimer);
        this.rpcCalls.close(`socket closed (${code})`);
        this.apply(
          connectionClosed(
            this.state,
            Date.now(),
            `socket closed (${code}${reason.length ? ` ${reason.toString()}` : ""})`,
          ),
        );
        deps.onClosed(this);
        resolve();
      });
    });
  }

  /** True once this connection's hello was accepted. */
  get helloAccepted(): boolean {
    return this.state.hello !== null;
  }

  /**
   * Sends an approved command to the agent and resolves with its result: the agent's answer, `timeout`
   * after `timeoutMs`, or `host_offline` when the connection ends first. Never rejects.
   */
  callAgent(id: string, request: HostRpcRequest, timeoutMs: number): Promise<HostRpcResult> {
    if (this.state.closing || this.ws.readyState !== WebSocket.OPEN) this.rpcCalls.close("closing");
    return this.rpcCalls.start(id, timeoutMs, () => this.send({ type: "rpc", id, request, timeoutMs }));
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

  /** A newer connection for the same host said hello: report this one gone and close it. */
  replace(): void {
    this.apply(connectionReplaced(this.state, Date.now()));
  }

  /** Drops the socket at once (after `shutdown` when the peer does not finish the close handshake). */
  terminate(): void {
    this.ws.terminate();
  }

  private apply(step: Step): void {
    const helloJustAccepted = this.state.hello === null && step.state.hello !== null;
    this.state = step.state;
    if (helloJustAccepted) {
      clearTimeout(this.helloTimer);
      this.deps.onHello(this);
    }
    for (const action of step.actions) this.perform(action);
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
        (ack) => this.apply(eventStored(this.state, event, ack.duplicate)),
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
