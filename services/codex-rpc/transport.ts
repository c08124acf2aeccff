/**
 * Frame transports under the JSON-RPC client: one JSON message per frame. WebSocket (over a unix socket or
 * TCP) and newline-delimited stdio of a spawned command. A transport reports each frame and exactly one close.
 */
import { spawn } from "node:child_process";
import net from "node:net";
import WebSocket from "ws";
import type { Endpoint } from "./endpoint.js";
import { CodexRpcError } from "./errors.js";

/** What a transport tells its owner. */
export interface TransportHandlers {
  frame(text: string): void;
  /** Called once, when the connection is gone; `error` says why. */
  closed(error: CodexRpcError): void;
}

/** An open connection that carries text frames. */
export interface FrameTransport {
  send(frame: string): void;
  /** Closes the connection; `closed` is reported with the given error, or a plain `closed` one. */
  close(error?: CodexRpcError): void;
}

/** Limits and credentials for opening a transport. */
export interface TransportOptions {
  /** Largest frame accepted, in bytes; a larger one fails the connection with `too_large`. */
  maxFrameBytes: number;
  /** How long opening may take, in milliseconds. */
  connectTimeoutMs: number;
}

/** Opens a transport to `endpoint`; rejects with a `closed` CodexRpcError when it cannot connect. */
export function openTransport(
  endpoint: Endpoint,
  handlers: TransportHandlers,
  opts: TransportOptions,
): Promise<FrameTransport> {
  return endpoint.kind === "stdio" ? openStdio(endpoint, handlers, opts) : openWebSocket(endpoint, handlers, opts);
}

/** Wraps `handlers.closed` so a transport reports its close exactly once, whichever event comes first. */
function reportOnce(handlers: TransportHandlers): ((error: CodexRpcError) => void) & { done: boolean } {
  const report = Object.assign(
    (error: CodexRpcError): void => {
      if (report.done) return;
      report.done = true;
      handlers.closed(error);
    },
    { done: false },
  );
  return report;
}

function openWebSocket(
  endpoint: Extract<Endpoint, { kind: "unix" | "ws" }>,
  handlers: TransportHandlers,
  opts: TransportOptions,
): Promise<FrameTransport> {
  const where = endpoint.kind === "unix" ? `unix://${endpoint.socketPath}` : endpoint.url;
  const ws =
    endpoint.kind === "unix"
      ? new WebSocket("ws://localhost/", {
          maxPayload: opts.maxFrameBytes,
          handshakeTimeout: opts.connectTimeoutMs,
          createConnection: () => net.createConnection(endpoint.socketPath),
        })
      : new WebSocket(endpoint.url, {
          maxPayload: opts.maxFrameBytes,
          handshakeTimeout: opts.connectTimeoutMs,
          headers: endpoint.bearerToken ? { Authorization: `Bearer ${endpoint.bearerToken}` } : {},
        });
  const report = reportOnce(handlers);
  let pendingError: CodexRpcError | undefined;
  const transport: FrameTransport = {
    send(frame) {
      if (ws.readyState !== WebSocket.OPEN) throw new CodexRpcError("closed", `connection to ${where} is closed`);
      ws.send(frame);
    },
    close(error) {
      pendingError ??= error;
      if (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN) ws.close(1000);
      else report(pendingError ?? new CodexRpcError("closed", `connection to ${where} closed`));
      // A peer that never completes the closing handshake must not keep us waiting.
      setTimeout(() => ws.terminate(), 1_000).unref();
    },
  };
  return new Promise((resolve, reject) => {
    ws.on("open", () => resolve(transport));
    ws.on("message", (data, isBinary) => {
      if (isBinary) {
        transport.close(new CodexRpcError("malformed", `binary frame from ${where}; the app-server sends text frames`));
        return;
      }
      handlers.frame(Array.isArray(data) ? Buffer.concat(data).toString("utf8") : data.toString("utf8"));
    });
    ws.on("error", (err: Error & { code?: string }) => {
      pendingError ??=
        err.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH"
          ? new CodexRpcError("too_large", `frame from ${where} exceeds ${opts.maxFrameBytes} bytes`, { cause: err })
          : err.code?.startsWith("WS_ERR_")
            ? new CodexRpcError("malformed", `bad WebSocket frame from ${where}: ${err.message}`, { cause: err })
            : new CodexRpcError("closed", `connection to ${where} failed: ${err.message}`, { cause: err });
    });
    ws.on("unexpected-response", (_req, res) => {
      pendingError = new CodexRpcError("closed", `${where} refused the WebSocket upgrade: HTTP ${res.statusCode}`);
      ws.terminate();
    });
    ws.on("close", (code, reason) => {
      const error =
        pendingError ??
        new CodexRpcError(
          "closed",
          `connection to ${where} closed (${code}${reason.length ? `: ${reason.toString()}` : ""})`,
        );
      reject(error);
      report(error);
    });
  });
}

function openStdio(
  endpoint: Extract<Endpoint, { kind: "stdio" }>,
  handlers: TransportHandlers,
  opts: TransportOptions,
): Promise<FrameTransport> {
  const where = `stdio:${endpoint.command}`;
  const child = spawn(endpoint.command, endpoint.args, {
    stdio: ["pipe", "pipe", "pipe"],
    env: endpoint.env ? { ...process.env, ...endpoint.env } : process.env,
  });
  const report = reportOnce(handlers);
  let failure: CodexRpcError | undefined;
  let stderrTail = "";
  const transport: FrameTransport = {
    send(frame) {
      if (report.done || !child.stdin.writable) throw new CodexRpcError("closed", `${where} has exited`);
      child.stdin.write(`${frame}\n`);
    },
    close(error) {
      failure ??= error;
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin.end();
        child.kill("SIGTERM");
        setTimeout(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"), 2_000).unref();
      } else {
        report(failure ?? new CodexRpcError("closed", `${where} has exited`));
      }
    },
  };
  let buffered = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.trim()) handlers.frame(line);
    }
    if (Buffer.byteLength(buffered) > opts.maxFrameBytes) {
      buffered = "";
      transport.close(new CodexRpcError("too_large", `line from ${where} exceeds ${opts.maxFrameBytes} bytes`));
    }
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-2_000);
  });
  child.stdin.on("error", () => undefined);
  return new Promise((resolve, reject) => {
    child.on("spawn", () => resolve(transport));
    child.on("error", (err) => {
      const error = new CodexRpcError("closed", `cannot start ${where}: ${err.message}`, { cause: err });
      reject(error);
      report(error);
    });
    child.on("exit", (code, signal) => {
      const tail = stderrTail.trim().split("\n").slice(-1)[0];
      report(
        failure ??
          new CodexRpcError("closed", `${where} exited (${signal ?? `code ${code}`})${tail ? `: ${tail}` : ""}`),
      );
    });
  });
}
