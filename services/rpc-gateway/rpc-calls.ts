/**
 * The rpc calls in flight on one host connection: each `rpc` frame sent waits for the agent's `rpcResult`
 * with the same id, for at most its timeout. Every call settles exactly once: with the agent's result, with
 * `timeout`, or with `host_offline` when the connection ends first.
 */
import { failure } from "../../schemas/commands.js";
import type { HostRpcResult } from "../../schemas/host-rpc.js";

interface Pending {
  resolve(result: HostRpcResult): void;
  timer: NodeJS.Timeout;
}

/** Calls awaiting their result on one connection. */
export class RpcCalls {
  private readonly pending = new Map<string, Pending>();
  private closedReason: string | null = null;

  /** Calls still waiting. */
  get size(): number {
    return this.pending.size;
  }

  /**
   * Registers a call and returns its settlement. `send` is invoked once registered; the agent gets
   * `timeoutMs` from then. A second call with an id still in flight joins the first one.
   */
  start(id: string, timeoutMs: number, send: () => void): Promise<HostRpcResult> {
    if (this.closedReason !== null)
      return Promise.resolve(
        failure("host_offline", `the host's connection ended (${this.closedReason}); nothing was sent`),
      );
    const existing = this.pending.get(id);
    if (existing) {
      return new Promise((resolve) => {
        const first = existing.resolve;
        existing.resolve = (r) => {
          first(r);
          resolve(r);
        };
      });
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.settle(
          id,
          failure(
            "timeout",
            `the host agent did not answer within ${timeoutMs} ms; the command may still complete on the host`,
          ),
        );
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve, timer });
      send();
    });
  }

  /** The agent answered `id`; false when nothing waits for it (late, or unknown). */
  settle(id: string, result: HostRpcResult): boolean {
    const p = this.pending.get(id);
    if (!p) return false;
    this.pending.delete(id);
    clearTimeout(p.timer);
    p.resolve(result);
    return true;
  }

  /** The connection ended: every waiting call fails `host_offline`, and later calls fail at once. */
  close(reason: string): void {
    this.closedReason = reason;
    for (const id of [...this.pending.keys()]) {
      this.settle(
        id,
        failure(
          "host_offline",
          `the host's connection ended (${reason}) before it answered; the command may or may not have run`,
        ),
      );
    }
  }
}
