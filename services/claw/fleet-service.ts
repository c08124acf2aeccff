/**
 * The plugin's long-lived part: connects to the supervisor's bus (or, in `embedded` mode, starts the local
 * stack and uses its bus), reads the Claw's wake consumer, and puts high-priority notices into the Claw's
 * session as system events, coalesced per session and kind, then asks for a heartbeat. Normal notices are
 * left to the inbox consumer that `fleet_events` drains. Its state is what `clawSupervisor.status` reports.
 */
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import type { FleetEvent } from "../../schemas/fleet.js";
import { connectBus } from "../bus/index.js";
import { readBusLogin } from "../clients/bus-credentials.js";
import { startLocalStack, type LocalStack } from "../stack/local-stack.js";
import type { ClawsResult } from "../../schemas/claw-groups.js";
import { clawCaller, type ClawLeases } from "./claw-caller.js";
import { type ClawPluginConfig, pluginLogin, pluginNatsUrl } from "./config.js";
import { consumerNames, startWakeLoop, type FleetDelivery, type WakeLoop } from "./fleet-consumers.js";
import { coalesce, type FleetNotice } from "./fleet-notices.js";
import {
  OwnershipManager,
  redeliveryDelayMs,
  type ClawsSource,
  type OwnershipStatus,
  type Route,
  type SessionsSource,
} from "./ownership.js";

/** Pause before notices OpenClaw refused are delivered again, ms. */
const REDELIVER_AFTER_MS = 5_000;

/** What the service needs from OpenClaw's runtime (`api.runtime.system`). */
export interface SystemEventSink {
  enqueueSystemEvent(text: string, options: { sessionKey: string; contextKey?: string }): boolean;
  requestHeartbeat(request: { source: "other"; intent: "event"; reason: string }): void;
}

/** Minimal logger (OpenClaw's `PluginLogger`). */
export interface ClawLogger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** What `clawSupervisor.status` reports. */
export interface FleetServiceStatus {
  mode: ClawPluginConfig["mode"];
  state: "stopped" | "starting" | "connected" | "failed";
  natsUrl: string | null;
  clawId: string;
  sessionKey: string;
  consumers: { wake: string; inbox: string };
  lastError: string | null;
  /** Notices read from the wake consumer, and how many became system events (after coalescing). */
  counts: { noticesRead: number; highPriority: number; systemEvents: number; duplicatesDropped: number };
  lastEvent: { id: string; kind: string; sessionId: string | null; hostId: string; atMs: number } | null;
  embedded: { stateDir: string; gatewayUrl: string; mcpUrl: string } | null;
  /**
   * Claw groups (issue 18): its group, whether it acts, the sessions it owns, the notices about other Claws'
   * sessions it skipped and those it held for a session nobody owned yet; null while not connected.
   */
  ownership: OwnershipStatus | null;
}

/** What tests (and nothing else) may swap in: where the groups and the sessions come from. */
export interface FleetServiceOptions {
  claws?: ClawsSource;
  sessions?: SessionsSource;
  /** How often the groups are asked for while none are configured, ms. */
  unconfiguredPollMs?: number;
}

/** The running connection; one per plugin process. */
export class FleetService {
  private nc: NatsConnection | null = null;
  private stack: LocalStack | null = null;
  private wake: WakeLoop | null = null;
  private pending: { event: FleetEvent; delivery: FleetDelivery }[] = [];
  private flushTimer: NodeJS.Timeout | null = null;
  private ownership: OwnershipManager | null = null;
  private readonly st: FleetServiceStatus;

  constructor(
    private readonly config: ClawPluginConfig,
    private readonly sink: () => SystemEventSink,
    private readonly log: ClawLogger,
    private readonly options: FleetServiceOptions = {},
  ) {
    this.st = {
      mode: config.mode,
      state: "stopped",
      natsUrl: null,
      clawId: config.clawId,
      sessionKey: config.sessionKey,
      consumers: consumerNames(config.clawId),
      lastError: null,
      counts: { noticesRead: 0, highPriority: 0, systemEvents: 0, duplicatesDropped: 0 },
      lastEvent: null,
      embedded: null,
      ownership: null,
    };
  }

