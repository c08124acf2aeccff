/**
 * Test support for the registry (imported by tests only): a fake host that publishes session envelopes and
 * gateway lifecycle messages the way the host agent and gateway do, and readers for the KV view and the FLEET
 * stream. The bus they run on is test/support/bus.ts's.
 */
import { DeliverPolicy, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import type { ThreadSyncedPayload } from "../../schemas/agent-events.js";
import type { TokenCounts } from "../../schemas/budget.js";
import { SessionEventEnvelopeSchema, type SessionEventEnvelope } from "../../schemas/bus.js";
import type { ThreadStatus } from "../../schemas/codex/thread.js";
import { FleetEvent } from "../../schemas/fleet.js";
import type { HostLifecycle } from "../../schemas/gateway.js";
import type { HostRecord, SessionRecord } from "../../schemas/registry.js";
import type { TestBus } from "../../test/support/bus.js";
import { KV_BUCKET_NAMES, STREAM_NAMES, publishSessionEvent, subjects } from "../bus/index.js";
import { HostEntry, SessionEntry } from "../../schemas/registry-entry.js";
import { loadKvBucket as loadBucket } from "../bus/index.js";

/** Options of one synced thread snapshot. */
export interface SyncOptions {
  status?: ThreadStatus;
  workspace?: string;
  repo?: string | null;
  branch?: string | null;
  preview?: string;
  humanAttached?: boolean;
  autonomous?: boolean;
  activeTurnId?: string | null;
}

/** One host as the bus sees it: envelopes numbered `(epoch, seq)` like the host agent's, lifecycle like the gateway's. */
export class FakeHost {
  seq = 0;
  /** Clock used for `emittedAtMs` and lifecycle `atMs`; advance it with `at` for deterministic times. */
  nowMs = 1_700_000_000_000;
  readonly sent: SessionEventEnvelope[] = [];

  constructor(
    private readonly bus: Pick<TestBus, "nc" | "js">,
    readonly hostId: string,
    readonly epoch = "20260101T000000Z-a",
  ) {}

  /** Builds the next envelope (does not publish). */
  envelope(threadId: string, type: string, payload: unknown): SessionEventEnvelope {
    this.nowMs += 10;
    return {
      hostId: this.hostId,
      threadId,
      epoch: this.epoch,
      seq: this.seq++,
      emittedAtMs: this.nowMs,
      type,
      payload,
    };
  }

  /** Publishes an envelope to CODEX_EVENTS with its deterministic message id. */
  async publish(env: SessionEventEnvelope): Promise<SessionEventEnvelope> {
    await publishSessionEvent(this.bus.js, env);
    this.sent.push(env);
    return env;
  }

  /** `agent/thread.synced` for a thread. */
  synced(threadId: string, o: SyncOptions = {}): Promise<SessionEventEnvelope> {
    const payload: ThreadSyncedPayload = {
      thread: {
        id: threadId,
        status: o.status ?? { type: "idle" },
        cwd: o.workspace ?? `/work/${threadId}`,
        preview: o.preview ?? `task of ${threadId}`,
        name: null,
        ephemeral: false,
        createdAt: 1,
        updatedAt: 2,
        source: "cli",
      },
      activeTurnId: o.activeTurnId ?? null,
      workspace: o.workspace ?? `/work/${threadId}`,
      repo: o.repo === undefined ? "claw" : o.repo,
      branch: o.branch === undefined ? "main" : o.branch,
      humanAttached: o.humanAttached ?? false,
      autonomous: o.autonomous ?? false,
    };
    return this.publish(this.envelope(threadId, "agent/thread.synced", payload));
  }

  /** `thread/status/changed`. */
  status(threadId: string, status: ThreadStatus): Promise<SessionEventEnvelope> {
    return this.publish(this.envelope(threadId, "thread/status/changed", { threadId, status }));
  }

  /** `turn/started` then active status. */
  async startTurn(threadId: string, turnId: string): Promise<void> {
    await this.status(threadId, { type: "active", activeFlags: [] });
    await this.publish(
      this.envelope(threadId, "turn/started", { threadId, turn: { id: turnId, items: [], status: "inProgress" } }),
    );
  }

  /** `turn/completed` then idle status. */
  async completeTurn(threadId: string, turnId: string): Promise<void> {
    await this.publish(
      this.envelope(threadId, "turn/completed", { threadId, turn: { id: turnId, items: [], status: "completed" } }),
    );
    await this.status(threadId, { type: "idle" });
  }

  /** `thread/started` for a thread Codex runs on `model` (issue 19: what its tokens are priced by). */
  started(threadId: string, model: string | null): Promise<SessionEventEnvelope> {
    return this.publish(this.envelope(threadId, "thread/started", threadStartedPayload(threadId, model)));
  }

  /** `thread/tokenUsage/updated` with Codex's cumulative `total` (and `last` the same, as after a first call). */
  tokenUsage(threadId: string, turnId: string, total: TokenCounts): Promise<SessionEventEnvelope> {
    return this.publish(
      this.envelope(threadId, "thread/tokenUsage/updated", tokenUsagePayload(threadId, turnId, total)),
    );
  }

  /** An agent-message delta: activity only. */
  delta(threadId: string, turnId: string): Promise<SessionEventEnvelope> {
    return this.publish(
      this.envelope(threadId, "item/agentMessage/delta", { threadId, turnId, itemId: "i1", delta: "x" }),
    );
  }

  /** Publishes a gateway lifecycle message on `codex.host.<hostId>` (core NATS) and flushes it. */
  async lifecycle(type: HostLifecycle["type"], atMs = Date.now()): Promise<void> {
    const msg: HostLifecycle = {
      type,
      hostId: this.hostId,
      gatewayId: "gw-test",
      atMs,
      hostname: `${this.hostId}.example`,
      agentVersion: "0.1.0",
      threads: type === "heartbeat" ? 1 : null,
      appServer: type === "heartbeat" ? "connected" : null,
    };
    this.bus.nc.publish(subjects.hostLifecycle(this.hostId), JSON.stringify(msg));
    await this.bus.nc.flush();
  }
}

/** The current `codex-sessions` entries, by key. */
export async function readSessionEntries(nc: NatsConnection): Promise<Map<string, SessionEntry>> {
  const loaded = await loadBucket(nc, KV_BUCKET_NAMES.sessions);
  return new Map([...loaded].map(([k, v]) => [k, SessionEntry.parse(v.value)]));
}

/** The current `codex-hosts` entries, by key. */
export async function readHostEntries(nc: NatsConnection): Promise<Map<string, HostEntry>> {
  const loaded = await loadBucket(nc, KV_BUCKET_NAMES.hosts);
  return new Map([...loaded].map(([k, v]) => [k, HostEntry.parse(v.value)]));
}

/** Session records in KV, in registry order (host, then session id). */
export async function kvSessionRecords(nc: NatsConnection): Promise<SessionRecord[]> {
  const records = [...(await readSessionEntries(nc)).values()].map((e) => e.record);
  return records.sort((a, b) => (a.host === b.host ? (a.sessionId < b.sessionId ? -1 : 1) : a.host < b.host ? -1 : 1));
}

/** Host records in KV, by id. */
export async function kvHostRecords(nc: NatsConnection): Promise<HostRecord[]> {
  return [...(await readHostEntries(nc)).values()].map((e) => e.record).sort((a, b) => (a.hostId < b.hostId ? -1 : 1));
}

/** Every FLEET notice stored so far, in stream order, read with an ordered consumer. */
export async function readFleet(js: JetStreamClient): Promise<FleetEvent[]> {
  const consumer = await js.consumers.get(STREAM_NAMES.fleet, { deliver_policy: DeliverPolicy.All });
  const info = await consumer.info(true);
  const out: FleetEvent[] = [];
  let remaining = info.num_pending;
  while (remaining > 0) {
    const batch = await consumer.fetch({ max_messages: remaining, expires: 2_000 });
    for await (const m of batch) {
      out.push(FleetEvent.parse(m.json()));
      remaining = m.info.pending;
    }
  }
  return out;
}

/**
 * A deterministic mixed workload over `hosts`: steps that each publish one or two envelopes (sync, turns with
 * deltas, approval waits, errors, closes), the threads of all hosts interleaved by a seeded generator.
 */
export function mixedWorkload(hosts: FakeHost[], threadsPerHost: number, seed = 7): (() => Promise<unknown>)[] {
  let state = seed;
  const rand = (n: number): number => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state % n;
  };
  const scripts = hosts.flatMap((h) =>
    Array.from({ length: threadsPerHost }, (_, i) => {
      const t = `${h.hostId}-t${i}`;
      const s: (() => Promise<unknown>)[] = [
        () => h.synced(t, { humanAttached: i % 3 === 0, autonomous: i % 3 === 1 }),
        () => h.startTurn(t, `${t}-turn1`),
      ];
      for (let d = 0; d < 6; d++) s.push(() => h.delta(t, `${t}-turn1`));
      if (i % 2 === 0)
        s.push(
          () => h.status(t, { type: "active", activeFlags: ["waitingOnApproval"] }),
          () => h.status(t, { type: "active", activeFlags: [] }),
        );
      s.push(() => h.completeTurn(t, `${t}-turn1`));
      if (i % 4 === 3) s.push(() => h.status(t, { type: "systemError" }));
      if (i % 5 === 4) s.push(() => h.publish(h.envelope(t, "thread/closed", { threadId: t })));
      return s;
    }),
  );
  const steps: (() => Promise<unknown>)[] = [];
  while (scripts.some((s) => s.length > 0)) {
    const live = scripts.filter((s) => s.length > 0);
    steps.push(live[rand(live.length)]!.shift()!);
  }
  return steps;
}

