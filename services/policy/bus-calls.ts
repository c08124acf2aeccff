/**
 * What the policy service asks over the bus: the registry for sessions and hosts (through the shared client,
 * services/clients/registry-queries.ts), and a host agent (through the gateway holding it) to run an approved
 * command. Both validate the reply and turn bus failures into typed command failures: no responder on
 * `codex.rpc.<hostId>` means no gateway holds the host.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { failure, type CommandFailure } from "../../schemas/commands.js";
import { HostRpcResult, type HostRpcEnvelope } from "../../schemas/host-rpc.js";
import type { HostRecord, SessionFilter, SessionRecord } from "../../schemas/registry.js";
import { busRequest, classifyRequestFailure, subjects } from "../bus/index.js";
import { queryHosts, querySession, querySessions, type RegistryQueryFailure } from "../clients/registry-queries.js";

/** A registry query's failure as the policy service answers it; `what` names the reply it expected. */
function registryFailure(f: RegistryQueryFailure, timeoutMs: number, what: string): CommandFailure {
  switch (f.code) {
    case "no_registry":
      return failure("timeout", `no registry is answering on ${f.subject}`);
    case "timeout":
      return failure("timeout", `the registry did not answer within ${timeoutMs} ms`);
    case "unreachable":
      return failure("timeout", `the registry could not be asked: ${f.message}`);
  }
  // A reply that is not JSON at all (the cause is the parse error); else JSON of the wrong shape, or an error reply.
  if (f.code === "bad_reply" && f.cause instanceof Error)
    return failure("timeout", `the registry could not be asked: ${f.cause.message}`);
  return failure("timeout", `the registry's reply was not ${what}`);
}

/** The registry's record of a session, null when it knows none; a failure when the registry cannot answer. */
export async function lookupSession(
  nc: NatsConnection,
  sessionId: string,
  hostId: string | undefined,
  timeoutMs: number,
): Promise<SessionRecord | null | CommandFailure> {
  const r = await querySession(nc, { sessionId, ...(hostId ? { host: hostId } : {}) }, timeoutMs);
  return r.ok ? r.value : registryFailure(r, timeoutMs, "a session record");
}

/** Every session matching `filter`, up to `limit` (the registry's `total` says how many match in all). */
export async function listSessions(
  nc: NatsConnection,
  filter: SessionFilter,
  limit: number,
  timeoutMs: number,
  cursor: string | null = null,
): Promise<{ sessions: SessionRecord[]; total: number; nextCursor: string | null } | CommandFailure> {
  const r = await querySessions(nc, { filter, limit, ...(cursor ? { cursor } : {}) }, timeoutMs);
  return r.ok ? r.value : registryFailure(r, timeoutMs, "a session list");
}

/** Every host the registry knows; a failure when the registry cannot answer. */
export async function listHosts(nc: NatsConnection, timeoutMs: number): Promise<HostRecord[] | CommandFailure> {
  const r = await queryHosts(nc, timeoutMs);
  return r.ok ? r.value : registryFailure(r, timeoutMs, "a host list");
}

/** Runs an approved command on its host; never throws. */
export async function callHost(nc: NatsConnection, envelope: HostRpcEnvelope, graceMs = 2_000): Promise<HostRpcResult> {
  const { hostId } = envelope;
  const timeoutMs = envelope.timeoutMs + graceMs;
  let data: unknown;
  try {
    const msg = await busRequest(nc, subjects.hostRpc(hostId), JSON.stringify(envelope), { timeout: timeoutMs });
    data = msg.json();
  } catch (err) {
    switch (classifyRequestFailure(err)) {
      case "no_responders":
        return failure("host_offline", `host ${hostId} is not connected to any gateway; nothing was sent`);
      case "timeout":
        return failure(
          "timeout",
          `host ${hostId} did not answer within ${timeoutMs} ms; the command may still complete on the host`,
        );
      default:
        return failure(
          "timeout",
          `host ${hostId} could not be asked: ${(err as Error).message}; the command may still complete on the host`,
        );
    }
  }
  const parsed = HostRpcResult.safeParse(data);
  return parsed.success
    ? parsed.data
    : failure("timeout", `host ${hostId} answered with something that is not a result`);
}