  /** The bus connection, or null while not connected. */
  connection(): NatsConnection | null {
    return this.nc;
  }

  status(): FleetServiceStatus {
    return structuredClone({ ...this.st, ownership: this.ownership?.status() ?? null });
  }

  /** The Claw's leases for commands: whether it acts, and its epoch on a session it owns. */
  leases(): ClawLeases {
    return {
      acting: () => this.ownership?.acting() ?? true,
      epochOf: (sessionId) => this.ownership?.owns(sessionId),
    };
  }

  /** What to do with a notice taken from one of its consumers (one-Claw mode, or before connecting: deliver). */
  route(event: FleetEvent, deliveryKey: string): Promise<Route> {
    return this.ownership ? this.ownership.route(event, deliveryKey) : Promise.resolve("deliver");
  }

  /** The ownership manager while connected (tests). */
  ownershipManager(): OwnershipManager | null {
    return this.ownership;
  }

  /** Connects (or starts the embedded stack) and starts the wake loop. `stateDir` is OpenClaw's state root. */
  async start(stateDir: string): Promise<void> {
    this.st.state = "starting";
    try {
      if (this.config.mode === "embedded") {
        const e = this.config.embedded;
        const dir = e.stateDir ?? path.join(stateDir, "claw-supervisor");
        this.stack = await startLocalStack({
          stateDir: dir,
          gatewayPort: e.gatewayPort,
          mcpPort: e.mcpPort,
          endpoint: e.endpoint,
          hostId: e.hostId,
          env: process.env,
          logger: pino({ name: "claw-supervisor", level: process.env.LOG_LEVEL ?? "warn" }, pino.destination(2)),
        });
        // As the `claw` user (a client's rights and its own leases: Claw groups), when the stack wrote its login.
        const login = readBusLogin(dir, "claw");
        this.nc = login
          ? await connectBus({
              servers: this.stack.report.nats.url,
              name: `openclaw-claw-supervisor-${this.config.clawId}`,
              ...login,
            })
          : this.stack.nc;
        this.st.natsUrl = this.stack.report.nats.url;
        this.st.embedded = {
          stateDir: dir,
          gatewayUrl: this.stack.report.gateway.url,
          mcpUrl: this.stack.report.mcp.url,
        };
      } else {
        const c = this.config;
        const url = pluginNatsUrl(c);
        const nc = await connectBus({
          servers: url,
          name: `openclaw-claw-supervisor-${c.clawId}`,
          ...pluginLogin(c, stateDir),
        });
        this.nc = nc;
        this.st.natsUrl = url.replace(/\/\/[^@/]*@/, "//");
        // Closed under us (the port is no longer up's, so no credentials were sent): say so, don't hide it.
        void nc.closed().then((err) => {
          if (!err || this.nc !== nc) return;
          this.st.state = "failed";
          this.st.lastError = err.message;
          this.log.error(
            `claw-supervisor: ${err.message}; disconnected: restart the gateway once 'claw-supervisor up' runs again`,
          );
        });
      }
      const nc = this.nc;
      const caller = clawCaller(
        () => this.nc,
        this.config.clawId,
        undefined,
        () => this.leases(),
      );
      this.ownership = new OwnershipManager({
        nc,
        clawId: this.config.clawId,
        claws: this.options.claws ?? (async () => (await caller.command("claws", {})) as ClawsResult),
        ...(this.options.sessions ? { sessions: this.options.sessions } : {}),
        ...(this.options.unconfiguredPollMs === undefined
          ? {}
          : { unconfiguredPollMs: this.options.unconfiguredPollMs }),
        log: this.log,
        escalate: (sessionId, reason, question) =>
          caller.command("escalate", {
            target: { sessionId },
            reason,
            ...(question === null ? {} : { question }),
          }),
      });
      this.ownership.start();
      this.wake = startWakeLoop(
        this.nc,
        this.st.consumers.wake,
        (d) => this.take(d),
        (err) => {
          this.st.lastError = err.message;
          this.log.warn(`claw-supervisor: fleet consumer: ${err.message}; retrying`);
        },
      );
      this.st.state = "connected";
      this.st.lastError = null;
      this.log.info(
        `claw-supervisor: connected to ${this.st.natsUrl} as claw ${this.config.clawId}${this.stack ? " (embedded stack)" : ""}`,
      );
    } catch (err) {
      this.st.state = "failed";
      this.st.lastError = (err as Error).message;
      await this.stop();
      this.st.state = "failed";
      throw err;
    }
  }

