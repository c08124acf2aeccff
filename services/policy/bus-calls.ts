/**
 * What the policy service asks over the bus: the registry for sessions and hosts, and a host agent (through
 * the gateway holding it) to run an approved command. Both validate the reply and turn bus failures into
 * typed command failures: no responder on `codex.rpc.<hostId>` means no gateway holds the host.
 */
import { NoRespondersError, RequestError, TimeoutError, type NatsConnection } from "@nats-io/transport-node";
import { failure, type CommandFailure } from "../../schemas/commands.js";
import { HostRpcResult, type HostRpcEnvelope } from "../../schemas/host-rpc.js";
import {
  GetSessionReply,
  ListHostsReply,
  ListSessionsReply,
  type HostRecord,
  type SessionFilter,
  type SessionRecord,
} from "../../schemas/registry.js";
import { busRequest, subjects } from "../bus/index.js";

function isNoResponders(err: unknown): boolean {
  return err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders());
}

async function requestJson(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  timeoutMs: number,
  who: string,
): Promise<{ ok: true; data: unknown } | { ok: false; failure: CommandFailure; noResponders: boolean }> {
  try {
    const msg = await busRequest(nc, subject, JSON.stringify(body), { timeout: timeoutMs });
    return { ok: true, data: msg.json() };
  } catch (err) {
    if (isNoResponders(err))
      return { ok: false, noResponders: true, failure: failure("timeout", `no ${who} is answering on ${subject}`) };
    if (err instanceof TimeoutError || (err instanceof Error && /timeout/i.test(err.message))) {
      return {
        ok: false,
        noResponders: false,
        failure: failure("timeout", `${who} did not answer within ${timeoutMs} ms`),
      };
    }
    return {
      ok: false,
      noResponders: false,
      failure: failure("timeout", `${who} could not be asked: ${(err as Error).message}`),
    };
  }
}

/** The registry's record of a session, null when it knows none; a failure when the registry cannot answer. */
export async function lookupSession(
  nc: NatsConnection,
  sessionId: string,
  hostId: string | undefined,
  timeoutMs: number,
): Promise<SessionRecord | null | CommandFailure> {
  const r = await requestJson(
    nc,
    subjects.registrySessionsGet(),
    { sessionId, ...(hostId ? { host: hostId } : {}) },
    timeoutMs,
    "the registry",
  );
  if (!r.ok) return r.failure;
  const parsed = GetSessionReply.safeParse(r.data);
  return parsed.success ? parsed.data.session : failure("timeout", "the registry's reply was not a session record");
}

/** Every session matching `filter`, up to `limit` (the registry's `total` says how many match in all). */
export async function listSessions(
  nc: NatsConnection,
  filter: SessionFilter,
  limit: number,
  timeoutMs: number,
  cursor: string | null = null,
): Promise<{ sessions: SessionRecord[]; total: number; nextCursor: string | null } | CommandFailure> {
  const r = await requestJson(
    nc,
    subjects.registrySessionsList(),
    { filter, limit, ...(cursor ? { cursor } : {}) },
    timeoutMs,
    "the registry",
  );
  if (!r.ok) return r.failure;
  const parsed = ListSessionsReply.safeParse(r.data);
  return parsed.success ? parsed.data : failure("timeout", "the registry's reply was not a session list");
}

/** Every host the registry knows; a failure when the registry cannot answer. */
export async function listHosts(nc: NatsConnection, timeoutMs: number): Promise<HostRecord[] | CommandFailure> {
  const r = await requestJson(nc, subjects.registryHostsList(), {}, timeoutMs, "the registry");
  if (!r.ok) return r.failure;
  const parsed = ListHostsReply.safeParse(r.data);
  return parsed.success ? parsed.data.hosts : failure("timeout", "the registry's reply was not a host list");
}

/** Runs an approved command on its host; never throws. */
export async function callHost(nc: NatsConnection, envelope: HostRpcEnvelope, graceMs = 2_000): Promise<HostRpcResult> {
  const r = await requestJson(
    nc,
    subjects.hostRpc(envelope.hostId),
    envelope,
    envelope.timeoutMs + graceMs,
    `host ${envelope.hostId}`,
  );
  if (!r.ok) {
    if (r.noResponders)
      return failure("host_offline", `host ${envelope.hostId} is not connected to any gateway; nothing was sent`);
    return failure("timeout", `${r.failure.message}; the command may still complete on the host`);
  }
  const parsed = HostRpcResult.safeParse(r.data);
  return parsed.success
    ? parsed.data
    : failure("timeout", `host ${envelope.hostId} answered with something that is not a result`);
}
