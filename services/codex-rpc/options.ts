/** The options of a Codex app-server connection and of its calls. */
import type { Logger } from "pino";

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

/** The defaults of `CodexRpcOptions`. */
export const DEFAULT_RPC_OPTIONS = {
  requestTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  maxFrameBytes: 64 * 1024 * 1024,
};
