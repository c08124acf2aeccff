/**
 * `claw-supervisor service <name>`: runs one supervisor service in the foreground until Ctrl-C / SIGTERM,
 * for containers. Each service is one entry of `services`: its options and how to start it on a NATS
 * connection; connecting, logging, the ready line and the clean stop are shared here.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { hostname } from "node:os";
import type { ParseArgsConfig } from "node:util";
import { pino, type Logger } from "pino";
import { z } from "zod";
import { connectBus, ensureBus, type EnsureBusResult } from "../bus/index.js";
import { defaultStateDir } from "../clients/state-dir.js";
import {
  COOKIE_SECRET_ENV,
  checkCookieSecret,
  DEFAULT_DASHBOARD_PORT,
  defaultCookieKeyFile,
  ensureCookieKey,
  startDashboard,
} from "../dashboard/server/index.js";
import { ensureEdgeSecret, spawnMcpConfig, startMcpHttpEdge } from "../mcp-edge/index.js";
import { startPolicyService } from "../policy/index.js";
import { startRegistry } from "../registry/index.js";
import { DEFAULT_GATEWAY_PORT, hostTokenAdmin, startGateway } from "../rpc-gateway/index.js";
import { Milliseconds, optionValue, parseCommandArgs } from "./args.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { closest } from "./suggest.js";
import { askedReplicas, REPLICAS_ENV, replicasHelp } from "./replicas.js";
import { cliBusUrl } from "./connection.js";
import {
  CONTAINER_HEALTH_PORT,
  HealthServerError,
  startHealthServer,
  type HealthServer,
  type LeaseStatus,
  type Readiness,
} from "../ops/health.js";
import { defaultInstanceId, ServiceMetrics } from "../ops/metrics.js";

type OptionSpecs = NonNullable<ParseArgsConfig["options"]>;

/** What a service gets to start with: the bus connection, a logger, and its parsed options. */
export interface ServiceContext {
  nc: NatsConnection;
  natsUrl: string;
  /** Carries `instance` on every line. */
  logger: Logger;
  /** This process's instance id (`--instance`): lease holder, metric label, log field. */
  instance: string;
  /** The process's metrics, served on `/metrics` with `--health-port`; services count into it. */
  metrics: ServiceMetrics;
  values: Record<string, string | boolean | string[] | undefined>;
  io: CliIo;
}

/** A started service: what the ready line reports, and how to stop it. */
export interface RunningService {
  /** Merged into the `--json` ready line. */
  report: Record<string, unknown>;
  /** One line for the text ready output. */
  summary: string;
  stop(): Promise<void>;
  /** The leases it holds or stands by for, for `/readyz` (none: readiness is the bus connection alone). */
  leases?: () => Iterable<LeaseStatus>;
  /** A readiness check of its own for `/readyz`. */
  ready?: () => Readiness;
}

/** One runnable service: its name, options (beyond the shared ones), their help, and its start. */
export interface ServiceSpec {
  name: string;
  summary: string;
  options: OptionSpecs;
  optionsHelp: string[];
  start(ctx: ServiceContext): Promise<RunningService>;
}

const Port = z.coerce
  .number({ error: "must be a port number" })
  .int("must be a whole number")
  .min(0, "must be between 0 and 65535")
  .max(65535, "must be between 0 and 65535");

const rpcGatewayService: ServiceSpec = {
  name: "rpc-gateway",
  summary: "WebSocket server host agents dial into with a host token; stores their events in CODEX_EVENTS",
  options: { host: { type: "string" }, port: { type: "string" }, "host-lease-ttl": { type: "string" } },
  optionsHelp: [
    "--host HOST       address to listen on (default 127.0.0.1)",
    `--port PORT       port to listen on (default ${DEFAULT_GATEWAY_PORT}; 0 picks a free one)`,
    "--host-lease-ttl MS  TTL of each host's lease in codex-leases (one live connection per host across gateway",
    "                  instances; default 15000, below the bucket's max age)",
  ],
  async start({ nc, logger, values, instance, metrics }) {
    const port = values.port === undefined ? DEFAULT_GATEWAY_PORT : optionValue("port", Port, values.port);
    const host = typeof values.host === "string" ? values.host : "127.0.0.1";
    const ttl = values["host-lease-ttl"];
    const hostLeaseTtlMs = ttl === undefined ? undefined : optionValue("host-lease-ttl", Milliseconds, ttl);
    const gateway = await startGateway({
      natsConnection: nc,
      host,
      port,
      logger,
      hostLeaseTtlMs,
      gatewayId: instance,
      metrics,
    });
    return {
      report: { url: gateway.url, port: gateway.port, gatewayId: gateway.gatewayId },
      summary: `rpc-gateway listening on ${gateway.url} (gateway id ${gateway.gatewayId})`,
      stop: () => gateway.stop(),
    };
  },
};

