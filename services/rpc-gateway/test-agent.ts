import WebSocket from "ws";
import { GatewayFrame } from "../../schemas/gateway.js";

/** A connected scripted agent. */
export interface TestAgent {
  ws: WebSocket;
  /** Every frame received so far, parsed with GatewayFrame. */
  frames: GatewayFrame[];
  /** Resolves with the next frame (after those already taken) matching `pred`. */
  next(pred?: (f: GatewayFrame) => boolean, timeoutMs?: number): Promise<GatewayFrame>;
  send(frame: unknown): void;
  /** Settles with the close code and reason once the socket is closed. */
  closed: Promise<{ code: number; reason: string }>;
}

/** Thrown when the gateway refuses the upgrade; `status` is its HTTP status. */
export class UpgradeRefused extends Error {
  constructor(readonly status: number) {
    super(`upgrade refused with HTTP ${status}`);
  }
}

/** Dials the gateway as a host agent; rejects with `UpgradeRefused` when the upgrade is refused. */
export function connectAgent(
  url: string,
  token: string | undefined,
  opts: { autoPong?: boolean; headers?: Record<string, string> } = {},
): Promise<TestAgent> {
  const headers = { ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...opts.headers };
  const ws = new WebSocket(url, { headers, autoPong: opts.autoPong ?? true });
  const frames: GatewayFrame[] = [];
  const waiters: (() => void)[] = [];
  let taken = 0;
  ws.on("message", (data) => {
    frames.push(GatewayFrame.parse(JSON.parse(data.toString())));
    for (const wake of waiters.splice(0)) wake();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on("close", (code, reason) => {
      resolve({ code, reason: reason.toString() });
      for (const wake of waiters.splice(0)) wake();
    });
  });
  const next = (pred: (f: GatewayFrame) => boolean = () => true, timeoutMs = 5_000): Promise<GatewayFrame> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching frame in ${timeoutMs} ms; got ${JSON.stringify(frames.slice(taken))}`)),
        timeoutMs,
      );
      const look = (): void => {
        while (taken < frames.length) {
          const frame = frames[taken++] as GatewayFrame;
          if (pred(frame)) {
            clearTimeout(timer);
            return resolve(frame);
          }
        }
        if (ws.readyState === WebSocket.CLOSED) return reject(new Error("socket closed while waiting for a frame"));
        waiters.push(look);
      };
      look();
    });
  const agent: TestAgent = {
    ws,
    frames,
    next,
    send: (f) => ws.send(typeof f === "string" ? f : JSON.stringify(f)),
    closed,
  };
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(agent));
    ws.once("unexpected-response", (_req, res) => {
      reject(new UpgradeRefused(res.statusCode ?? 0));
      res.resume();
      ws.terminate();
    });
    ws.once("error", reject);
  });
}

/** A hello frame for `hostId`. */
export const hello = (hostId: string, epoch = "run-1") => ({
  type: "hello",
  hostId,
  epoch,
  agentVersion: "0.1.0-test",
  hostname: `${hostId}.local`,
});

/** An `event` frame for `hostId` (a `turn/started`-shaped app-server method with no known schema). */
export const eventFrame = (hostId: string, seq: number, extra: Record<string, unknown> = {}) => ({
  type: "event",
  event: {
    hostId,
    threadId: "thread-1",
    epoch: "run-1",
    seq,
    emittedAtMs: 1_700_000_000_000 + seq,
    type: "item/plan/delta",
    payload: { n: seq },
    ...extra,
  },
});
