/**
 * `claw-supervisor up`: runs the whole supervisor on one machine until Ctrl-C: an embedded nats-server
 * (unless NATS_URL names one) with the bus, the gateway, the registry, and a host agent for this machine's
 * Codex daemon. While it runs, `<stateDir>/up.json` says where the bus is, so the other commands find it.
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino, type Logger } from "pino";
import { z } from "zod";
import { BusError, connectBus, ensureBus, startEmbeddedNats, type EmbeddedNats, type EnsureBusResult } from "../bus/index.js";
import { describeEndpoint, parseEndpoint } from "../codex-rpc/index.js";
import { defaultHostId } from "../host-agent/config.js";
import { probeAppServer, startHostAgent, type HostAgent } from "../host-agent/index.js";
import { ensureEdgeSecret, spawnMcpConfig, startMcpHttpEdge, type McpHttpEdge } from "../mcp-edge/index.js";
import { startPolicyService } from "../policy/index.js";
import { startRegistry, type Registry } from "../registry/index.js";
import { DEFAULT_GATEWAY_PORT, startGateway, type Gateway } from "../rpc-gateway/index.js";
import { optionValue, parseCommandArgs } from "./args.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { ensureLocalHostToken } from "./local-token.js";
import { defaultSecretFile } from "./mcp.js";
import { defaultStateDir } from "./state-dir.js";
import { removeUpFile, writeUpFile } from "./up-file.js";
import { VERSION } from "./version.js";

const usage = `Usage: claw-supervisor up [--state-dir DIR] [--nats-url URL] [--nats-port PORT] [--gateway-port PORT]
                         [--mcp-port PORT] [--endpoint ENDPOINT] [--host-id ID] [--no-host-agent] [--json]

Runs the supervisor on this machine until Ctrl-C (or SIGTERM), then stops everything cleanly: the bus
(its own nats-server unless a NATS URL is given), the gateway host agents dial into, the registry, the
policy service every command passes through, the MCP edge Codex sessions call (openclaw-codex-supervisor),
and a host agent for this machine's Codex app-server.

--state-dir DIR     where state is kept (default $CLAW_SUPERVISOR_STATE_DIR, else
                    $XDG_STATE_HOME/claw-supervisor, else ~/.local/state/claw-supervisor)
--nats-url URL      use this NATS server instead of starting one (default $NATS_URL)
--nats-port PORT    port for the embedded nats-server on 127.0.0.1 (default: a free port)
--gateway-port PORT port for the gateway on 127.0.0.1 (default ${DEFAULT_GATEWAY_PORT}; 0 picks a free one)
--mcp-port PORT     port for the MCP edge on 127.0.0.1 (default 7411; 0 picks a free one)
--endpoint E        this machine's app-server (default unix://, the Codex daemon's socket)
--host-id ID        this machine's host id (default: the short host name)
--no-host-agent     run no host agent here (hosts connect from elsewhere)
--json              print one JSON line when ready instead of text

Logs go to stderr as JSON lines.`;

const Port = (min: number) =>
  z.coerce
    .number({ error: "must be a port number" })
    .int("must be a whole number")
    .min(min, `must be between ${min} and 65535`)
    .max(65535, `must be between ${min} and 65535`);


export { defaultStateDir } from "./state-dir.js";

/** What `up --json` prints once everything is running. */
export interface UpReport {
  stateDir: string;
  nats: { url: string; embedded: boolean; pid?: number; storeDir?: string };
  bus: EnsureBusResult;
  gateway: { url: string };
  registry: { running: true };
  policy: { instanceId: string; revision: number | null };
  mcp: { url: string };
  hostAgent: { hostId: string; endpoint: string; appServerReachable: boolean; reason?: string } | null;
}