const Partitions = z.coerce
  .number({ error: "must be a number" })
  .int("must be a whole number")
  .min(1, "must be between 1 and 64")
  .max(64, "must be between 1 and 64");

const SessionSnapshots = z.enum(["compact", "whole"], { error: "must be 'compact' or 'whole'" });

const registryService: ServiceSpec = {
  name: "registry",
  summary: "session and host actors over CODEX_EVENTS: the KV view, stale marks, FLEET notices, queries",
  options: {
    "sweep-interval": { type: "string" },
    "degraded-after": { type: "string" },
    "offline-after": { type: "string" },
    "stale-after": { type: "string" },
    partitions: { type: "string" },
    "lease-ttl": { type: "string" },
    "session-snapshots": { type: "string" },
  },
  optionsHelp: [
    "--sweep-interval MS  how often hosts are checked for missed heartbeats (default 5000)",
    "--degraded-after MS  silence before a host is degraded (default 35000)",
    "--offline-after MS   silence before a host is offline (default 60000)",
    "--stale-after MS     time offline before a host and its sessions are stale (default 300000)",
    "--partitions P       share the fleet out in P partitions by host (default 1); every instance takes P",
    "                     leases and serves those it holds: give all instances the same P",
    "--lease-ttl MS       a standby takes a partition over this long after its holder stopped (default 10000)",
    "--session-snapshots compact|whole",
    "                     how KV entries store session snapshots (default compact); 'whole' while a registry",
    "                     older than the compact form still runs (services/registry/README.md, Upgrading)",
  ],
  async start({ nc, logger, values, instance, metrics }) {
    const ms = (name: string) =>
      values[name] === undefined ? undefined : optionValue(name, Milliseconds, values[name]);
    const partitions =
      values.partitions === undefined ? undefined : optionValue("partitions", Partitions, values.partitions);
    const registry = await startRegistry({
      nc,
      logger,
      instance,
      metrics,
      partitions,
      leaseTtlMs: ms("lease-ttl"),
      sweepIntervalMs: ms("sweep-interval"),
      degradedAfterMs: ms("degraded-after"),
      offlineAfterMs: ms("offline-after"),
      staleAfterMs: ms("stale-after"),
      sessionSnapshots:
        values["session-snapshots"] === undefined
          ? undefined
          : optionValue("session-snapshots", SessionSnapshots, values["session-snapshots"]),
    });
    const durable = registry.partitions === 1 ? "registry" : `registry-${registry.partitions}-<k>`;
    return {
      report: { durable, partitions: registry.partitions, serving: registry.serving() },
      summary: `registry consuming CODEX_EVENTS (durable '${durable}', serving partitions [${registry.serving().join(", ")}] of ${registry.partitions}) and answering codex.registry.*`,
      stop: () => registry.stop(),
      leases: () => registry.leases(),
    };
  },
};

const policyService: ServiceSpec = {
  name: "policy",
  summary: "decides, audits and forwards every command (codex.cmd.* in queue group policy); run several for scale",
  options: { "mcp-url": { type: "string" }, "mcp-secret-file": { type: "string" } },
  optionsHelp: [
    "(the policy document lives in KV codex-policy; see 'claw-supervisor policy')",
    "--mcp-url URL          the MCP edge spawned sessions get in their thread config (with a token each)",
    "--mcp-secret-file F    the MCP edge's token secret (needed with --mcp-url)",
  ],
  async start({ nc, logger, values, instance, metrics }) {
    let spawnConfig: ReturnType<typeof spawnMcpConfig> | undefined;
    if (typeof values["mcp-url"] === "string") {
      if (typeof values["mcp-secret-file"] !== "string")
        throw new CliError("--mcp-url needs --mcp-secret-file (the MCP edge's secret)", 2);
      spawnConfig = spawnMcpConfig(values["mcp-url"], await ensureEdgeSecret(values["mcp-secret-file"], false));
    }
    const policy = await startPolicyService({
      nc,
      logger,
      instanceId: instance,
      metrics,
      hostTokens: hostTokenAdmin(nc),
      ...(spawnConfig ? { spawnConfig } : {}),
    });
    return {
      report: { instanceId: policy.instanceId, policyRevision: policy.policyRevision() },
      summary: `policy service ${policy.instanceId} serving codex.cmd.* (policy revision ${policy.policyRevision() ?? "none: built-in default"})`,
      stop: () => policy.stop(),
    };
  },
};

