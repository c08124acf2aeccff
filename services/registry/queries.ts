/**
 * The registry's request/reply queries (queue group `registry`): list, get and resolve sessions, list hosts. Requests
 * are validated strictly (an unknown field is an error, not a silently ignored filter); every reply comes from
 * memory, never from a KV scan. A bad request gets a `RegistryErrorReply`; nothing a caller sends can stop
 * the service.
 */
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { z } from "zod";
import {
  GetSessionRequest,
  ListSessionsRequest,
  MAX_RESOLVE_MATCHES,
  ResolveSessionRequest,
  SessionFilter,
  type HostRecord,
  type RegistryErrorReply,
  type SessionRecord,
} from "../../schemas/registry.js";
import { notALiveRequest, subjects } from "../bus/index.js";
import type { RegistryLogger } from "./logger.js";
import { InvalidCursorError, type SessionIndex } from "./session-index.js";

/** Queue group every registry instance serves queries in, so each request is answered once. */
export const REGISTRY_QUEUE_GROUP = "registry";

/** What queries read: the in-memory session index and the current host records. */
export interface QueryView {
  sessions: SessionIndex;
  hosts(): HostRecord[];
}

const StrictListSessionsRequest = ListSessionsRequest.extend({
  filter: z.strictObject(SessionFilter.shape).default({}),
}).strict();
const StrictGetSessionRequest = GetSessionRequest.strict();
const StrictResolveSessionRequest = ResolveSessionRequest.strict();
const StrictListHostsRequest = z.strictObject({});

type ErrorCode = z.infer<typeof RegistryErrorReply>["error"]["code"];
const errorReply = (code: ErrorCode, message: string): z.infer<typeof RegistryErrorReply> => ({
  error: { code, message },
});

function parseBody<S extends z.ZodType>(
  schema: S,
  data: Uint8Array,
): { ok: true; value: z.infer<S> } | { ok: false; message: string } {
  const text = new TextDecoder().decode(data).trim();
  let json: unknown = {};
  if (text !== "") {
    try {
      json = JSON.parse(text);
    } catch {
      return { ok: false, message: "invalid request: the body is not JSON" };
    }
  }
  const parsed = schema.safeParse(json);
  if (parsed.success) return { ok: true, value: parsed.data };
  const detail = parsed.error.issues
    .map((i) => `${i.path.length ? i.path.join(".") : "request"}: ${i.message}`)
    .join("; ");
  return { ok: false, message: `invalid request: ${detail}` };
}

/** Answers one query from the view; pure apart from reading it. Returns the reply object to send as JSON. */
export function answerQuery(subject: string, data: Uint8Array, view: QueryView): unknown {
  if (subject === subjects.registrySessionsList()) {
    const req = parseBody(StrictListSessionsRequest, data);
    if (!req.ok) return errorReply("invalid", req.message);
    try {
      const page = view.sessions.list(req.value.filter, req.value.limit, req.value.cursor);
      return { ...page, shortIds: view.sessions.shortIdsOf(page.sessions) };
    } catch (err) {
      if (err instanceof InvalidCursorError) return errorReply("invalid", `invalid request: cursor: ${err.message}`);
      throw err;
    }
  }
  if (subject === subjects.registrySessionsGet()) {
    const req = parseBody(StrictGetSessionRequest, data);
    if (!req.ok) return errorReply("invalid", req.message);
    const { host, sessionId } = req.value;
    const withShortId = (session: SessionRecord | undefined) => ({
      session: session ?? null,
      shortId: session === undefined ? null : view.sessions.shortId(session.sessionId),
    });
    if (host !== undefined) return withShortId(view.sessions.get(host, sessionId));
    const found = view.sessions.findBySessionId(sessionId);
    if (found.length > 1) {
      return errorReply(
        "invalid",
        `session ${sessionId} exists on hosts ${found
          .map((r) => r.host)
          .sort()
          .join(", ")}: give host`,
      );
    }
    return withShortId(found[0]);
  }
  if (subject === subjects.registrySessionsResolve()) {
    const req = parseBody(StrictResolveSessionRequest, data);
    if (!req.ok) return errorReply("invalid", req.message);
    const resolved = view.sessions.resolve(req.value.ref, req.value.host, MAX_RESOLVE_MATCHES);
    return { ...resolved, shortIds: view.sessions.shortIdsOf(resolved.matches) };
  }
  if (subject === subjects.registryHostsList()) {
    const req = parseBody(StrictListHostsRequest, data);
    if (!req.ok) return errorReply("invalid", req.message);
    return { hosts: view.hosts() };
  }
  return errorReply("invalid", `unknown registry subject ${subject}`);
}

/** Subscribes the query subjects in queue group `registry`; returns the subscriptions to drain on stop. */
export function serveQueries(nc: NatsConnection, view: QueryView, logger: RegistryLogger): Subscription[] {
  const subjectList = [
    subjects.registrySessionsList(),
    subjects.registrySessionsGet(),
    subjects.registrySessionsResolve(),
    subjects.registryHostsList(),
  ];
  return subjectList.map((subject) =>
    nc.subscribe(subject, {
      queue: REGISTRY_QUEUE_GROUP,
      callback: (err, msg) => {
        if (err) {
          logger.warn({ err, subject }, "registry query subscription error");
          return;
        }
        respond(msg, view, logger);
      },
    }),
  );
}

function respond(msg: Msg, view: QueryView, logger: RegistryLogger): void {
  // Answer only live requests: an answer is a publish on the reply subject, which the requester chose.
  const notLive = notALiveRequest(msg);
  if (notLive)
    return logger.warn({ subject: msg.subject, why: notLive }, "registry: dropped a message that is not a query");
  let reply: unknown;
  try {
    reply = answerQuery(msg.subject, msg.data, view);
  } catch (err) {
    logger.error({ err, subject: msg.subject }, "registry query failed");
    reply = errorReply("internal", `registry failed to answer: ${(err as Error)?.message ?? String(err)}`);
  }
  if (!msg.reply) return;
  try {
    msg.respond(JSON.stringify(reply));
  } catch (err) {
    logger.warn({ err, subject: msg.subject }, "could not send a registry reply");
  }
}
