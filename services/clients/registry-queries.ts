/**
 * Asking the registry over the bus (request/reply on `codex.registry.*`): the one client the policy service, the
 * CLI, the dashboard and the Claw share. Each query validates the reply against its schema. The `query*`
 * functions never throw: they answer the value or why there is none, and each caller words that for its own
 * users (the policy service's target look-ups take this path, so a failure costs no thrown error). The
 * `listSessions`, `getSession`, `resolveSession`, `listHosts` and `listAllSessions` forms throw a `RegistryQueryError`
 * instead.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { z } from "zod";
import {
  GetSessionReply,
  ListHostsReply,
  ListSessionsReply,
  RegistryErrorReply,
  ResolveSessionReply,
  type GetSessionRequest,
  type HostRecord,
  type ListSessionsRequest,
  type ResolveSessionRequest,
  type SessionFilter,
  type SessionRecord,
} from "../../schemas/registry.js";
// The light modules themselves, not the bus/index.js barrel: the CLI asks the registry on every start, and the
// barrel would load JetStream, KV, the embedded server and the consumers with it (bench/cli.ts).
import { busRequest } from "../bus/requester.js";
import { classifyRequestFailure } from "../bus/request-failure.js";
import { subjects } from "../bus/subjects.js";
import { shortIds } from "./session-ref.js";

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

/**
 * Why a query has no answer: a `RegistryQueryErrorCode` with its one-line message, or `unreachable` (the bus
 * refused or dropped the request; `cause` is its error). `cause` is also the bus error of `no_registry`,
 * `timeout` and a `bad_reply` that is not JSON.
 */
export interface RegistryQueryFailure {
  ok: false;
  code: RegistryQueryErrorCode | "unreachable";
  subject: string;
  message: string;
  cause?: unknown;
}

/** What a `query*` function gives: the value, or why there is none. */
export type RegistryAnswer<T> = { ok: true; value: T } | RegistryQueryFailure;

async function ask<S extends z.ZodType, T>(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  reply: S,
  timeoutMs: number,
  pick: (data: z.infer<S>) => T,
): Promise<RegistryAnswer<T>> {
  let data: unknown;
  try {
    const msg = await busRequest(nc, subject, JSON.stringify(body), { timeout: timeoutMs });
    data = msg.json();
  } catch (err) {
    return failed(err, subject, timeoutMs);
  }
  const parsed = reply.safeParse(data);
  if (parsed.success) return { ok: true, value: pick(parsed.data) };
  // The reply schemas each require their own field, which an error reply never has.
  const error = RegistryErrorReply.safeParse(data);
  if (error.success) return { ok: false, code: error.data.error.code, subject, message: error.data.error.message };
  return {
    ok: false,
    code: "bad_reply",
    subject,
    message: `unexpected reply on ${subject}: ${parsed.error.issues[0]?.message ?? "invalid"}`,
  };
}

function failed(err: unknown, subject: string, timeoutMs: number): RegistryQueryFailure {
  switch (classifyRequestFailure(err)) {
    case "no_responders":
      return {
        ok: false,
        code: "no_registry",
        subject,
        message: `no registry is answering on ${subject} (no responders): is 'claw-supervisor up' or 'service registry' running?`,
        cause: err,
      };
    case "timeout":
      return {
        ok: false,
        code: "timeout",
        subject,
        message: `the registry did not answer ${subject} within ${timeoutMs} ms (request timed out)`,
        cause: err,
      };
    case "bad_reply":
      return {
        ok: false,
        code: "bad_reply",
        subject,
        message: `the registry's reply on ${subject} is not JSON`,
        cause: err,
      };
    case "other":
      return { ok: false, code: "unreachable", subject, message: (err as Error).message, cause: err };
  }
}

/** One page of sessions. Never throws. */
export function querySessions(
  nc: NatsConnection,
  req: z.input<typeof ListSessionsRequest>,
  timeoutMs = DEFAULT_QUERY_TIMEOUT_MS,
): Promise<RegistryAnswer<z.infer<typeof ListSessionsReply>>> {
  return ask(nc, subjects.registrySessionsList(), req, ListSessionsReply, timeoutMs, (page) => page);
}

/** One session, or null when the registry does not know it. Never throws. */
export function querySession(
  nc: NatsConnection,
  req: z.input<typeof GetSessionRequest>,
  timeoutMs = DEFAULT_QUERY_TIMEOUT_MS,
): Promise<RegistryAnswer<SessionRecord | null>> {
  return ask(nc, subjects.registrySessionsGet(), req, GetSessionReply, timeoutMs, (r) => r.session);
}