/** Default port of the MCP edge. */
export const DEFAULT_MCP_PORT = 7411;

const mcpEdgeService: ServiceSpec = {
  name: "mcp-edge",
  summary: "the MCP server openclaw-codex-supervisor over Streamable HTTP (bearer token per session)",
  options: {
    host: { type: "string" },
    port: { type: "string" },
    "secret-file": { type: "string" },
    "allowed-host": { type: "string", multiple: true },
    "allowed-origin": { type: "string", multiple: true },
    "max-body": { type: "string" },
  },
  optionsHelp: [
    "--host HOST          address to listen on (default 127.0.0.1)",
    `--port PORT          port to listen on (default ${DEFAULT_MCP_PORT}; 0 picks a free one)`,
    "--secret-file FILE   the token secret, minted 0600 when missing (default $CLAW_MCP_SECRET_FILE, else ./mcp-secret)",
    "--allowed-host H     a further Host header to accept, e.g. behind a proxy (repeatable)",
    "--allowed-origin O   an Origin to accept from browsers (repeatable; none by default)",
    "--max-body BYTES     largest request body (default 262144)",
  ],
  async start({ nc, logger, values, io }) {
    const port = values.port === undefined ? DEFAULT_MCP_PORT : optionValue("port", Port, values.port);
    const maxBodyBytes =
      values["max-body"] === undefined
        ? undefined
        : optionValue(
            "max-body",
            z.coerce
              .number({ error: "must be a number of bytes" })
              .int()
              .min(1_024, "must be at least 1024")
              .max(16_777_216, "must be at most 16 MiB"),
            values["max-body"],
          );
    const list = (v: unknown) => (Array.isArray(v) ? (v as string[]) : []);
    const secret = await ensureEdgeSecret(
      typeof values["secret-file"] === "string" ? values["secret-file"] : (io.env.CLAW_MCP_SECRET_FILE ?? "mcp-secret"),
    );
    const edge = await startMcpHttpEdge({
      nc,
      secret,
      host: typeof values.host === "string" ? values.host : "127.0.0.1",
      port,
      allowedHosts: list(values["allowed-host"]),
      allowedOrigins: list(values["allowed-origin"]),
      ...(maxBodyBytes ? { maxBodyBytes } : {}),
      logger,
    });
    return {
      report: { url: edge.url, port: edge.port },
      summary: `mcp-edge serving MCP on ${edge.url}`,
      stop: () => edge.stop(),
    };
  },
};

const dashboardService: ServiceSpec = {
  name: "dashboard",
  summary: "the web dashboard: attention queue, fleet, sessions and controls, live over one WebSocket per tab",
  options: {
    host: { type: "string" },
    port: { type: "string" },
    origin: { type: "string", multiple: true },
    "cookie-key-file": { type: "string" },
  },
  optionsHelp: [
    "--host HOST             address to listen on (default 127.0.0.1)",
    `--port PORT             port to listen on (default ${DEFAULT_DASHBOARD_PORT}; 0 picks a free one)`,
    "--origin URL            an origin the page is also served from, e.g. a reverse proxy's",
    "                        https://claw.example.com (repeatable); its host is accepted too",
    `--cookie-key-file FILE  the session cookie's signing key (default $${COOKIE_SECRET_ENV}, else`,
    "                        <state-dir>/dashboard-cookie.key, minted 0600 when missing)",
  ],
  async start({ nc, logger, values, io }) {
    const port = values.port === undefined ? DEFAULT_DASHBOARD_PORT : optionValue("port", Port, values.port);
    const keyFile = typeof values["cookie-key-file"] === "string" ? values["cookie-key-file"] : undefined;
    const fromEnv = io.env[COOKIE_SECRET_ENV];
    let cookieSecret: string;
    try {
      cookieSecret =
        keyFile === undefined && fromEnv
          ? checkCookieSecret(fromEnv, `$${COOKIE_SECRET_ENV}`)
          : await ensureCookieKey(keyFile ?? defaultCookieKeyFile(defaultStateDir(io.env)));
    } catch (err) {
      throw new CliError(`cannot start dashboard: ${(err as Error).message}`, 2);
    }
    let dashboard: Awaited<ReturnType<typeof startDashboard>>;
    try {
      dashboard = await startDashboard({
        nc,
        host: typeof values.host === "string" ? values.host : "127.0.0.1",
        port,
        cookieSecret,
        allowedOrigins: Array.isArray(values.origin) ? (values.origin as string[]) : [],
        logger,
      });
    } catch (err) {
      throw new CliError(`cannot start dashboard: ${(err as Error).message}`);
    }
    return {
      report: { url: dashboard.url },
      summary: `dashboard serving ${dashboard.url} (sign in with a token from 'claw-supervisor operator add')`,
      stop: () => dashboard.stop(),
    };
  },
};

