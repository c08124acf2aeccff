/**
 * The gateway's command half: while a connection here holds a host's lease it serves `codex.rpc.<hostId>`
 * (request/reply, queue group `rpc-gateway`, so each command goes to one gateway even while two briefly serve
 * the host), sends each approved command to the agent as an `rpc` frame carrying the lease's epoch and replies
 * with the agent's result. When the lease is lost here the subscription is drained: commands already on their
 * way are refused with a typed `host_offline` (nothing sent), and so is any command that arrives while the
 * connection's lease is no longer held. With no subscription left the policy service sees "no responders".
 * Only the policy service may publish on `codex.rpc.*` (the NATS permissions in deploy/nats enforce it).
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { failure, issuesText } from "../../schemas/commands.js";
import { HostRpcEnvelope, type HostRpcRequest, type HostRpcResult } from "../../schemas/host-rpc.js";
import { notALiveRequest, subjects } from "../bus/index.js";

/** Queue group of every gateway on `codex.rpc.<hostId>`. */
export const RPC_GATEWAY_QUEUE_GROUP = "rpc-gateway";

/** What the relay needs of a host connection (connection.ts's HostConnection). */
export interface RelayTarget {
  readonly hostId: string;
  /** True while the connection holds the host's lease. */
  holdsLease(): boolean;
  /** The lease epoch, for logs. */
  readonly leaseEpoch: number | null;
  callAgent(id: string, request: HostRpcRequest, timeoutMs: number): Promise<HostRpcResult>;
}

interface Served {
  sub: Subscription;
  conn: RelayTarget;
  /** Set once the host is no longer served here (the subscription is draining): why. */
  gone: string | null;
}

/** Serves `codex.rpc.<hostId>` for the hosts whose lease a connection here holds. */
export class RpcRelay {
  private readonly subs = new Map<string, Served>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly logger: Logger,
    private readonly gatewayId: string = "this gateway",
  ) {}

  /** `conn` holds the host's lease: commands for it now go there (a newer connection replaces an older). */
  hostConnected(conn: RelayTarget): void {
    const existing = this.subs.get(conn.hostId);
    if (existing) {
      existing.conn = conn;
      return;
    }
    const entry: Served = { sub: undefined as unknown as Subscription, conn, gone: null };
    try {
      entry.sub = this.nc.subscribe(subjects.hostRpc(conn.hostId), {
        queue: RPC_GATEWAY_QUEUE_GROUP,
        callback: (err, msg) => {
          if (err) return this.logger.error({ hostId: conn.hostId, err: err.message }, "rpc subscription failed");
          void this.relay(entry, msg);
        },
      });
    } catch (err) {
      this.logger.error({ hostId: conn.hostId, err: (err as Error).message }, "cannot serve commands for this host");
      return;
    }
    this.subs.set(conn.hostId, entry);
  }

  /**
   * `conn` closed or lost the host's lease (`why`): stop serving its host unless a newer connection here holds
   * it. The subscription is drained, so a command already on its way here is refused, not dropped.
   */
  hostClosed(conn: RelayTarget, why = "the host's connection here ended"): void {
    const entry = this.subs.get(conn.hostId);
    if (!entry || entry.conn !== conn) return;
    this.subs.delete(conn.hostId);
    entry.gone = why;
    entry.sub.drain().catch(() => entry.sub.unsubscribe());
  }

  /** Stops serving every host. */
  close(): void {
    for (const { sub } of this.subs.values()) sub.unsubscribe();
    this.subs.clear();
  }

  private async relay(entry: Served, msg: Msg): Promise<void> {
    const hostId = entry.conn.hostId;
    // Only a live request can be a command from the policy service (see notALiveRequest); anything else is
    // dropped with a logged reason.
    const notLive = notALiveRequest(msg);
    if (notLive) {
      this.logger.warn(
        { hostId, reply: msg.reply ?? "", stream: msg.headers?.get("Nats-Stream") || null, why: notLive },
        "dropped a message on the rpc subject that is not a policy request",
      );
      return;
    }
    const reply = (result: HostRpcResult): void => {
      if (msg.reply) msg.respond(JSON.stringify(result));
    };
    let body: unknown;
    try {
      body = msg.json();
    } catch {
      return reply(failure("invalid", "host rpc: the body is not JSON"));
    }
    const parsed = HostRpcEnvelope.safeParse(body);
    if (!parsed.success) return reply(failure("invalid", `host rpc: ${issuesText(parsed.error)}`));
    const envelope = parsed.data;
    if (envelope.hostId !== hostId)
      return reply(failure("invalid", `host rpc for ${envelope.hostId} arrived on ${hostId}'s subject`));
    // Refused here, never sent: the host is held elsewhere now (or nowhere); a retry reaches its holder.
    const refuse = (why: string): void => {
      this.logger.info({ hostId, id: envelope.id, op: envelope.request.op, why }, "refused a host rpc: not held here");
      reply(failure("host_offline", `${this.gatewayId} no longer holds host ${hostId} (${why}); nothing was sent`));
    };
    if (entry.gone !== null) return refuse(entry.gone);
    if (!entry.conn.holdsLease()) return refuse(`its lease at epoch ${entry.conn.leaseEpoch ?? "?"} is not held`);
    const started = Date.now();
    const result = await entry.conn.callAgent(envelope.id, envelope.request, envelope.timeoutMs);
    reply(result); // before the log line: the answer does not wait for it
    if (this.logger.isLevelEnabled("debug"))
      this.logger.debug(
        {
          hostId,
          id: envelope.id,
          op: envelope.request.op,
          ok: result.ok,
          ms: Date.now() - started,
          leaseEpoch: entry.conn.leaseEpoch,
        },
        "host rpc",
      );
  }
}
