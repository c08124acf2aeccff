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
  type InitializeResult,
  type ClientMethod,
  type ClientParams,
  type ClientResult,
  type NotificationMethod,
  type NotificationParams,
  type RequestId,
  type ServerRequestMethod,
} from "../../schemas/codex/index.js";
import { describeEndpoint, type Endpoint } from "./endpoint.js";
import { CodexRpcError } from "./errors.js";
import { type CallOptions, type CodexRpcOptions, DEFAULT_RPC_OPTIONS, type InitializeOptions } from "./options.js";
import { PendingRequests } from "./pending.js";
import {
  issueText,
  NotificationRouter,
  safely,
  ServerRequestRouter,
  type InvalidServerRequestHandler,
  type RawNotification,
  type ReplyBody,
  type ServerRequestHandler,
} from "./routing.js";
import { openTransport, type FrameTransport } from "./transport.js";

/** One connection to an app-server. Create with `connectCodex`. */
export class CodexRpcClient {
  private transport: FrameTransport | undefined;
  private readonly pending = new PendingRequests();
  private readonly notifications: NotificationRouter;
  private readonly serverRequests: ServerRequestRouter;
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
    this.opts = { ...DEFAULT_RPC_OPTIONS, ...rest };
    this.log = logger;
    this.notifications = new NotificationRouter(logger);
    this.serverRequests = new ServerRequestRouter(logger);
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
      ...(init.optOutNotificationMethods?.length
        ? { optOutNotificationMethods: [...init.optOutNotificationMethods] }
        : {}),
    };
    const result = await this.request("initialize", { clientInfo: init.clientInfo, capabilities }, call);
    this.notify("initialized");
    return result;
  }

  /** Calls a method; params are validated before sending and the result is parsed with its schema. */
  async request<M extends ClientMethod>(
    method: M,
    params: ClientParams<M>,
    call: CallOptions = {},
  ): Promise<ClientResult<M>> {
    const spec = clientMethods[method];
    const checked = spec.params.safeParse(params);
    if (!checked.success) {
      throw new CodexRpcError(
        "malformed",
        `invalid params for ${method}: ${checked.error.issues.map(issueText).join("; ")}`,
        {
          method,
        },
      );
    }
    const raw = await this.requestRaw(method, checked.data, call);
    const parsed = spec.result.safeParse(raw);
    if (!parsed.success) {
      throw new CodexRpcError(
        "malformed",
        `unexpected ${method} result: ${parsed.error.issues.map(issueText).join("; ")}`,
        {
          method,
        },
      );
    }
    return parsed.data as ClientResult<M>;
  }

  /** Calls any method without schemas (for methods outside the supported subset). */
  requestRaw(method: string, params: unknown, call: CallOptions = {}): Promise<unknown> {
    if (this.closedWith) return Promise.reject(this.closedError(method));
    if (call.signal?.aborted) return Promise.reject(call.signal.reason);
    return this.pending.start(
      method,
      call,
      call.timeoutMs ?? this.opts.requestTimeoutMs,
      (id) => this.transport!.send(JSON.stringify(params === undefined ? { id, method } : { id, method, params })),
      (err) => (err instanceof CodexRpcError ? err : this.closedError(method, err)),
    );
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
  on<M extends NotificationMethod>(
    method: M,
    handler: (params: NotificationParams<M>, raw: RawNotification) => void,
  ): () => void {
    return this.notifications.on(method, handler);
  }

  /** Registers a handler for every notification, raw and unparsed. Returns a function that removes it. */
  onAnyNotification(handler: (n: RawNotification) => void): () => void {
    return this.notifications.onAny(handler);
  }

  /** Sets the one owner of a server→client request kind. Returns a function that removes it. */
  handleServerRequest<M extends ServerRequestMethod>(method: M, handler: ServerRequestHandler<M>): () => void {
    return this.serverRequests.own(method, handler);
  }

  /**
   * Who decides a known server request whose params fail their schema (default: nobody; it stays unanswered,
   * since it may be another client's). The handler gets the raw params.
   */
  onInvalidServerRequest(handler: InvalidServerRequestHandler | undefined): void {
    this.serverRequests.invalidParams = handler;
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
    return new CodexRpcError(
      "closed",
      `cannot call ${method}, the connection to ${describeEndpoint(this.endpoint)} is closed${why}`,
      {
        method,
        cause: cause ?? this.closedWith,
      },
    );
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
      case "error":
        if (!this.pending.answer(message))
          this.log?.debug({ id: message.msg.id }, "response for no pending request (timed out or cancelled)");
        return;
      case "notification":
        this.notifications.dispatch(message.msg);
        return;
      case "request":
        void this.serverRequests.dispatch(message.msg.id, message.msg.method, message.msg.params, (id, body) =>
          this.reply(id, body),
        );
        return;
    }
  }

  private reply(id: RequestId, body: ReplyBody): void {
    if (this.closedWith || !this.transport) return;
    try {
      this.transport.send(JSON.stringify({ id, ...body }));
    } catch (err) {
      this.log?.warn({ id, err: (err as Error).message }, "could not send a reply");
    }
  }

  private onClosed(error: CodexRpcError): void {
    if (this.closedWith) return;
    this.closedWith = error;
    this.pending.failAll(error);
    for (const handler of this.closeHandlers) safely(this.log, () => handler(error), "close");
    this.closeHandlers.clear();
  }
}

/** Connects to an app-server endpoint; rejects with a `closed` CodexRpcError when it cannot. */
export function connectCodex(endpoint: Endpoint, options?: CodexRpcOptions): Promise<CodexRpcClient> {
  return new CodexRpcClient(endpoint, options).open();
}
