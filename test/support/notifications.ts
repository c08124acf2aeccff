/** Records every notification a client receives, so tests can wait for one or assert that one never came. */
import type { CodexRpcClient, RawNotification } from "../../services/codex-rpc/index.js";

/** A notification log for one client connection. */
export interface NotificationLog {
  readonly all: RawNotification[];
  /** Notifications of `method` whose params match `pred`. */
  matching(method: string, pred?: (params: any) => boolean): RawNotification[];
  /** Resolves with the first (past or future) notification of `method` matching `pred`. */
  waitFor(method: string, pred?: (params: any) => boolean, timeoutMs?: number): Promise<any>;
}

/** Starts recording `client`'s notifications. */
export function recordNotifications(client: CodexRpcClient): NotificationLog {
  const all: RawNotification[] = [];
  const waiters = new Set<() => void>();
  client.onAnyNotification((n) => {
    all.push(n);
    for (const w of waiters) w();
  });
  const matching = (method: string, pred: (params: any) => boolean = () => true) =>
    all.filter((n) => n.method === method && pred(n.params));
  return {
    all,
    matching,
    waitFor(method, pred = () => true, timeoutMs = 20_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const hit = matching(method, pred)[0];
          if (!hit) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit.params);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          const seen = all.map((n) => n.method).join(", ");
          reject(new Error(`no ${method} notification within ${timeoutMs} ms; seen: ${seen}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
  };
}
