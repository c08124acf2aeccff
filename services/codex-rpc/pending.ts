/**
 * The client's requests in flight: each gets the next id, a timeout and an abort listener, and is settled exactly
 * once, by its answer, its timeout, its signal, a failed send, or the connection closing.
 */
import type { RequestId, WireMessage } from "../../schemas/codex/index.js";
import { CodexRpcError } from "./errors.js";
import type { CallOptions } from "./options.js";

interface Pending {
  method: string;
  resolve(value: unknown): void;
  reject(err: unknown): void;
  cleanup(): void;
}

/** A response on the wire: a request's result, or the server's JSON-RPC error. */
export type WireResponse = Extract<WireMessage, { kind: "result" | "error" }>;

/** Requests sent and not yet settled; see the module comment. */
export class PendingRequests {
  private nextId = 1;
  private readonly pending = new Map<RequestId, Pending>();

  /**
   * Sends a request with `send(id)` and resolves with its raw result; rejects with a `timeout` CodexRpcError
   * after `timeoutMs`, with the signal's reason when it aborts, or with `sendFailed(err)` when `send` throws.
   */
  start(
    method: string,
    call: CallOptions,
    timeoutMs: number,
    send: (id: number) => void,
    sendFailed: (err: unknown) => unknown,
  ): Promise<unknown> {
    const id = this.nextId++;
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
        send(id);
      } catch (err) {
        this.pending.delete(id);
        cleanup();
        reject(sendFailed(err));
      }
    });
  }

  /**
   * Settles the request a response answers (an error rejects it with an `rpc_error` CodexRpcError). False when
   * no such request is pending (it timed out or was cancelled).
   */
  answer(message: WireResponse): boolean {
    const id = message.msg.id;
    const entry = id === null ? undefined : this.pending.get(id);
    if (!entry) return false;
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
    return true;
  }

  /** Fails every pending request with the connection's closing error, under the request's method. */
  failAll(error: CodexRpcError): void {
    for (const [id, entry] of this.pending) {
      this.pending.delete(id);
      entry.cleanup();
      entry.reject(
        new CodexRpcError(error.code, `${entry.method} failed: ${error.message}`, {
          method: entry.method,
          cause: error,
        }),
      );
    }
  }
}
