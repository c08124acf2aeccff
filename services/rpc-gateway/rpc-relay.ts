/**
 * The gateway's command half: while this gateway holds a host's connection it serves `codex.rpc.<hostId>`
 * (request/reply, queue group `rpc-gateway`, so one gateway answers even if two briefly hold the host), sends
 * each approved command to the agent as an `rpc` frame and replies with the agent's result. When the host
 * has no connection here the subscription is gone, so the policy service sees "no responders": host offline.
 * Only the policy service may publish on `codex.rpc.*` (the NATS permissions in deploy/nats enforce it).
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { failure, issuesText } from "../../schemas/commands.js";
import { HostRpcEnvelope, type HostRpcResult } from "../../schemas/host-rpc.js";
import { notALiveRequest, subjects } from "../bus/index.js";
import type { HostConnection } from "./connection.js";

/** Queue group of every gateway on `codex.rpc.<hostId>`. */
export const RPC_GATEWAY_QUEUE_GROUP = "rpc-gateway";

/** Serves `codex.rpc.<hostId>` for the hosts connected to this gateway. */
export class RpcRelay {
  private readonly subs = new Map<string, { sub: Subscription; conn: HostConnection }>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly logger: Logger,
  ) {}

  /** The host's hello was accepted on `conn`: commands for it now go there (a newer connection replaces an older). */
  hostConnected(conn: HostConnection): void {
    const existing = this.subs.get(conn.hostId);
    if (existing) {
      existing.conn = conn;
      return;
    }
    let sub: Subscription;
    try {
      sub = this.nc.subscribe(subjects.hostRpc(conn.hostId), {
        queue: RPC_GATEWAY_QUEUE_GROUP,
        callback: (err, msg) => {
          if (err) return this.logger.error({ hostId: conn.hostId, err: err.message }, "rpc subscription failed");
          void this.relay(conn.hostId, msg);
        },
      });
    } catch (err) {
      this.logger.error({ hostId: conn.hostId, err: (err as Error).message }, "cannot serve commands for this host");
      return;
    }
    this.subs.set(conn.hostId, { sub, conn });
  }

  /** `conn` closed: stop serving its host unless a newer connection holds it. */
  hostClosed(conn: HostConnection): void {
    const entry = this.subs.get(conn.hostId);
    if (!entry || entry.conn !== conn) return;
    this.subs.delete(conn.hostId);
    entry.sub.unsubscribe();
  }

  /** Stops serving every host. */
  close(): void {
    for (const { sub } of this.subs.values()) sub.unsubscribe();
    this.subs.clear();
  }

  private async relay(hostId: string, msg: Msg): Promise<void> {
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
    const entry = this.subs.get(hostId);
    if (!entry)
      return reply(failure("host_offline", `host ${hostId} is not connected to this gateway; nothing was sent`));
    const started = Date.now();
    const result = await entry.conn.callAgent(envelope.id, envelope.request, envelope.timeoutMs);
    this.logger.debug(
      { hostId, id: envelope.id, op: envelope.request.op, ok: result.ok, ms: Date.now() - started },
      "host rpc",
    );
    reply(result);
  }
}