/** Every service `claw-supervisor service` can run; adding one is adding its entry here. */
const services: ServiceSpec[] = [rpcGatewayService, registryService, policyService, mcpEdgeService, dashboardService];

const sharedOptions = {
  "nats-url": { type: "string" },
  "ensure-bus": { type: "boolean" },
  "ensure-only": { type: "boolean" },
  replicas: { type: "string" },
  "health-port": { type: "string" },
  "health-host": { type: "string" },
  instance: { type: "string" },
  json: { type: "boolean" },
} as const;

/** An instance id: 1-128 visible characters, no spaces (it is a metric label, a log field and a lease holder). */
const InstanceId = z
  .string()
  .min(1, "must not be empty")
  .max(128, "must be at most 128 characters")
  .regex(/^[\x21-\x7e]+$/, "must be visible ASCII characters without spaces");

function usage(): string {
  const width = Math.max(...services.map((s) => s.name.length)) + 2;
  return [
    "Usage: claw-supervisor service <name> [options]",
    "",
    "Runs one supervisor service in the foreground until Ctrl-C (or SIGTERM), then stops it cleanly.",
    "",
    "Services:",
    ...services.map((s) => `  ${s.name.padEnd(width)}${s.summary}`),
    "",
    "--nats-url URL    the supervisor's NATS server (default $NATS_URL, else the running 'up')",
    "--ensure-bus      create or update the bus streams and buckets first (default topology)",
    "--ensure-only     as --ensure-bus, then exit without starting the service: a bootstrap job, run as the",
    "                  bus's admin user before the services (any service name will do)",
    ...replicasHelp(18, [
      `with --ensure-bus: copies of each stream and bucket, 1, 3 or 5 (default $${REPLICAS_ENV}, else 1`,
      "for new ones); 3 and 5 need a JetStream cluster of that many nodes. Existing ones are raised to N",
      "but never lowered: one with more keeps them, and the service says so",
    ]),
    "--health-port PORT",
    "                  serve GET /healthz (alive), /readyz (on the bus, leases held or standing by) and /metrics",
    `                  (Prometheus) on this port; default none, the deploy files use ${CONTAINER_HEALTH_PORT}; 0 picks a free one`,
    "--health-host HOST",
    "                  address for them (default 127.0.0.1; containers pass 0.0.0.0)",
    "--instance ID     this instance's id in logs, metrics and leases; unique per instance (default",
    "                  <service>@<hostname>:<pid>; containers pass the pod or container name)",
    "--json            print one JSON line when ready instead of text; logs go to stderr as JSON",
    ...services.flatMap((s) => ["", `${s.name}:`, ...s.optionsHelp.map((l) => `  ${l}`)]),
  ].join("\n");
}