/** The sessions a typed reference names (at most MAX_RESOLVE_MATCHES, with their total). Never throws. */
export function queryResolveSession(
  nc: NatsConnection,
  req: z.input<typeof ResolveSessionRequest>,
  timeoutMs = DEFAULT_QUERY_TIMEOUT_MS,
): Promise<RegistryAnswer<z.infer<typeof ResolveSessionReply>>> {
  return ask(nc, subjects.registrySessionsResolve(), req, ResolveSessionReply, timeoutMs, (r) => r);
}

/** Every host the registry knows. Never throws. */
export function queryHosts(
  nc: NatsConnection,
  timeoutMs = DEFAULT_QUERY_TIMEOUT_MS,
): Promise<RegistryAnswer<HostRecord[]>> {
  return ask(nc, subjects.registryHostsList(), {}, ListHostsReply, timeoutMs, (r) => r.hosts);
}

/** The value of an answer; throws its failure as a `RegistryQueryError` (the bus's own error when unreachable). */
function answerOrThrow<T>(answer: RegistryAnswer<T>): T {
  if (answer.ok) return answer.value;
  if (answer.code === "unreachable") throw answer.cause;
  throw new RegistryQueryError(
    answer.code,
    answer.message,
    answer.cause === undefined ? undefined : { cause: answer.cause },
  );
}

/** One page of sessions. */
export async function listSessions(
  nc: NatsConnection,
  req: z.input<typeof ListSessionsRequest>,
  timeoutMs = DEFAULT_QUERY_TIMEOUT_MS,
): Promise<z.infer<typeof ListSessionsReply>> {
  return answerOrThrow(await querySessions(nc, req, timeoutMs));
}

/**
 * Every session matching `filter` (at most `limit`), following cursors page by page, with each one's short id as
 * the registry gave it (unique fleet-wide; a registry older than that gives none, and the ids are then made
 * unique among the listed sessions).
 */
export async function listAllSessions(
  nc: NatsConnection,
  filter: SessionFilter,
  limit = Infinity,
  timeoutMs = DEFAULT_QUERY_TIMEOUT_MS,
): Promise<{ sessions: SessionRecord[]; total: number; shortIds: Map<string, string> }> {
  const sessions: SessionRecord[] = [];
  const short = new Map<string, string>();
  let cursor: string | null = null;
  let total = 0;
  do {
    const page: z.infer<typeof ListSessionsReply> = await listSessions(
      nc,
      { filter, limit: Math.min(1000, limit - sessions.length), cursor },
      timeoutMs,
    );
    sessions.push(...page.sessions);
    for (const [id, shortId] of Object.entries(page.shortIds)) short.set(id, shortId);
    total = page.total;
    cursor = page.nextCursor;
  } while (cursor !== null && sessions.length < limit);
  return { sessions, total, shortIds: withLocalShortIds(sessions, short) };
}

/**
 * `short` with a short id for every record: a registry from before fleet-wide short ids gives none, and then
 * the missing ones are made unique among `records` alone. Changes and returns `short`.
 */
function withLocalShortIds(records: readonly SessionRecord[], short: Map<string, string>): Map<string, string> {
  if (records.every((r) => short.has(r.sessionId))) return short;
  for (const [id, shortId] of shortIds(records.map((r) => r.sessionId))) if (!short.has(id)) short.set(id, shortId);
  return short;
}

/** One session, or null when the registry does not know it. */
export async function getSession(
  nc: NatsConnection,
  req: z.input<typeof GetSessionRequest>,
  timeoutMs = DEFAULT_QUERY_TIMEOUT_MS,
): Promise<SessionRecord | null> {
  return answerOrThrow(await querySession(nc, req, timeoutMs));
}

/** The sessions a typed reference names (at most MAX_RESOLVE_MATCHES, with their total and short ids). */
export async function resolveSession(
  nc: NatsConnection,
  req: z.input<typeof ResolveSessionRequest>,
  timeoutMs = DEFAULT_QUERY_TIMEOUT_MS,
): Promise<{ matches: SessionRecord[]; total: number; shortIds: Map<string, string> }> {
  const reply = answerOrThrow(await queryResolveSession(nc, req, timeoutMs));
  return { ...reply, shortIds: withLocalShortIds(reply.matches, new Map(Object.entries(reply.shortIds))) };
}

/** Every host the registry knows. */
export async function listHosts(nc: NatsConnection, timeoutMs = DEFAULT_QUERY_TIMEOUT_MS): Promise<HostRecord[]> {
  return answerOrThrow(await queryHosts(nc, timeoutMs));
}
