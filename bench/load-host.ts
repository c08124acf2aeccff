/**
 * A simulated host for the ingest benchmark: speaks the host-agent ↔ gateway protocol (schemas/gateway.ts)
 * over a real WebSocket with a real host token, and sends session events with a bounded window of
 * unacknowledged ones, as the host agent does.
 */
import WebSocket from "ws";
import type { SessionEventEnvelope } from "../schemas/bus.js";
import { GatewayFrame } from "../schemas/gateway.js";
import { coalesceWrites } from "../services/host-agent/ws-coalesce.js";

/** One connected simulated host. */
export interface LoadHost {
  hostId: string;
  /** Sends one event; resolves with its `emittedAtMs` once the gateway has acked it (stored in CODEX_EVENTS). */
  send(threadId: string, type: string, payload: unknown): Promise<number>;
  /** Resolves when every sent event is acked. */
  drain(): Promise<void>;
  close(): void;
}

/** Connects as `hostId` with `token`, says hello, and waits for the welcome. `window` bounds unacked events. */
export async function connectLoadHost(url: string, hostId: string, token: string, window = 64): Promise<LoadHost> {
  const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` } });
  const epoch = `bench${Date.now().toString(36)}`;
  let seq = 0;
  const pending = new Map<number, () => void>();
  const slotWaiters: (() => void)[] = [];
  const drainWaiters: (() => void)[] = [];
  let welcomed: () => void = () => undefined;
  const welcome = new Promise<void>((resolve) => (welcomed = resolve));
  ws.on("message", (data) => {
    const frame = GatewayFrame.parse(JSON.parse(data.toString()));
    if (frame.type === "welcome") return welcomed();
    if (frame.type === "reject") throw new Error(`gateway rejected event ${frame.seq}: ${frame.reason}`);
    if (frame.type === "rpc") throw new Error(`a load host executes no commands, got rpc ${frame.id}`);
    for (const seq of frame.type === "acks" ? frame.seqs : [frame.seq]) {
      pending.get(seq)?.();
      pending.delete(seq);
      slotWaiters.shift()?.();
    }
    if (pending.size === 0) for (const w of drainWaiters.splice(0)) w();
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  ws.send(JSON.stringify({ type: "hello", hostId, epoch, agentVersion: "bench", hostname: hostId, batchAcks: true }));
  await welcome;
  return {
    hostId,
    async send(threadId, type, payload) {
      while (pending.size >= window) await new Promise<void>((r) => slotWaiters.push(r));
      const event: SessionEventEnvelope = {
        hostId,
        threadId,
        epoch,
        seq: seq++,
        emittedAtMs: Date.now(),
        type,
        payload,
      };
      const acked = new Promise<number>((resolve) => pending.set(event.seq, () => resolve(event.emittedAtMs)));
      coalesceWrites(ws); // as the host agent's gateway client does
      ws.send(JSON.stringify({ type: "event", event }));
      return acked;
    },
    drain: () => (pending.size === 0 ? Promise.resolve() : new Promise<void>((r) => drainWaiters.push(r))),
    close: () => ws.close(),
  };
}

/** The `agent/thread.synced` payload of a simulated session. */
export function syncedPayload(threadId: string, hostId: string) {
  return {
    thread: {
      id: threadId,
      status: { type: "idle" },
      cwd: `/home/dev/work/${hostId}/repo-${threadId.slice(-3)}`,
      preview: "Fix the flaky integration test in the payments service and open a PR",
      name: null,
      ephemeral: false,
      createdAt: Math.floor(Date.now() / 1000),
      updatedAt: Math.floor(Date.now() / 1000),
      source: "vscode",
    },
    activeTurnId: null,
    workspace: `/home/dev/work/${hostId}/repo-${threadId.slice(-3)}`,
    repo: "git@example.com:acme/payments.git",
    branch: "fix/flaky-test",
    humanAttached: false,
    autonomous: false,
  };
}

/** A `thread/status/changed` payload: every one changes the session's status, so each is a real update. */
export function statusPayload(threadId: string, active: boolean) {
  return { threadId, status: active ? { type: "active", activeFlags: [] } : { type: "idle" } };
}