/** The `service` command. */
export const serviceCommand: Command = {
  name: "service",
  summary: `run one supervisor service in the foreground (${services.map((s) => s.name).join(", ")})`,
  usage: usage(),
  actions: services.map((s) => s.name),
  async run(argv: string[], io: CliIo): Promise<number> {
    const [name, ...rest] = argv;
    if (name === "--help" || name === "-h") {
      io.stdout(`${usage()}\n`);
      return 0;
    }
    const names = services.map((s) => s.name).join(", ");
    if (name === undefined)
      throw new CliError(`service needs a name: ${names}. See 'claw-supervisor service --help'.`, 2);
    const spec = services.find((s) => s.name === name);
    if (!spec) {
      const guess = closest(
        name,
        services.map((s) => s.name),
      );
      throw new CliError(
        `unknown service '${name}'${guess ? ` (did you mean '${guess}'?)` : ""}; expected one of ${names}. See 'claw-supervisor service --help'.`,
        2,
      );
    }
    const { values, positionals } = parseCommandArgs(`service ${name}`, rest, { ...sharedOptions, ...spec.options });
    if (values.help) {
      io.stdout(`${usage()}\n`);
      return 0;
    }
    if (positionals.length) throw new CliError(`service ${name} takes no arguments, got '${positionals[0]}'`, 2);
    const replicas = askedReplicas(values.replicas as string | undefined, io.env);
    const ensureOnly = values["ensure-only"] === true;
    if (values.replicas !== undefined && !values["ensure-bus"] && !ensureOnly)
      throw new CliError("--replicas applies to --ensure-bus: add it, or drop --replicas", 2);
    if (ensureOnly && values["health-port"] !== undefined)
      throw new CliError("--ensure-only exits once the bus is set up: drop --health-port", 2);
    const healthPort =
      values["health-port"] === undefined ? undefined : optionValue("health-port", Port, values["health-port"]);
    const healthHost = typeof values["health-host"] === "string" ? values["health-host"] : "127.0.0.1";
    if (values["health-host"] !== undefined && healthPort === undefined)
      throw new CliError("--health-host applies to --health-port: add it, or drop --health-host", 2);
    const instance =
      values.instance === undefined ? defaultInstanceId(name) : optionValue("instance", InstanceId, values.instance);
    const natsUrl = cliBusUrl(values["nats-url"] as string | undefined, io.env);

    const logger = pino(
      { name: `claw-supervisor-${name}`, base: { pid: process.pid, hostname: hostname(), instance } },
      { write: (line: string) => io.stderr(line) },
    );
    const metrics = new ServiceMetrics(name, instance);
    let nc: NatsConnection;
    try {
      nc = await connectBus({ servers: natsUrl, name: `claw-supervisor-${name}` });
    } catch (err) {
      throw new CliError(`cannot connect to NATS at ${natsUrl}: ${(err as Error).message}`);
    }
    let health: HealthServer | undefined;
    let running: RunningService | undefined;
    try {
      if (healthPort !== undefined) {
        // Up before the service starts: /healthz answers at once, /readyz says `starting` until it runs.
        health = await startHealthServer({
          host: healthHost,
          port: healthPort,
          metrics,
          nc,
          leases: () => running?.leases?.() ?? [],
          ready: () => running?.ready?.() ?? { ready: true },
        }).catch((err: unknown) => {
          throw err instanceof HealthServerError ? new CliError(err.message) : err;
        });
      }
      let bus: EnsureBusResult | undefined;
      if (values["ensure-bus"] || ensureOnly) {
        bus = await ensureBus(nc, replicas === undefined ? {} : { replicas }).catch((err: unknown) => {
          throw new CliError(`cannot set up the bus on ${natsUrl}: ${(err as Error).message}`);
        });
        // Replication is never lowered; say where more copies were kept than asked.
        for (const k of bus.kept) logger.info({ stream: k.name, replicas: k.replicas, asked: k.asked }, k.note);
        if (ensureOnly) {
          const done = [
            ...bus.streams.map((x) => `${x.name} (${x.action})`),
            ...bus.buckets.map((x) => `${x.bucket} (${x.action})`),
          ];
          io.stdout(
            values.json
              ? `${JSON.stringify({ service: name, instance, bus })}\n`
              : `claw-supervisor service: bus set up: ${done.join(", ")}\n`,
          );
          return 0;
        }
      }
      try {
        running = await spec.start({
          nc,
          natsUrl,
          logger,
          instance,
          metrics,
          values: values as ServiceContext["values"],
          io,
        });
      } catch (err) {
        if (err instanceof CliError) throw err;
        throw new CliError(`cannot start ${name}: ${(err as Error).message}`);
      }
      health?.started();
      const kept = (bus?.kept ?? []).map((k) => `claw-supervisor service: ${k.note}\n`).join("");
      const healthLine = health ? `claw-supervisor service: /healthz, /readyz and /metrics on ${health.url}\n` : "";
      const ready = {
        service: name,
        nats: natsUrl,
        instance,
        ...running.report,
        ...(health ? { health: health.url } : {}),
        ...(bus ? { bus } : {}),
      };
      io.stdout(
        values.json
          ? `${JSON.stringify(ready)}\n`
          : `${kept}claw-supervisor service: ${running.summary}\n${healthLine}Press Ctrl-C to stop.\n`,
      );
      const signal = await io.stopRequested;
      if (!values.json) io.stdout(`claw-supervisor service: ${signal}, stopping ${name}\n`);
      await running.stop();
    } finally {
      await health?.stop();
      await nc.drain().catch(() => nc.close());
    }
    if (!values.json) io.stdout(`claw-supervisor service: ${name} stopped\n`);
    return 0;
  },
};
