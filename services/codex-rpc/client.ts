/**
 * JSON-RPC client for the Codex app-server. Typed requests with per-request timeouts and AbortSignal
 * cancellation; notifications and server→client requests go to handlers the owner registers. The client
 * never answers a server request by itself: a request with no handler gets a JSON-RPC error reply, and a
 * handler may leave a request unanswered for its real owner (for example the human's TUI).
 */
import type { Logger } from "pino";
import type { z } from "zod";
import {
  classifyWireMessage,
  clientMethods,
  InitializeResult,
  isKnownNotification,
  isKnownServerRequest,
  notifications,
  serverRequests,
  type ClientMethod,
  type ClientParams,
  type ClientResult,
  type NotificationMethod,
  type NotificationParams,
  type RequestId,
  type ServerRequestMethod,
  type ServerRequestParams,
  type ServerRequestReply,
} from "../../schemas/codex/index.js";
import { describeEndpoint, type Endpoint } from "./endpoint.js";
import { CodexRpcError } from "./errors.js";
import { openTransport, type FrameTransport } from "./transport.js";

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

/** Options for connecting. */
export interface CodexRpcOptions {
  /** Default per-request timeout in milliseconds (30 s). */
  requestTimeoutMs?: number;
  /** How long connecting may take in milliseconds (10 s). */
  connectTimeoutMs?: number;
  /** Largest frame accepted in bytes (64 MiB); larger fails the connection with `too_large`. */
  maxFrameBytes?: number;
  logger?: Logger;
}

/** Per-call options. */
export interface CallOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What `initialize` sends about the client. */
export interface InitializeOptions {
  clientInfo: { name: string; title?: string; version: string };
  experimentalApi?: boolean;
  /** Exact notification methods this connection does not want (e.g. `item/agentMessage/delta`). */
  optOutNotificationMethods?: readonly string[];
}

interface Pending {
  method: string;
  resolve(value: unknown): void;
  reject(err: unknown): void;
  cleanup(): void;
}

const DEFAULTS = { requestTimeoutMs: 30_000, connectTimeoutMs: 10_000, maxFrameBytes: 64 * 1024 * 1024 };
const METHOD_NOT_FOUND = -32601;
const INTERNAL_ERROR = -32603;

/** One connection to an app-server. Create with `connectCodex`. */
export class CodexRpcClient {
  private transport: FrameTransport | undefined;
  private nextId = 1;
  private readonly pending = new Map<RequestId, Pending>();
  private readonly notificationHandlers = new Map<string, Set<(params: unknown, raw: RawNotification) => void>>();
  private readonly anyNotificationHandlers = new Set<(n: RawNotification) => void>();
  private readonly requestHandlers = new Map<string, ServerRequestHandler<ServerRequestMethod>>();
  private readonly closeHandlers = new Set<(err: CodexRpcError) => void>();
  private closedWith: CodexRpcError | undefined;
  private readonly opts: Required<Omit<CodexRpcOptions, "logger">>;
  private readonly log: Logger | undefined;

  /** Use `connectCodex`; the constructor does not connect. */
  constructor(
    readonly endpoint: Endpoint,
    options: CodexRpcOptions = {},
  ) {
    const { logger, ...rest } = options;
    this.opts = { ...DEFAULTS, ...rest };
    this.log = logger;
  }

  /** Opens the connection; rejects with a `closed` CodexRpcError when the endpoint cannot be reached. */
  async open(): Promise<this> {
    this.transport = await openTransport(
      this.endpoint,
      { frame: (text) => this.onFrame(text), closed: (err) => this.onClosed(err) },
      { maxFrameBytes: this.opts.maxFrameBytes, connectTimeoutMs: this.opts.connectTimeoutMs },
    );
    return this;
  }

  /** True until the connection is closed for any reason. */
  get isOpen(): boolean {
    return this.transport !== undefined && this.closedWith === undefined;
  }

  /** Sends `initialize`, then the `initialized` notification; returns the server's identity. */
  async initialize(init: InitializeOptions, call?: CallOptions): Promise<z.infer<typeof InitializeResult>> {
    const capabilities = {
      experimentalApi: init.experimentalApi ?? false,
      ...(init.optOutNotificationMethods?.length ? { optOutNotificationMethods: [...init.optOutNotificationMethods] } : {}),
    };
    const result = await this.request("initialize", { clientInfo: init.clientInfo, capabilities }, call);
    this.notify("initialized");
    return result;
  }

