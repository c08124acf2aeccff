/**
 * A scriptable fake Codex app-server for faults the real one cannot be made to show: silence, dropped
 * connections, malformed and oversized frames, unknown server requests. WebSocket over a unix socket (like
 * the daemon) or over TCP on 127.0.0.1. Not a protocol implementation: each test scripts what it needs.
 */
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { WebSocketServer, type WebSocket } from "ws";
import type { Endpoint } from "../../services/codex-rpc/endpoint.js";

/** A message the fake received from the client. */
export type ReceivedMessage = {
  id?: string | number;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: unknown;
};

/** What a method handler returns: a result, an error, or nothing at all (the request stays unanswered). */
export type FakeReply = { result: unknown } | { error: { code: number; message: string } } | "silence";

/** One client connection to the fake. */
export class FakeConnection {
  readonly received: ReceivedMessage[] = [];
  private readonly waiters = new Set<{
    pred: (m: ReceivedMessage) => boolean;
    resolve: (m: ReceivedMessage) => void;
  }>();

  constructor(
    readonly socket: WebSocket,
    readonly headers: http.IncomingHttpHeaders,
  ) {}

  /** Sends a JSON value as one text frame. */
  send(value: unknown): void {
    this.socket.send(JSON.stringify(value));
  }

  /** Sends raw text (e.g. a malformed frame) as one text frame. */
  sendRaw(text: string | Buffer, binary = false): void {
    this.socket.send(text, { binary });
  }

  /** Drops the TCP/unix connection without a closing handshake. */
  drop(): void {
    this.socket.terminate();
  }

  /** Resolves with the first received message (already seen or future) matching `pred`. */
  waitFor(pred: (m: ReceivedMessage) => boolean, timeoutMs = 5_000): Promise<ReceivedMessage> {
    const seen = this.received.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { pred, resolve };
      this.waiters.add(waiter);
      setTimeout(() => {
        if (this.waiters.delete(waiter))
          reject(new Error(`fake app-server: no matching message within ${timeoutMs} ms`));
      }, timeoutMs).unref();
    });
  }

  /** @internal */
  record(message: ReceivedMessage): void {
    this.received.push(message);
    for (const w of this.waiters) {
      if (w.pred(message)) {
        this.waiters.delete(w);
        w.resolve(message);
      }
    }
  }
}

type Handler = (params: unknown, conn: FakeConnection, id: string | number) => FakeReply | Promise<FakeReply>;

/** A running fake; `endpoint` is what the client connects to. */
export interface FakeAppServer {
  endpoint: Endpoint;
  connections: FakeConnection[];
  /** Scripts the reply to a method (replacing any earlier script for it). */
  handle(method: string, handler: Handler): void;
  /** Resolves with the n-th connection (1-based) once it exists. */
  connection(n?: number): Promise<FakeConnection>;
  stop(): Promise<void>;
}

const defaultInitialize: Handler = () => ({
  result: {
    userAgent: "fake-app-server/0.0.0",
    codexHome: "/tmp/fake-codex-home",
    platformFamily: "unix",
    platformOs: "linux",
  },
});

/** Starts a fake on a unix socket in a temp dir (default) or on a random 127.0.0.1 port. */
export async function startFakeAppServer(
  opts: { listen?: "unix" | "tcp"; requireBearer?: string } = {},
): Promise<FakeAppServer> {
  const handlers = new Map<string, Handler>([["initialize", defaultInitialize]]);
  const connections: FakeConnection[] = [];
  const connectionWaiters: (() => void)[] = [];
  const dir = opts.listen === "tcp" ? undefined : mkdtempSync(path.join(tmpdir(), "fake-app-server-"));
  const server = http.createServer((_req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({
    server,
    verifyClient: (info, cb) => {
      if (!opts.requireBearer) return cb(true);
      cb(info.req.headers.authorization === `Bearer ${opts.requireBearer}`, 401, "Unauthorized");
    },
  });
  wss.on("connection", (socket, req) => {
    const conn = new FakeConnection(socket, req.headers);
    connections.push(conn);
    for (const wake of connectionWaiters.splice(0)) wake();
    socket.on("message", async (data) => {
      let message: ReceivedMessage;
      try {
        message = JSON.parse(data.toString()) as ReceivedMessage;
      } catch {
        return;
      }
      conn.record(message);
      if (message.id === undefined || !message.method) return;
      const handler = handlers.get(message.method);
      const reply: FakeReply = handler
        ? await handler(message.params, conn, message.id)
        : { error: { code: -32601, message: `fake app-server: ${message.method} not scripted` } };
      if (reply !== "silence" && socket.readyState === socket.OPEN) conn.send({ id: message.id, ...reply });
    });
    socket.on("error", () => undefined);
  });
  const socketPath = dir ? path.join(dir, "app.sock") : undefined;
  await new Promise<void>((resolve) =>
    socketPath ? server.listen(socketPath, resolve) : server.listen(0, "127.0.0.1", resolve),
  );
  const endpoint: Endpoint = socketPath
    ? { kind: "unix", socketPath }
    : { kind: "ws", url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/` };
  return {
    endpoint,
    connections,
    handle: (method, handler) => void handlers.set(method, handler),
    async connection(n = 1) {
      while (connections.length < n) await new Promise<void>((wake) => connectionWaiters.push(wake));
      return connections[n - 1]!;
    },
    async stop() {
      for (const c of connections) c.socket.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
