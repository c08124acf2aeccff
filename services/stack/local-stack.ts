/**
 * The whole supervisor for one machine, in this process: an embedded nats-server (unless a NATS URL is
 * given) with the bus, the gateway, the registry, the MCP edge, the policy service and a host agent for this
 * machine's Codex daemon. `claw-supervisor up` and the OpenClaw plugin's `embedded` mode both start it here.
 * This folder is the composition root: the one place that imports every service (see .dependency-cruiser.cjs).
 */
import { createHash } from "node:crypto";
import { hostname } from "node:os";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import {
  BusError,
  connectBus,
  ensureBus,
  NatsPortInUseError,
  startEmbeddedNats,
  type BusUser,
  type EmbeddedNats,
  type EnsureBusResult,
} from "../bus/index.js";
import type { BusReplicas } from "../../schemas/bus.js";
import { describeEndpoint, parseEndpoint } from "../codex-rpc/index.js";
import { defaultHostId } from "../host-agent/config.js";
import { probeAppServer, startHostAgent } from "../host-agent/index.js";
import {
  defaultSecretFile,
  ensureEdgeSecret,
  spawnMcpConfig,
  startMcpHttpEdge,
  type McpHttpEdge,
} from "../mcp-edge/index.js";
import { startPolicyService } from "../policy/index.js";
import { defaultCookieKeyFile, ensureCookieKey, startDashboard } from "../dashboard/server/index.js";
import { startRegistry } from "../registry/index.js";
import { hostTokenAdmin, startGateway, type Gateway } from "../rpc-gateway/index.js";
import { ensureLocalHostToken } from "./local-token.js";
import { acquireStateLock } from "./state-lock.js";
import { describePortOwner } from "../bus/port-owner.js";
import { natsServerSearchPath } from "./nats-install.js";
import { chooseNatsPort, type NatsPortChoice, portsFileOf, PortsFileError, writePortsFile } from "./ports-file.js";
import { ensureBusCredentials } from "../clients/bus-credentials.js";
import { ensurePrivateStateDir } from "../clients/private-state-dir.js";
import { removeUpFile, writeUpFile } from "../clients/up-file.js";
import { VERSION } from "../clients/version.js";

/** The gateway's port when `up` is given none (the gateway's own default). */
export { DEFAULT_GATEWAY_PORT } from "../rpc-gateway/index.js";
/** The dashboard's port when `up` is given none (the dashboard's own default). */
export { DEFAULT_DASHBOARD_PORT } from "../dashboard/server/index.js";

/** A part of the stack that could not start; `message` says which and why, in one line. */
export class LocalStackError extends Error {
  override readonly name = "LocalStackError";
}

/** What the stack runs and where. */
export interface LocalStackReport {
  stateDir: string;
  /** `portsFile`: where the embedded server's port is kept across restarts (ports-file.ts). */
  nats: { url: string; embedded: boolean; pid?: number; storeDir?: string; portsFile?: string };
  bus: EnsureBusResult;
  gateway: { url: string };
  registry: { running: true };
  policy: { instanceId: string; revision: number | null };
  mcp: { url: string };
  /** The web dashboard, when started (`dashboardPort`). */
  dashboard: { url: string } | null;
  hostAgent: { hostId: string; endpoint: string; appServerReachable: boolean; reason?: string } | null;
}

/** Options of {@link startLocalStack}. Ports 0 pick free ones; all listeners are on 127.0.0.1. */
export interface LocalStackOptions {
  stateDir: string;
  /** Use this NATS server instead of starting one. */
  natsUrl?: string | undefined;
  /**
   * Port of the embedded nats-server, asked for with `--nats-port` (`flag`) or `$CLAW_SUPERVISOR_NATS_PORT`
   * (`env`); kept in `<stateDir>/ports.json` for the next start. Default: the kept one, else a new free one.
   */
  natsPort?: { port: number; from: "flag" | "env" } | undefined;
  gatewayPort: number;
  mcpPort: number;
  /** Port of the web dashboard on 127.0.0.1 (0 picks a free one); none is started without it. */
  dashboardPort?: number | undefined;
  /** This machine's app-server, e.g. `unix://` (the Codex daemon's socket). */
  endpoint: string;
  hostId?: string | undefined;
  /** Run a host agent here (default true). */
  hostAgent?: boolean;
  /** Replicas of the bus streams and buckets (new ones; existing ones are raised, never lowered). Default 1. */
  replicas?: BusReplicas | undefined;
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Called before the embedded nats-server starts (it can take a moment). */
  onStartingNats?: () => void;
}

/** A running stack; `stop()` stops every part in reverse order and never throws. */
export interface LocalStack {
  report: LocalStackReport;
  /** A connection with the `client` user's rights (what the plugin's embedded mode uses). */
  nc: NatsConnection;
  /**
   * Settles, with one line saying why, when a part the stack cannot run without stops on its own: the embedded
   * nats-server exiting while the stack runs (not when `stop()` stops it). Never settles otherwise.
   */
  failed: Promise<string>;
  stop(): Promise<void>;
}