  /** Calls a method; params are validated before sending and the result is parsed with its schema. */
  async request<M extends ClientMethod>(method: M, params: ClientParams<M>, call: CallOptions = {}): Promise<ClientResult<M>> {
    const spec = clientMethods[method];
    const checked = spec.params.safeParse(params);
    if (!checked.success) {
      throw new CodexRpcError("malformed", `invalid params for ${method}: ${checked.error.issues.map(issueText).join("; ")}`, {
        method,
      });
    }
    const raw = await this.requestRaw(method, checked.data, call);
    const parsed = spec.result.safeParse(raw);
    if (!parsed.success) {
      throw new CodexRpcError("malformed", `unexpected ${method} result: ${parsed.error.issues.map(issueText).join("; ")}`, {
        method,
      });
    }
    return parsed.data as ClientResult<M>;
  }

  /** Calls any method without schemas (for methods outside the supported subset). */
  requestRaw(method: string, params: unknown, call: CallOptions = {}): Promise<unknown> {
    if (this.closedWith) return Promise.reject(this.closedError(method));
    if (call.signal?.aborted) return Promise.reject(call.signal.reason);
    const id = this.nextId++;
    const timeoutMs = call.timeoutMs ?? this.opts.requestTimeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        cleanup();
        reject(new CodexRpcError("timeout", `${method} got no answer within ${timeoutMs} ms`, { method }));
      }, timeoutMs);
      const onAbort = (): void => {
        this.pending.delete(id);
        cleanup();
        reject(call.signal?.reason);
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        call.signal?.removeEventListener("abort", onAbort);
      };
      call.signal?.addEventListener("abort", onAbort, { once: true });
      this.pending.set(id, { method, resolve, reject, cleanup });
      try {
        this.transport!.send(JSON.stringify(params === undefined ? { id, method } : { id, method, params }));
      } catch (err) {
        this.pending.delete(id);
        cleanup();
        reject(err instanceof CodexRpcError ? err : this.closedError(method, err));
      }
    });
  }

  /** Sends a notification; throws a `closed` CodexRpcError when the connection is gone. */
  notify(method: string, params?: unknown): void {
    if (this.closedWith || !this.transport) throw this.closedError(method);
    this.transport.send(JSON.stringify(params === undefined ? { method } : { method, params }));
  }

  /**
   * Registers a handler for a known notification; params are parsed with its schema (a notification that
   * fails its schema is logged and not delivered). Returns a function that removes the handler.
   */
  on<M extends NotificationMethod>(method: M, handler: (params: NotificationParams<M>, raw: RawNotification) => void): () => void {
    const set = this.notificationHandlers.get(method) ?? new Set();
    this.notificationHandlers.set(method, set);
    const wrapped = handler as (params: unknown, raw: RawNotification) => void;
    set.add(wrapped);
    return () => set.delete(wrapped);
  }

  /** Registers a handler for every notification, raw and unparsed. Returns a function that removes it. */
  onAnyNotification(handler: (n: RawNotification) => void): () => void {
    this.anyNotificationHandlers.add(handler);
    return () => this.anyNotificationHandlers.delete(handler);
  }

  /** Sets the one owner of a server→client request kind. Returns a function that removes it. */
  handleServerRequest<M extends ServerRequestMethod>(method: M, handler: ServerRequestHandler<M>): () => void {
    if (this.requestHandlers.has(method)) throw new Error(`a handler for ${method} is already registered`);
    this.requestHandlers.set(method, handler as unknown as ServerRequestHandler<ServerRequestMethod>);
    return () => this.requestHandlers.delete(method);
  }

  /** Called once when the connection closes, with the reason. Returns a function that removes it. */
  onClose(handler: (err: CodexRpcError) => void): () => void {
    if (this.closedWith) queueMicrotask(() => handler(this.closedWith!));
    else this.closeHandlers.add(handler);
    return () => this.closeHandlers.delete(handler);
  }

  /** Closes the connection; pending requests fail with `closed`. */
  close(): void {
    if (this.closedWith) return;
    this.transport?.close();
  }

  /** Resolves when the connection has closed. */
  closed(): Promise<CodexRpcError> {
    return new Promise((resolve) => this.onClose(resolve));
  }

  private closedError(method: string, cause?: unknown): CodexRpcError {
    const why = this.closedWith ? `: ${this.closedWith.message}` : "";
    return new CodexRpcError("closed", `cannot call ${method}, the connection to ${describeEndpoint(this.endpoint)} is closed${why}`, {
      method,
      cause: cause ?? this.closedWith,
    });
  }

  /** A bad frame fails the whole connection: the stream can no longer be trusted. */
  private failConnection(error: CodexRpcError): void {
    this.log?.warn({ err: error.message, endpoint: describeEndpoint(this.endpoint) }, "closing app-server connection");
    this.transport?.close(error);
  }

  private onFrame(text: string): void {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      this.failConnection(new CodexRpcError("malformed", `frame is not JSON: ${JSON.stringify(text.slice(0, 80))}`));
      return;
    }
    const message = classifyWireMessage(value);
    switch (message.kind) {
      case "invalid":
        this.failConnection(new CodexRpcError("malformed", `invalid JSON-RPC message: ${message.reason}`));
        return;
      case "result":
      case "error": {
        const id = message.msg.id;
        const entry = id === null ? undefined : this.pending.get(id);
        if (!entry) {
          this.log?.debug({ id }, "response for no pending request (timed out or cancelled)");
          return;
        }
        this.pending.delete(id!);
        entry.cleanup();
        if (message.kind === "result") entry.resolve(message.msg.result);
        else {
          const { code, message: rpcMessage } = message.msg.error;
          entry.reject(
            new CodexRpcError("rpc_error", `${entry.method} failed: ${rpcMessage} (${code})`, {
              method: entry.method,
              rpcCode: code,
              rpcMessage,
            }),
          );
        }
        return;
      }
      case "notification":
        this.dispatchNotification(message.msg);
        return;
      case "request":
        void this.dispatchServerRequest(message.msg.id, message.msg.method, message.msg.params);
        return;
    }
  }

  private dispatchNotification(n: RawNotification): void {
    for (const handler of this.anyNotificationHandlers) this.safely(() => handler(n), n.method);
    const handlers = this.notificationHandlers.get(n.method);
    if (!handlers?.size || !isKnownNotification(n.method)) return;
    const parsed = notifications[n.method].params.safeParse(n.params);
    if (!parsed.success) {
      this.log?.warn({ method: n.method, issues: parsed.error.issues.map(issueText) }, "notification does not match its schema");
      return;
    }
    for (const handler of handlers) this.safely(() => handler(parsed.data, n), n.method);
  }

  private async dispatchServerRequest(id: RequestId, method: string, params: unknown): Promise<void> {
    const handler = this.requestHandlers.get(method);
    if (!handler || !isKnownServerRequest(method)) {
      this.reply(id, { error: { code: METHOD_NOT_FOUND, message: `this client has no handler for ${method}` } });
      return;
    }
    const spec = serverRequests[method];
    const parsed = spec.params.safeParse(params);
    if (!parsed.success) {
      this.reply(id, { error: { code: INTERNAL_ERROR, message: `invalid ${method} params: ${parsed.error.issues.map(issueText).join("; ")}` } });
      return;
    }
    try {
      const outcome = await handler(parsed.data as ServerRequestParams<ServerRequestMethod>, { id, method });
      if (outcome === leaveToOwner) return;
      const reply = spec.reply.safeParse(outcome);
      if (!reply.success) throw new Error(`handler reply does not match the ${method} reply schema`);
      this.reply(id, { result: reply.data });
    } catch (err) {
      this.log?.error({ method, err: (err as Error).message }, "server request handler failed");
      this.reply(id, { error: { code: INTERNAL_ERROR, message: `handler for ${method} failed: ${(err as Error).message}` } });
    }
  }

  private reply(id: RequestId, body: { result: unknown } | { error: { code: number; message: string } }): void {
    if (this.closedWith || !this.transport) return;
    try {
      this.transport.send(JSON.stringify({ id, ...body }));
    } catch (err) {
      this.log?.warn({ id, err: (err as Error).message }, "could not send a reply");
    }
  }

  private safely(fn: () => void, method: string): void {
    try {
      fn();
    } catch (err) {
      this.log?.error({ method, err: (err as Error).message }, "notification handler threw");
    }
  }

  private onClosed(error: CodexRpcError): void {
    if (this.closedWith) return;
    this.closedWith = error;
    for (const [id, entry] of this.pending) {
      this.pending.delete(id);
      entry.cleanup();
      entry.reject(new CodexRpcError(error.code, `${entry.method} failed: ${error.message}`, { method: entry.method, cause: error }));
    }
    for (const handler of this.closeHandlers) this.safely(() => handler(error), "close");
    this.closeHandlers.clear();
  }
}

function issueText(issue: { path: PropertyKey[]; message: string }): string {
  return issue.path.length ? `${issue.path.map(String).join(".")}: ${issue.message}` : issue.message;
}

/** Connects to an app-server endpoint; rejects with a `closed` CodexRpcError when it cannot. */
export function connectCodex(endpoint: Endpoint, options?: CodexRpcOptions): Promise<CodexRpcClient> {
  return new CodexRpcClient(endpoint, options).open();
}
