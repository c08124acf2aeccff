/**
 * The host agent: watches the local app-server, turns what happens to its threads into redacted bus
 * envelopes, adds presence from `claw-supervisor launch`, and ships everything to the gateway with
 * acknowledged, bounded buffering. `startHostAgent` is the one entry point (the CLI and `up` both use it).
 */
import { readFile } from "node:fs/promises";
import os from "node:os";
import type { Logger } from "pino";
import {
  agentEventTypes,
  HOST_THREAD_ID,
  MAX_LOADED_THREAD_IDS,
  type AppServerPayload,
  type ApprovalPayloadInput,
  type ThreadSyncedPayload,
} from "../../schemas/agent-events.js";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import type { HostRpcRequest, HostRpcResult } from "../../schemas/host-rpc.js";
import { parseEndpoint, type Endpoint } from "../codex-rpc/index.js";
import { ApprovalHolds } from "./approval-holds.js";
import { answerHeld, createApprovalOwner } from "./approval-owner.js";
import { AutonomousThreads } from "./autonomous.js";
import { executorFor } from "./commands.js";
import type { BackoffOptions } from "./backoff.js";
import { newEpoch } from "./epoch.js";
import { DEFAULT_BUFFER_LIMITS, EventBuffer, type EventBufferLimits, type EventBufferStats } from "./event-buffer.js";
import { GatewayClient, newRunSecret, type GatewayState } from "./gateway-client.js";
import { GitInfoCache } from "./git-info.js";
import { DEFAULT_IDLE_UNLOAD_MS, IdleUnloader } from "./idle-unload.js";
import { limitPayload } from "./payload-limit.js";
import { PresenceBinder, type PresenceChange } from "./presence-binding.js";
import { PresenceMonitor } from "./presence-monitor.js";
import { redact } from "../../schemas/redact.js";
import type { TrackedThread } from "./thread-state.js";
import { AppServerWatcher } from "./watcher.js";

/** Largest payload of one event after redaction, in bytes (default); bigger ones are cut (payload-limit.ts). */
export const DEFAULT_MAX_EVENT_BYTES = 256 * 1024;

/** How to run a host agent. Only hostId, gatewayUrl, token and stateDir are required. */
export interface HostAgentOptions {
  /** This host's id: the host token's host, and a NATS subject token (no '.', '*', '>', spaces). */
  hostId: string;
  /** The gateway's `ws://` or `wss://` URL, or several (gateway instances: each reconnect tries the next). */
  gatewayUrl: string | readonly string[];
  /** The host token, or a file holding it (re-read at every connection attempt). */
  token: string | { file: string };
  /** Where presence records live (`<stateDir>/presence`). */
  stateDir: string;
  /** The app-server: an endpoint or its text (default `unix://`, the daemon's socket). */
  endpoint?: string | Endpoint;
  /** Environment used to resolve `unix://` (CODEX_HOME, HOME); default process.env. */
  env?: NodeJS.ProcessEnv;
  /** Reported in hello; default os.hostname(). */
  hostname?: string;
  /** Reported in hello and to the app-server; default "unknown". */
  agentVersion?: string;
  heartbeatMs?: number;
  buffer?: Partial<EventBufferLimits>;
  maxEventBytes?: number;
  presencePollMs?: number;
  /** Reconnect back-off for the app-server and the gateway (default 250 ms doubling to 10 s). */
  backoff?: BackoffOptions;
  /** Delay between attempts after the gateway refused the token, in ms (default 30 000). */
  unauthorizedRetryMs?: number;
  /** How long git facts of a workspace are cached, in ms (default 5 000). */
  gitInfoMaxAgeMs?: number;
  /**
   * Idle time after which the agent unsubscribes from a thread nobody is attached to, so codex can unload it
   * (idle-unload.ts), in ms; default 600 000 (10 minutes), 0 never.
   */
  idleUnloadMs?: number;
  logger?: Logger;
}

