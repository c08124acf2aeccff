/**
 * Routing of what the app-server sends unasked: notifications to every registered handler (parsed with their
 * schema when one is known), and server→client requests to their single owner. Pure dispatch, no I/O: the
 * client passes in how to reply.
 */
import type { Logger } from "pino";
import {
  isKnownNotification,
  isKnownServerRequest,
  notifications,
  serverRequests,
  type NotificationMethod,
  type NotificationParams,
  type RequestId,
  type ServerRequestMethod,
  type ServerRequestParams,
  type ServerRequestReply,
} from "../../schemas/codex/index.js";

/** Returned by a server-request handler that leaves the request to another connection to answer. */
export const leaveToOwner: unique symbol = Symbol("leaveToOwner");

/** Handles one server→client request kind: returns the reply, or `leaveToOwner` to stay silent. */
export type ServerRequestHandler<M extends ServerRequestMethod> = (
  params: ServerRequestParams<M>,
  ctx: { id: RequestId; method: M },
) => Promise<ServerRequestReply<M> | typeof leaveToOwner> | ServerRequestReply<M> | typeof leaveToOwner;

/** A notification as delivered to catch-all handlers: raw params, plus the server's emit time (unix ms). */
export interface RawNotification {
  method: string;
  params?: unknown;
  emittedAtMs?: number;
}

/** A reply body for a server request. */
export type ReplyBody = { result: unknown } | { error: { code: number; message: string } };

const METHOD_NOT_FOUND = -32601;
const INTERNAL_ERROR = -32603;

/** Delivers notifications to handlers; a throwing handler is logged and never stops the others. */
export class NotificationRouter {
  private readonly byMethod = new Map<string, Set<(params: unknown, raw: RawNotification) => void>>();
  private readonly any = new Set<(n: RawNotification) => void>();

  constructor(private readonly log: Logger | undefined) {}

  on<M extends NotificationMethod>(
    method: M,
    handler: (params: NotificationParams<M>, raw: RawNotification) => void,
  ): () => void {
    const set = this.byMethod.get(method) ?? new Set();
    this.byMethod.set(method, set);
    const wrapped = handler as (params: unknown, raw: RawNotification) => void;
    set.add(wrapped);
    return () => set.delete(wrapped);
  }

  onAny(handler: (n: RawNotification) => void): () => void {
    this.any.add(handler);
    return () => this.any.delete(handler);
  }

  dispatch(n: RawNotification): void {
    for (const handler of this.any) safely(this.log, () => handler(n), n.method);
    const handlers = this.byMethod.get(n.method);
    if (!handlers?.size || !isKnownNotification(n.method)) return;
    const parsed = notifications[n.method].params.safeParse(n.params);
    if (!parsed.success) {
      this.log?.warn(
        { method: n.method, issues: parsed.error.issues.map(issueText) },
        "notification does not match its schema",
      );
      return;
    }
    for (const handler of handlers) safely(this.log, () => handler(parsed.data, n), n.method);
  }
}

/**
 * Decides a known request kind whose params fail their schema: the raw params, and the reply (checked against
 * the kind's reply schema) or `leaveToOwner`.
 */
export type InvalidServerRequestHandler = (
  method: ServerRequestMethod,
  params: unknown,
  ctx: { id: RequestId },
) => ServerRequestReply<ServerRequestMethod> | typeof leaveToOwner;

/** Gives each server request kind at most one owner; a request without one gets a JSON-RPC error reply. */
export class ServerRequestRouter {
  private readonly owners = new Map<string, ServerRequestHandler<ServerRequestMethod>>();
  /** For params that fail their schema; without it such a request is left unanswered (it may be another client's). */
  invalidParams: InvalidServerRequestHandler | undefined;

  constructor(private readonly log: Logger | undefined) {}

  own<M extends ServerRequestMethod>(method: M, handler: ServerRequestHandler<M>): () => void {
    if (this.owners.has(method)) throw new Error(`a handler for ${method} is already registered`);
    this.owners.set(method, handler as unknown as ServerRequestHandler<ServerRequestMethod>);
    return () => this.owners.delete(method);
  }

  /** Asks the owner and sends its reply; stays silent only when the owner says `leaveToOwner`. */
  async dispatch(
    id: RequestId,
    method: string,
    params: unknown,
    reply: (id: RequestId, body: ReplyBody) => void,
  ): Promise<void> {
    const handler = this.owners.get(method);
    if (!handler || !isKnownServerRequest(method)) {
      reply(id, { error: { code: METHOD_NOT_FOUND, message: `this client has no handler for ${method}` } });
      return;
    }
    const spec = serverRequests[method];
    const parsed = spec.params.safeParse(params);
    if (!parsed.success) {
      // Replying here would answer a request that may belong to another client (a person's TUI): only a handler
      // that knows whose it is may answer it.
      this.log?.warn(
        { method, id, issues: parsed.error.issues.map(issueText) },
        "server request params do not match their schema",
      );
      let outcome: ReturnType<InvalidServerRequestHandler> = leaveToOwner;
      try {
        outcome = this.invalidParams?.(method, params, { id }) ?? leaveToOwner;
      } catch (err) {
        this.log?.error({ method, err: (err as Error).message }, "invalid-params handler failed; leaving the request");
      }
      const checked = outcome === leaveToOwner ? null : spec.reply.safeParse(outcome);
      if (checked?.success) reply(id, { result: checked.data });
      else if (checked)
        this.log?.error(
          { method },
          "invalid-params handler reply does not match the reply schema; leaving the request",
        );
      return;
    }
    try {
      const outcome = await handler(parsed.data as ServerRequestParams<ServerRequestMethod>, { id, method });
      if (outcome === leaveToOwner) return;
      const checked = spec.reply.safeParse(outcome);
      if (!checked.success) throw new Error(`handler reply does not match the ${method} reply schema`);
      reply(id, { result: checked.data });
    } catch (err) {
      this.log?.error({ method, err: (err as Error).message }, "server request handler failed");
      reply(id, {
        error: { code: INTERNAL_ERROR, message: `handler for ${method} failed: ${(err as Error).message}` },
      });
    }
  }
}

/** Runs a handler; what it throws is logged, never passed on. */
export function safely(log: Logger | undefined, fn: () => void, what: string): void {
  try {
    fn();
  } catch (err) {
    log?.error({ what, err: (err as Error).message }, "handler threw");
  }
}

/** One zod issue as "path: message". */
export function issueText(issue: { path: PropertyKey[]; message: string }): string {
  return issue.path.length ? `${issue.path.map(String).join(".")}: ${issue.message}` : issue.message;
}