/** Everything started so far, stopped in reverse order. */
class Parts {
  private readonly stops: (() => Promise<void>)[] = [];
  constructor(private readonly log: Logger) {}
  add(stop: () => Promise<void>): void {
    this.stops.push(stop);
  }
  async stop(): Promise<void> {
    for (const stop of this.stops.splice(0).reverse()) {
      await stop().catch((err: unknown) =>
        this.log.error({ err: (err as Error).message }, "stopping a part of the stack failed"),
      );
    }
  }
}

/** The bus and a way to connect to it as each of its users. */
interface StackBus {
  url: string;
  bus: EnsureBusResult;
  embedded: EmbeddedNats | undefined;
  /** A connection as `user`, closed with the stack; against a given NATS URL every part shares its one login. */
  connectAs(user: BusUser): Promise<NatsConnection>;
  /** Closes every connection at once, without draining (when the embedded server has died). */
  closeAll(): void;
}

/** Says, in one line, that the chosen NATS port is taken, where it came from and what to do. */
function portTaken(err: NatsPortInUseError, choice: NatsPortChoice, stateDir: string): string {
  const from = {
    flag: "given with --nats-port",
    env: "given in $CLAW_SUPERVISOR_NATS_PORT",
    kept: `this state dir's NATS port, kept in ${portsFileOf(stateDir)}`,
    new: "just chosen",
    any: "",
  }[choice.from];
  const move =
    choice.from === "kept"
      ? "stop it, or move the bus with --nats-port PORT (kept for next time; configs naming the old URL must change)"
      : "stop it, or choose another with --nats-port PORT";
  return `cannot start nats-server on 127.0.0.1:${err.port} (${from}): it is taken by ${describePortOwner(err.owner)}; ${move}`;
}

async function startBus(o: LocalStackOptions, parts: Parts): Promise<StackBus> {
  let embedded: EmbeddedNats | undefined;
  let users: Record<BusUser, string> | undefined;
  if (!o.natsUrl) {
    o.onStartingNats?.();
    let choice: NatsPortChoice = { port: undefined, from: "any" };
    try {
      users = await ensureBusCredentials(o.stateDir);
      choice = await chooseNatsPort(o.stateDir, o.natsPort, "127.0.0.1");
      embedded = await startEmbeddedNats({
        stateDir: o.stateDir,
        users,
        log: (message) => o.logger.warn(message),
        ...(choice.port === undefined ? {} : { port: choice.port }),
        searchPath: natsServerSearchPath(o.env),
      });
    } catch (err) {
      if (err instanceof NatsPortInUseError) throw new LocalStackError(portTaken(err, choice, o.stateDir));
      throw new LocalStackError(
        err instanceof BusError || err instanceof PortsFileError
          ? err.message
          : `cannot start nats-server: ${(err as Error).message}`,
      );
    }
    parts.add(() => embedded!.stop());
    // Kept for the next start (a first one, or one moved by --nats-port), so the URL stays what configs name.
    const port = Number(new URL(embedded.url).port);
    if (choice.from !== "kept" || choice.port !== port)
      await writePortsFile(o.stateDir, { nats: port }).catch((err: Error) => {
        throw new LocalStackError(`cannot keep the NATS port in ${portsFileOf(o.stateDir)}: ${err.message}`);
      });
  }
  const url = o.natsUrl ?? embedded!.url;
  const opened: NatsConnection[] = [];
  const open = async (user: BusUser): Promise<NatsConnection> => {
    let nc: NatsConnection;
    try {
      nc = await connectBus({
        servers: url,
        name: `claw-supervisor-up-${user}`,
        ...(users ? { user, pass: users[user] } : {}),
      });
    } catch (err) {
      throw new LocalStackError(`cannot connect to NATS at ${url}: ${(err as Error).message}`);
    }
    opened.push(nc);
    parts.add(() => nc.drain().catch(() => nc.close()));
    return nc;
  };
  const admin = await open("admin");
  const shared = users ? undefined : admin;
  const bus = await ensureBus(admin, o.replicas === undefined ? {} : { replicas: o.replicas }).catch((err: unknown) => {
    throw new LocalStackError(`cannot set up the bus on ${url}: ${(err as Error).message}`);
  });
  return {
    url,
    bus,
    embedded,
    connectAs: (user) => (shared ? Promise.resolve(shared) : open(user)),
    closeAll: () => {
      for (const nc of opened) void nc.close().catch(() => undefined);
    },
  };
}