/** What a running agent reports about itself. */
export interface HostAgentStatus {
  hostId: string;
  epoch: string;
  appServer: "connected" | "disconnected";
  gateway: GatewayState;
  /** Tracked (non-ephemeral, loaded) threads. */
  threads: number;
  /** Of those, the ones released while idle (unsubscribed, for codex to unload: idle-unload.ts). */
  releasedThreads: number;
  buffer: EventBufferStats;
  /** Events created so far in this run (the next seq). */
  events: number;
}

/** A running host agent. */
export interface HostAgent {
  readonly hostId: string;
  /** This run's epoch (new at every start; also its instance nonce in the gateway's hello). */
  readonly epoch: string;
  /**
   * Resolves (with the gateway's reason) if a different agent took this host id over: the agent no longer
   * connects; its owner should stop it (the CLI exits with EXIT_HOST_CLAIMED). Never resolves otherwise.
   */
  readonly displaced: Promise<string>;
  status(): HostAgentStatus;
  /** Stops watching and disconnects; resolves when everything is closed. Idempotent. */
  stop(): Promise<void>;
}

/** Starts a host agent; resolves once its presence folder is readable and its connections are being dialled. */
export async function startHostAgent(options: HostAgentOptions): Promise<HostAgent> {
  const log = options.logger;
  const epoch = newEpoch();
  // Proves this run to the gateway (its epoch is in every event); in memory only, never logged or reported.
  const runSecret = newRunSecret();
  const agentVersion = options.agentVersion ?? "unknown";
  const endpoint =
    typeof options.endpoint === "object"
      ? options.endpoint
      : parseEndpoint(options.endpoint ?? "unix://", { env: options.env });
  const maxEventBytes = options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES;
  const gitInfo = new GitInfoCache(options.gitInfoMaxAgeMs ?? 5_000);
  const binder = new PresenceBinder();
  const autonomous = await AutonomousThreads.load(options.stateDir, log);
  let seq = 0;

  const envelope = (threadId: string, type: string, payload: unknown, emittedAtMs?: number): SessionEventEnvelope => ({
    hostId: options.hostId,
    threadId,
    epoch,
    seq: seq++,
    emittedAtMs: Math.max(
      0,
      Math.floor(typeof emittedAtMs === "number" && Number.isFinite(emittedAtMs) ? emittedAtMs : Date.now()),
    ),
    type,
    payload: limitPayload(redact(payload ?? {}), maxEventBytes),
  });

  const buffer = new EventBuffer({ ...DEFAULT_BUFFER_LIMITS, ...options.buffer }, (gap) => {
    log?.warn({ ...gap }, "event buffer full: dropped the oldest events");
    return envelope(HOST_THREAD_ID, agentEventTypes.gap, gap);
  });
  const emit = (threadId: string, type: string, payload: unknown, emittedAtMs?: number): void =>
    gateway.send(envelope(threadId, type, payload, emittedAtMs));
  const emitAppServer = (payload: AppServerPayload): void => emit(HOST_THREAD_ID, agentEventTypes.appServer, payload);
  const emitPresence = (changes: PresenceChange[]): void => {
    for (const c of changes) {
      emit(c.threadId, agentEventTypes.presence, c.payload);
      // A person's TUI now owns the thread's approvals: a held one is theirs to answer (the app-server replays it).
      if (c.payload.humanAttached) holds.releaseThread(c.threadId, "left to the person's TUI that attached");
    }
  };

  // Approvals an `ask` rule holds for an operator or the Claw; each answer the agent gives, and each hold let go
  // unanswered, is an agent/approval event naming the hold's own id (the one its `held` event gave).
  const holds = new ApprovalHolds({
    logger: log,
    onAnswered: (h, a) =>
      emit(h.threadId, agentEventTypes.approval, {
        method: h.method,
        requestId: h.requestId,
        allow: a.decision === "accept",
        reason: a.reason,
        state: "answered",
        by: a.by,
        kind: h.kind,
        summary: h.summary,
      } satisfies ApprovalPayloadInput),
    onReleased: (h, why) =>
      emit(h.threadId, agentEventTypes.approval, {
        method: h.method,
        requestId: h.requestId,
        allow: false,
        reason: why,
        state: "released",
        kind: h.kind,
        summary: h.summary,
      } satisfies ApprovalPayloadInput),
  });
  /** A held request the app-server resolved otherwise (a TUI answered it) or whose turn ended is let go. */
  const releaseHeld = (threadId: string, n: { method: string; params?: unknown }): void => {
    if (n.method === "serverRequest/resolved") {
      const requestId = (n.params as { requestId?: unknown } | undefined)?.requestId;
      if (typeof requestId === "string" || typeof requestId === "number") holds.resolved(threadId, requestId);
    } else if (n.method === "turn/completed") holds.releaseThread(threadId, "let go when its turn ended");
  };
  /** `approve`: answers a held approval of an autonomous session nobody's TUI owns (answerHeld). */
  const answerApproval = (request: Extract<HostRpcRequest, { op: "approve" }>): HostRpcResult =>
    answerHeld(
      {
        hostId: options.hostId,
        autonomous,
        humanAttached: (threadId) => binder.humanAttached(threadId),
        connected: () => watcher.connected,
        holds,
        logger: log,
      },
      request,
    );

  /** A full snapshot of the thread as it is when the workspace's git facts are at hand. */
  const sync = (t: TrackedThread): void => {
    void gitInfo.get(t.thread.cwd).then((git) => {
      if (stopped) return;
      const payload: ThreadSyncedPayload = {
        thread: t.thread,
        activeTurnId: t.activeTurnId,
        workspace: t.thread.cwd,
        repo: git.repo,
        branch: git.branch,
        humanAttached: binder.humanAttached(t.id),
        autonomous: autonomous.isAutonomous(t.id),
      };
      emit(t.id, agentEventTypes.threadSynced, payload);
    });
  };

  const watcher = new AppServerWatcher({
    endpoint,
    clientInfo: { name: "claw-supervisor-host-agent", title: "Claw Supervisor host agent", version: agentVersion },
    logger: log,
    backoff: options.backoff,
    approvals: createApprovalOwner({
      autonomous,
      humanAttached: (threadId) => binder.humanAttached(threadId),
      holds,
      record: (d) => {
        const { threadId, ...payload } = d;
        emit(threadId, agentEventTypes.approval, payload satisfies ApprovalPayloadInput);
      },
      logger: log,
    }),
    listener: {
      notification: (threadId, n) => {
        emit(threadId, n.method, n.params, n.emittedAtMs);
        releaseHeld(threadId, n);
      },
      synced: sync,
      threadTracked: (t) =>
        emitPresence(binder.threadTracked({ id: t.id, cwd: t.thread.cwd, startedAtMs: t.startedAtMs })),
      threadGone: () => undefined,
      // The registry makes every session of this host `unknown` while the app-server is gone, and closes those
      // it no longer has loaded once it is back (the loaded ones are re-synced just after).
      // Held approvals die with the connection: nothing can answer them on it, and a restarted app-server numbers
      // its requests from the start again (a pending one is asked again, and held afresh under a new id).
      connection: (up, detail) => {
        if (up) return;
        emitAppServer({ state: "disconnected", reason: detail.slice(0, 500) });
        holds.releaseAll("let go when the app-server connection was lost");
      },
      loadedThreads: (ids) =>
        emitAppServer({ state: "connected", loaded: ids.length <= MAX_LOADED_THREAD_IDS ? [...ids] : null }),
    },
  });

  const unloader = new IdleUnloader({
    idleMs: options.idleUnloadMs ?? DEFAULT_IDLE_UNLOAD_MS,
    threads: () => watcher.tracked(),
    settled: (threadId) => watcher.viewSettled(threadId),
    humanAttached: (threadId) => binder.humanAttached(threadId),
    heldApprovals: (threadId) => holds.list(threadId).length,
    release: (threadId) => watcher.release(threadId),
    logger: log,
  });
  const executor = executorFor(watcher, autonomous, log);
  // The gateway may deliver a command again after a reconnect: the same id runs once and answers the same.
  const recent = new Map<string, Promise<HostRpcResult>>();
  const runCommand = (id: string, request: HostRpcRequest, timeoutMs: number): Promise<HostRpcResult> => {
    const known = recent.get(id);
    if (known) return known;
    if (request.op === "approve") {
      const answered = Promise.resolve(answerApproval(request));
      recent.set(id, answered);
      return answered;
    }
    if (request.op === "annotate") {
      // A supervisor-set fact goes into the thread's own event log, ordered with everything else it did.
      emit(request.threadId, agentEventTypes.annotation, request.annotation);
      const recorded = Promise.resolve<HostRpcResult>({ ok: true, data: { recorded: true } });
      recent.set(id, recorded);
      return recorded;
    }
    const running = executor.execute(request, timeoutMs).then((result) => {
      // A spawned thread may have been synced before it was marked autonomous: sync it again.
      const spawned =
        result.ok && request.op === "spawn"
          ? watcher.thread((result.data as { threadId: string }).threadId)
          : undefined;
      if (spawned) sync(spawned);
      return result;
    });
    recent.set(id, running);
    if (recent.size > 1_000) recent.delete(recent.keys().next().value as string);
    return running;
  };

  const tokenSource = options.token;
  let onDisplaced: (reason: string) => void = () => undefined;
  const displaced = new Promise<string>((resolve) => (onDisplaced = resolve));
  const gateway = new GatewayClient({
    url: options.gatewayUrl,
    token: async () => {
      if (typeof tokenSource === "string") return tokenSource;
      const text = (await readFile(tokenSource.file, "utf8")).trim();
      if (!text) throw new Error(`the token file ${tokenSource.file} is empty`);
      return text;
    },
    hello: { hostId: options.hostId, epoch, agentVersion, hostname: options.hostname ?? os.hostname(), runSecret },
    buffer,
    heartbeat: () => ({
      threads: watcher.tracked().length,
      appServer: watcher.connected ? "connected" : "disconnected",
    }),
    onWelcome: () => watcher.tracked().forEach(sync),
    onRpc: runCommand,
    onDisplaced: (reason) => onDisplaced(reason),
    heartbeatMs: options.heartbeatMs,
    backoff: options.backoff,
    unauthorizedRetryMs: options.unauthorizedRetryMs,
    logger: log,
  });

  const monitor = new PresenceMonitor({
    stateDir: options.stateDir,
    pollMs: options.presencePollMs,
    logger: log,
    onChange: (records) => emitPresence(binder.setRecords(records)),
  });

  let stopped = false;
  let stopping: Promise<void> | undefined;
  await monitor.start();
  watcher.start();
  unloader.start();
  gateway.start();
  log?.info({ hostId: options.hostId, epoch, gateway: options.gatewayUrl }, "host agent started");

  return {
    hostId: options.hostId,
    epoch,
    displaced,
    status: () => ({
      hostId: options.hostId,
      epoch,
      appServer: watcher.connected ? "connected" : "disconnected",
      gateway: gateway.state,
      threads: watcher.tracked().length,
      releasedThreads: watcher.tracked().filter((t) => t.subscription === "released").length,
      buffer: buffer.stats(),
      events: seq,
    }),
    stop: () =>
      (stopping ??= (async () => {
        holds.stop();
        unloader.stop();
        await Promise.all([watcher.stop(), monitor.stop()]);
        stopped = true;
        await gateway.stop();
        log?.info({ hostId: options.hostId, epoch }, "host agent stopped");
      })()),
  };
}
