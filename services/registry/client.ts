/**
 * Asking the registry over the bus (request/reply): what the CLI, dashboard and Claw use. Each call validates
 * the reply; a registry error reply, no responders or a timeout becomes a `RegistryQueryError`.
 */
import { NoRespondersError, RequestError, TimeoutError, type NatsConnection } from "@nats-io/transport-node";
import type { z } from "zod";
import {
  GetSessionReply,
  ListHostsReply,
  ListSessionsReply,
  RegistryErrorReply,
  type GetSessionRequest,
  type HostRecord,
  type ListSessionsRequest,
  type SessionFilter,
  type SessionRecord,
} from "../../schemas/registry.js";
import { busRequest, subjects } from "../bus/index.js";

/** Why a query failed: the registry's own error codes, or that no registry answered. */
export type RegistryQueryErrorCode = "invalid" | "not_found" | "internal" | "no_registry" | "timeout" | "bad_reply";

/** A failed registry query; `message` is one line a person can act on. */
export class RegistryQueryError extends Error {
  override readonly name = "RegistryQueryError";
  constructor(
    readonly code: RegistryQueryErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Default wait for a registry reply, ms. */
export const DEFAULT_QUERY_TIMEOUT_MS = 5_000;

async function ask<S extends z.ZodType>(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  reply: S,
  timeoutMs: number,
): Promise<z.infer<S>> {
  let data: unknown;
  try {
    const msg = await busRequest(nc, subject, JSON.stringify(body), { timeout: timeoutMs });
    data = msg.json();
  } catch (err) {
    const noResponders = err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders());
    if (noResponders)
      throw new RegistryQueryError(
        "no_registry",
        `no registry is answering on ${subject} (no responders): is 'claw-supervisor up' or 'service registry' running?`,
        { cause: err },
      );
    if (err instanceof TimeoutError)
      throw new RegistryQueryError(
        "timeout",
        `the registry did not answer ${subject} within ${timeoutMs} ms (request timed out)`,
        { cause: err },
      );
    if (err instanceof SyntaxError)
      throw new RegistryQueryError("bad_reply", `the registry's reply on ${subject} is not JSON`, { cause: err });
    throw err;
  }
  const failure = RegistryErrorReply.safeParse(data);
  if (failure.success) throw new RegistryQueryError(failure.data.error.code, failure.data.error.message);
  const parsed = reply.safeParse(data);
  if (!parsed.success)
    throw new RegistryQueryError(
      "bad_reply",
      `unexpected reply on ${subject}: ${parsed.error.issues[0]?.message ?? "invalid"}`,
    );
  return parsed.data;
}

/** One page of sessions. */
export function listSessions(
  nc: NatsConnection,
  req: z.input<typeof ListSessionsRequest>,
  timeoutMs = DEFAULT_QUERY_TIMEOUT_MS,
): Promise<z.infer<typeof ListSessionsReply>> {
  return ask(nc, subjects.registrySessionsList(), req, ListSessionsReply, timeoutMs);
}

/** Every session matching `filter` (at most `limit`), following cursors page by page. */
export async function listAllSessions(
  nc: NatsConnection,
  filter: SessionFilter,
  limit = Infinity,
  timeoutMs = DEFAULT_QUERY_TIMEOUT_MS,
): Promise<{ sessions: SessionRecord[]; total: number }> {
  const sessions: SessionRecord[] = [];
  let cursor: string | null = null;
  let total = 0;
  do {
    const page: z.infer<typeof ListSessionsReply> = await listSessions(
      nc,
      { filter, limit: Math.min(1000, limit - sessions.length), cursor },
      timeoutMs,
    );
    sessions.push(...page.sessions);
    total = page.total;
    cursor = page.nextCursor;
  } while (cursor !== null && sessions.length < limit);
  return { sessions, total };
}

/** One session, or null when the registry does not know it. */
export async function getSession(
  nc: NatsConnection,
  req: z.input<typeof GetSessionRequest>,
  timeoutMs = DEFAULT_QUERY_TIMEOUT_MS,
): Promise<SessionRecord | null> {
  return (await ask(nc, subjects.registrySessionsGet(), req, GetSessionReply, timeoutMs)).session;
}

/** Every host the registry knows. */
export async function listHosts(nc: NatsConnection, timeoutMs = DEFAULT_QUERY_TIMEOUT_MS): Promise<HostRecord[]> {
  return (await ask(nc, subjects.registryHostsList(), {}, ListHostsReply, timeoutMs)).hosts;
}