/** Starts the stack; on any failure stops what had started and throws a {@link LocalStackError}. */
export async function startLocalStack(o: LocalStackOptions): Promise<LocalStack> {
  // The state dir holds the bus credentials, the MCP secret and host tokens: only its owner may look inside.
  // A directory others can read that is not a state dir (`--state-dir ~`) is refused, not chmodded.
  await ensurePrivateStateDir(o.stateDir).catch((err: Error) => {
    throw new LocalStackError(err.message);
  });
  const log = o.logger;
  const parts = new Parts(log);
  // One stack per state dir: before anything starts, so a second one starts nothing (throws StateDirBusyError).
  const lock = await acquireStateLock(o.stateDir, log);
  parts.add(() => lock.release());
  try {
    const { url, bus, embedded, connectAs, closeAll } = await startBus(o, parts);
    const admin = await connectAs("admin");
    let gateway: Gateway;
    try {
      gateway = await startGateway({
        natsConnection: await connectAs("gateway"),
        port: o.gatewayPort,
        logger: log.child({ service: "rpc-gateway" }),
      });
    } catch (err) {
      throw new LocalStackError(`cannot start the gateway on 127.0.0.1:${o.gatewayPort}: ${(err as Error).message}`);
    }
    parts.add(() => gateway.stop());
    const registry = await startRegistry({
      nc: await connectAs("registry"),
      // One stack per state dir (its lock): an id stable per machine and state dir lets a restart after a crash
      // take its own partition lease back at once instead of waiting out the lease TTL.
      instance: `up-registry@${hostname()}:${createHash("sha256").update(o.stateDir).digest("hex").slice(0, 8)}`,
      logger: log.child({ service: "registry" }),
    });
    parts.add(() => registry.stop());
    const secret = await ensureEdgeSecret(defaultSecretFile(o.stateDir));
    let mcp: McpHttpEdge;
    try {
      mcp = await startMcpHttpEdge({
        nc: await connectAs("client"),
        secret,
        port: o.mcpPort,
        logger: log.child({ service: "mcp-edge" }),
      });
    } catch (err) {
      throw new LocalStackError(`cannot start the MCP edge on 127.0.0.1:${o.mcpPort}: ${(err as Error).message}`);
    }
    parts.add(() => mcp.stop());
    const policyNc = await connectAs("policy");
    const policy = await startPolicyService({
      nc: policyNc,
      hostTokens: hostTokenAdmin(policyNc),
      logger: log.child({ service: "policy" }),
      spawnConfig: spawnMcpConfig(mcp.url, secret),
    });
    parts.add(() => policy.stop());

    let dashboard: LocalStackReport["dashboard"] = null;
    if (o.dashboardPort !== undefined) {
      try {
        const cookieSecret = await ensureCookieKey(defaultCookieKeyFile(o.stateDir));
        const started = await startDashboard({
          nc: await connectAs("client"),
          port: o.dashboardPort,
          cookieSecret,
          logger: log,
        });
        parts.add(() => started.stop());
        dashboard = { url: started.url };
      } catch (err) {
        throw new LocalStackError(
          `cannot start the dashboard on 127.0.0.1:${o.dashboardPort}: ${(err as Error).message}`,
        );
      }
    }

    let hostAgent: LocalStackReport["hostAgent"] = null;
    if (o.hostAgent !== false) {
      const hostId = o.hostId ?? defaultHostId();
      const tokenFile = await ensureLocalHostToken(admin, o.stateDir, hostId);
      const agent = await startHostAgent({
        hostId,
        gatewayUrl: gateway.url,
        token: { file: tokenFile },
        stateDir: o.stateDir,
        endpoint: o.endpoint,
        env: o.env,
        agentVersion: VERSION,
        logger: log.child({ service: "host-agent" }),
      });
      parts.add(() => agent.stop());
      const where = describeEndpoint(parseEndpoint(o.endpoint, { env: o.env }));
      const reach = await probeAppServer(o.endpoint, o.env, 2_000).then(
        () => ({ appServerReachable: true }),
        (err: Error) => ({ appServerReachable: false, reason: err.message }),
      );
      hostAgent = { hostId, endpoint: where, ...reach };
    }
    const report: LocalStackReport = {
      stateDir: o.stateDir,
      nats: embedded
        ? { url, embedded: true, pid: embedded.pid, storeDir: embedded.storeDir, portsFile: portsFileOf(o.stateDir) }
        : { url, embedded: false },
      bus,
      gateway: { url: gateway.url },
      registry: { running: true },
      policy: { instanceId: policy.instanceId, revision: policy.policyRevision() },
      mcp: { url: mcp.url },
      dashboard,
      hostAgent,
    };
    await writeUpFile(o.stateDir, {
      natsUrl: url,
      gatewayUrl: gateway.url,
      mcpUrl: mcp.url,
      ...(dashboard ? { dashboardUrl: dashboard.url } : {}),
      pid: process.pid,
      embedded: embedded !== undefined,
      ...(embedded ? { natsPid: embedded.pid } : {}),
    });
    parts.add(() => removeUpFile(o.stateDir));
    const nc = await connectAs("client");
    let stopping = false;
    const failed = new Promise<string>((resolve) => {
      void embedded?.exited.then(({ code, signal }) => {
        if (stopping) return;
        // The connections would redial that loopback port forever, passwords and all, whoever listens there
        // next; and every part's stop would wait on a bus that is gone. Close them now.
        closeAll();
        resolve(
          `the nats-server (pid ${embedded.pid}) exited (${signal ? `signal ${signal}` : `code ${code}`}) while up ` +
            "was running: there is no bus; stopping",
        );
      });
    });
    return {
      report,
      nc,
      failed,
      stop: () => {
        stopping = true;
        return parts.stop();
      },
    };
  } catch (err) {
    await parts.stop();
    throw err;
  }
}