  /**
   * Flushes what is pending, stops the loop, gives its leases up (unless `release: false`, as a crash leaves
   * them to lapse), closes the bus (and the embedded stack). Never throws.
   */
  async stop(o: { release?: boolean } = {}): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    await this.wake?.stop().catch(() => undefined);
    this.wake = null;
    this.flush();
    await this.ownership?.stop(o).catch(() => undefined);
    this.ownership = null;
    if (this.stack) {
      if (this.nc && this.nc !== this.stack.nc) await this.nc.drain().catch(() => this.nc?.close());
      await this.stack.stop();
    } else await this.nc?.drain().catch(() => this.nc?.close());
    this.stack = null;
    this.nc = null;
    this.st.state = "stopped";
  }

  /** One delivery from the wake consumer: high-priority notices wait for the coalescing window, the rest are acked. */
  take(d: FleetDelivery): void {
    this.st.counts.noticesRead++;
    const e = d.event;
    if (!e) {
      d.msg.ack();
      return;
    }
    this.st.lastEvent = { id: e.id, kind: e.kind, sessionId: e.sessionId, hostId: e.hostId, atMs: e.atMs };
    if (e.priority !== "high") {
      d.msg.ack();
      return;
    }
    const own = this.ownership;
    if (!own || own.passThrough()) {
      this.enqueue(e, d);
      return;
    }
    // Claw groups: only notices about its own sessions (and host notices) reach this Claw's context.
    void own.route(e, `wake:${d.msg.seq}`).then(
      (r) => {
        if (r === "deliver") this.enqueue(e, d);
        else settle(d, r);
      },
      () => d.msg.nak(redeliveryDelayMs("wait")),
    );
  }

  private enqueue(e: FleetEvent, d: FleetDelivery): void {
    this.st.counts.highPriority++;
    this.pending.push({ event: e, delivery: d });
    if (this.config.coalesceMs === 0) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), this.config.coalesceMs);
  }

  /**
   * Enqueues the coalesced notices, asks for one heartbeat, then acks what they stand for. When OpenClaw
   * refuses them (its runtime throws), nothing is acked: the notices are redelivered after a pause, and the
   * failure is logged and shown in status. Runs from a timer, so it never throws.
   */
  flush(): void {
    this.flushTimer = null;
    const batch = this.pending.splice(0);
    if (!batch.length) return;
    const notices: FleetNotice[] = coalesce(batch.map((p) => p.event));
    let enqueued = 0;
    try {
      const sink = this.sink();
      for (const n of notices) {
        if (sink.enqueueSystemEvent(n.text, { sessionKey: this.config.sessionKey, contextKey: n.contextKey }))
          enqueued++;
        else this.st.counts.duplicatesDropped++;
      }
      if (enqueued)
        sink.requestHeartbeat({
          source: "other",
          intent: "event",
          reason: `claw-supervisor: ${enqueued} fleet event${enqueued === 1 ? "" : "s"}`,
        });
    } catch (err) {
      this.st.counts.systemEvents += enqueued;
      this.st.lastError = `could not put fleet events into the agent's context: ${(err as Error).message}`;
      this.log.warn(
        `claw-supervisor: ${this.st.lastError}; redelivering ${batch.length} notice(s) in ${REDELIVER_AFTER_MS} ms`,
      );
      for (const p of batch) p.delivery.msg.nak(REDELIVER_AFTER_MS);
      return;
    }
    this.st.counts.systemEvents += enqueued;
    for (const p of batch) p.delivery.msg.ack();
  }
}

/** Settles a delivery that is not delivered: skipped (acked), held or waiting (redelivered after a pause). */
export function settle(d: FleetDelivery, r: Exclude<Route, "deliver">): void {
  if (r === "skip") d.msg.ack();
  else d.msg.nak(redeliveryDelayMs(r));
}