/** Every envelope in CODEX_EVENTS, in stream order, read with an ordered consumer. */
export async function streamEnvelopes(js: JetStreamClient): Promise<SessionEventEnvelope[]> {
  const consumer = await js.consumers.get(STREAM_NAMES.events, { deliver_policy: DeliverPolicy.All });
  let remaining = (await consumer.info(true)).num_pending;
  const out: SessionEventEnvelope[] = [];
  while (remaining > 0) {
    for await (const m of await consumer.fetch({ max_messages: Math.min(remaining, 1000), expires: 2_000 })) {
      out.push(SessionEventEnvelopeSchema.parse(m.json()));
      remaining = m.info.pending;
    }
  }
  return out;
}

/** A `thread/started` payload: an idle thread Codex runs on `model`, in `/work/<threadId>`. Pure. */
export function threadStartedPayload(threadId: string, model: string | null): { thread: Record<string, unknown> } {
  return {
    thread: {
      id: threadId,
      sessionId: threadId,
      preview: "",
      ephemeral: false,
      createdAt: 1,
      updatedAt: 1,
      status: { type: "idle" },
      cwd: `/work/${threadId}`,
      cliVersion: "0.169.0",
      modelProvider: "openai",
      model,
      source: "vscode",
      turns: [],
    },
  };
}

/** A `thread/tokenUsage/updated` payload with Codex's cumulative `total` (and `last` the same, as after a first call). Pure. */
export function tokenUsagePayload(threadId: string, turnId: string, total: TokenCounts) {
  const b = {
    totalTokens: total.total,
    inputTokens: total.input,
    cachedInputTokens: total.cachedInput,
    cacheWriteInputTokens: 0,
    outputTokens: total.output,
    reasoningOutputTokens: total.reasoning,
  };
  return { threadId, turnId, tokenUsage: { total: b, last: b, modelContextWindow: 272_000 } };
}