function formatReport(r: UpReport): string {
  const nats = r.nats.embedded
    ? `started nats-server (pid ${r.nats.pid}) at ${r.nats.url}, JetStream data in ${r.nats.storeDir}`
    : `using NATS at ${r.nats.url}`;
  const agent = r.hostAgent
    ? `host ${r.hostAgent.hostId} watching ${r.hostAgent.endpoint}` +
      (r.hostAgent.appServerReachable ? "" : ` (not answering yet: start it with 'codex app-server daemon start')`)
    : "none here (--no-host-agent)";
  return [
    "claw-supervisor up: running",
    `  state:      ${r.stateDir}`,
    `  bus:        ${nats}`,
    `  streams:    ${r.bus.streams.map((s) => `${s.name} (${s.action})`).join(", ")}`,
    `  gateway:    ${r.gateway.url} (host agents dial in with a host token: 'claw-supervisor token create <hostId>')`,
    "  registry:   running",
    `  policy:     serving codex.cmd.* (${r.policy.revision === null ? "built-in default policy" : `policy revision ${r.policy.revision}`}; 'claw-supervisor policy get')`,
    `  mcp edge:   ${r.mcp.url} (spawned sessions get it; others: 'claw-supervisor mcp-config <sessionId>')`,
    `  host agent: ${agent}`,
    "  Attach a Codex TUI with 'claw-supervisor launch' (or 'codex --remote unix://'); list sessions with 'claw-supervisor sessions'.",
    "Press Ctrl-C to stop.",
    "",
  ].join("\n");
}

/** Everything `up` started, stopped in reverse order. */
class Stack {
  private readonly stops: (() => Promise<void>)[] = [];
  add(stop: () => Promise<void>): void {
    this.stops.push(stop);
  }
  async stop(log: Logger): Promise<void> {
    for (const stop of this.stops.reverse()) {
      await stop().catch((err: unknown) => log.error({ err: (err as Error).message }, "stopping a part of the stack failed"));
    }
  }
}

async function startBus(stateDir: string, natsUrl: string | undefined, port: number | undefined, stack: Stack, json: boolean, io: CliIo) {
  let embedded: EmbeddedNats | undefined;
  if (!natsUrl) {
    if (!json) io.stdout(`claw-supervisor up: starting nats-server, data under ${stateDir}\n`);
    try {
      embedded = await startEmbeddedNats({ stateDir, ...(port === undefined ? {} : { port }) });
    } catch (err) {
      throw new CliError(err instanceof BusError ? err.message : `cannot start nats-server: ${(err as Error).message}`);
    }
    stack.add(() => embedded!.stop());
  }
  const url = natsUrl ?? embedded!.url;
  let nc: NatsConnection;
  try {
    nc = await connectBus({ servers: url, name: "claw-supervisor-up" });
  } catch (err) {
    throw new CliError(`cannot connect to NATS at ${url}: ${(err as Error).message}`);
  }
  stack.add(() => nc.drain().catch(() => nc.close()));
  const bus = await ensureBus(nc).catch((err: unknown) => {
    throw new CliError(`cannot set up the bus on ${url}: ${(err as Error).message}`);
  });
  return { nc, url, bus, embedded };
}

