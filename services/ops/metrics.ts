/**
 * The supervisor's Prometheus metrics, one registry per process (prom-client): what every service counts, under
 * fixed names, so dashboards and alerts do not depend on which instance or service counted. A service takes an
 * optional `ServiceMetrics` and calls its methods; `up` and `service <name>` create one per process and serve it
 * on `/metrics` (see health.ts). Labels carry the service and instance; log lines carry the same instance id.
 */
import { hostname } from "node:os";
import { Counter, Gauge, Registry, collectDefaultMetrics } from "prom-client";

/** A default instance id: `<service>@<hostname>:<pid>`; containers usually pass their pod or container name. */
export function defaultInstanceId(service: string): string {
  return `${service}@${hostname()}:${process.pid}`;
}

/** The metrics one process exposes. */
export class ServiceMetrics {
  readonly registry = new Registry();
  /** Session events taken in (gateway: stored into CODEX_EVENTS; registry: applied); rate() gives events per second. */
  readonly eventsIn: Counter<"service">;
  /** Messages a durable consumer still has to deliver or have acked (consumer lag). */
  readonly consumerLag: Gauge<"consumer">;
  /** Compare-and-set writes to the KV view refused because someone else wrote (incl. a deposed writer's). */
  readonly viewWriteConflicts: Counter<"bucket">;
  /** Commands decided, by verb and typed result (`ok`, `denied`, `rate_limited`, ...). */
  readonly commands: Counter<"verb" | "result">;
  /** Sessions in the view by status. */
  readonly sessions: Gauge<"status">;
  /** 1 while this instance holds the lease, 0 while it stands by. */
  readonly leaseHeld: Gauge<"lease">;

  constructor(
    readonly service: string,
    readonly instance: string = defaultInstanceId(service),
    opts: { defaultMetrics?: boolean } = {},
  ) {
    this.registry.setDefaultLabels({ service, instance });
    const registers = [this.registry];
    this.eventsIn = new Counter({
      name: "claw_events_in_total",
      help: "Session events taken in by this instance",
      labelNames: ["service"],
      registers,
    });
    this.consumerLag = new Gauge({
      name: "claw_consumer_lag",
      help: "Messages a durable consumer has not yet had delivered and acknowledged",
      labelNames: ["consumer"],
      registers,
    });
    this.viewWriteConflicts = new Counter({
      name: "claw_view_write_conflicts_total",
      help: "Compare-and-set writes to the KV view refused because the entry changed (includes fenced writes)",
      labelNames: ["bucket"],
      registers,
    });
    this.commands = new Counter({
      name: "claw_commands_total",
      help: "Commands by verb and result",
      labelNames: ["verb", "result"],
      registers,
    });
    this.sessions = new Gauge({
      name: "claw_sessions",
      help: "Sessions in the registry view by status",
      labelNames: ["status"],
      registers,
    });
    this.leaseHeld = new Gauge({
      name: "claw_lease_held",
      help: "1 while this instance holds the lease, 0 while it stands by",
      labelNames: ["lease"],
      registers,
    });
    if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: "claw_" });
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }
}