/** The `up` command. */
export const upCommand: Command = {
  name: "up",
  summary: "run the whole supervisor on this machine (bus, gateway, registry, policy, MCP edge, host agent)",
  usage,
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("up", argv, {
      "state-dir": { type: "string" },
      "nats-url": { type: "string" },
      "nats-port": { type: "string" },
      "gateway-port": { type: "string" },
      "mcp-port": { type: "string" },
      endpoint: { type: "string" },
      "host-id": { type: "string" },
      "no-host-agent": { type: "boolean" },
      json: { type: "boolean" },
    });
    if (values.help) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    if (positionals.length) throw new CliError(`up takes no arguments, got '${positionals[0]}'. See 'claw-supervisor up --help'.`, 2);
    const stateDir = values["state-dir"] ? path.resolve(values["state-dir"]) : defaultStateDir(io.env);
    const natsUrl = values["nats-url"] ?? io.env.NATS_URL;
    const natsPort = values["nats-port"] === undefined ? undefined : optionValue("nats-port", Port(1), values["nats-port"]);
    const gatewayPort = optionValue("gateway-port", Port(0), values["gateway-port"] ?? String(DEFAULT_GATEWAY_PORT));
    const mcpPort = optionValue("mcp-port", Port(0), values["mcp-port"] ?? "7411");
    if (natsUrl && natsPort !== undefined) throw new CliError("--nats-port applies to the embedded server; drop it or --nats-url/NATS_URL", 2);
    const endpointText = values.endpoint ?? "unix://";
    try {
      parseEndpoint(endpointText, { env: io.env });
    } catch (err) {
      throw new CliError(`--endpoint: ${(err as Error).message}`, 2);
    }
    await mkdir(stateDir, { recursive: true });
    const logger = pino({ name: "claw-supervisor-up", level: io.env.LOG_LEVEL ?? "info" }, { write: (line: string) => io.stderr(line) });

    const stack = new Stack();
    try {
      const { nc, url, bus, embedded } = await startBus(stateDir, natsUrl, natsPort, stack, Boolean(values.json), io);
      let gateway: Gateway;
      try {
        gateway = await startGateway({ natsConnection: nc, port: gatewayPort, logger: logger.child({ service: "rpc-gateway" }) });
      } catch (err) {
        throw new CliError(`cannot start the gateway on 127.0.0.1:${gatewayPort}: ${(err as Error).message}`);
      }
      stack.add(() => gateway.stop());
      const registry: Registry = await startRegistry({ nc, logger: logger.child({ service: "registry" }) });
      stack.add(() => registry.stop());
      const secret = await ensureEdgeSecret(defaultSecretFile(stateDir));
      let mcp: McpHttpEdge;
      try {
        mcp = await startMcpHttpEdge({ nc, secret, port: mcpPort, logger: logger.child({ service: "mcp-edge" }) });
      } catch (err) {
        throw new CliError(`cannot start the MCP edge on 127.0.0.1:${mcpPort}: ${(err as Error).message}`);
      }
      stack.add(() => mcp.stop());
      const policy = await startPolicyService({ nc, logger: logger.child({ service: "policy" }), spawnConfig: spawnMcpConfig(mcp.url, secret) });
      stack.add(() => policy.stop());

      let hostAgent: UpReport["hostAgent"] = null;
      if (!values["no-host-agent"]) {
        const hostId = values["host-id"] ?? defaultHostId();
        const tokenFile = await ensureLocalHostToken(nc, stateDir, hostId);
        const agent: HostAgent = await startHostAgent({
          hostId,
          gatewayUrl: gateway.url,
          token: { file: tokenFile },
          stateDir,
          endpoint: endpointText,
          env: io.env,
          agentVersion: VERSION,
          logger: logger.child({ service: "host-agent" }),
        });
        stack.add(() => agent.stop());
        const where = describeEndpoint(parseEndpoint(endpointText, { env: io.env }));
        const reach = await probeAppServer(endpointText, io.env, 2_000).then(
          () => ({ appServerReachable: true }),
          (err: Error) => ({ appServerReachable: false, reason: err.message }),
        );
        hostAgent = { hostId, endpoint: where, ...reach };
      }
      const report: UpReport = {
        stateDir,
        nats: embedded ? { url, embedded: true, pid: embedded.pid, storeDir: embedded.storeDir } : { url, embedded: false },
        bus,
        gateway: { url: gateway.url },
        registry: { running: true },
        policy: { instanceId: policy.instanceId, revision: policy.policyRevision() },
        mcp: { url: mcp.url },
        hostAgent,
      };
      await writeUpFile(stateDir, { natsUrl: url, gatewayUrl: gateway.url, mcpUrl: mcp.url, pid: process.pid });
      stack.add(() => removeUpFile(stateDir));
      io.stdout(values.json ? `${JSON.stringify(report)}\n` : formatReport(report));
      const signal = await io.stopRequested;
      if (!values.json) io.stdout(`claw-supervisor up: ${signal}, stopping\n`);
    } finally {
      await stack.stop(logger);
    }
    if (!values.json) io.stdout("claw-supervisor up: stopped\n");
    return 0;
  },
};
