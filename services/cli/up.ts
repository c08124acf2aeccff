/**
 * `claw-supervisor up`: runs the whole supervisor on one machine until Ctrl-C: an embedded nats-server
 * (unless NATS_URL names one) with the bus, the gateway, the registry, and a host agent for this machine's
 * Codex daemon. While it runs, `<stateDir>/up.json` says where the bus is, so the other commands find it.
 */
import path from "node:path";
import { pino } from "pino";
import { z } from "zod";
import { parseEndpoint } from "../codex-rpc/index.js";
import { optionValue, parseCommandArgs } from "./args.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { askedReplicas, REPLICAS_ENV, replicasHelp } from "./replicas.js";
import {
  DEFAULT_DASHBOARD_PORT,
  DEFAULT_GATEWAY_PORT,
  LocalStackError,
  startLocalStack,
  type LocalStack,
  type LocalStackReport,
} from "../stack/local-stack.js";
import { StateDirBusyError } from "../stack/state-lock.js";
import { ensureNatsServer, NATS_PATH_ENV, NatsServerMissingError } from "../stack/nats-install.js";
import { NATS_PORT_ENV } from "../stack/ports-file.js";
import { defaultStateDir } from "../clients/state-dir.js";
import { BusError } from "../bus/index.js";

const usage = `Usage: claw-supervisor up [--state-dir DIR] [--nats-url URL] [--nats-port PORT] [--gateway-port PORT]
                         [--mcp-port PORT] [--dashboard-port PORT] [--endpoint ENDPOINT] [--host-id ID] [--no-host-agent]
                         [--replicas 1|3|5] [--json]

Runs the supervisor on this machine until Ctrl-C (or SIGTERM), then stops everything cleanly: the bus
(its own nats-server unless a NATS URL is given), the gateway host agents dial into, the registry, the
policy service every command passes through, the MCP edge Codex sessions call (openclaw-codex-supervisor),
the web dashboard, and a host agent for this machine's Codex app-server.

One up per state dir: a second one on the same dir says which pid runs it and starts nothing. After a
crash (even kill -9) up starts cleanly: it takes over the dead run's lock (<state-dir>/up.lock) and stops
the nats-server that run left behind on its store. If its own nats-server exits while it runs, up logs an
error and stops (exit 1): it does not run on without a bus.

Its nats-server keeps one port: chosen on the first start, kept in <state-dir>/ports.json, so the bus URL
(and a config naming it) stays the same across restarts. If another process holds that port, up says which
and starts nothing; it never moves the port on its own. nats-server is looked for on $PATH, then in
/usr/local/sbin, /usr/sbin and /sbin (or only in $${NATS_PATH_ENV}); when there is none, up installs it as root
with apt-get (saying so), or prints the command to run and exits 1.

--state-dir DIR     where state is kept (default $CLAW_SUPERVISOR_STATE_DIR, else
                    $XDG_STATE_HOME/claw-supervisor, else ~/.local/state/claw-supervisor); made
                    private (0700): an existing one others can read must be empty or a state dir
--nats-url URL      use this NATS server instead of starting one (default $NATS_URL)
--nats-port PORT    port for the embedded nats-server on 127.0.0.1, kept for later starts (default
                    $${NATS_PORT_ENV}, else the kept one, else a free one between 20000 and 32767)
--gateway-port PORT port for the gateway on 127.0.0.1 (default ${DEFAULT_GATEWAY_PORT}; 0 picks a free one)
--mcp-port PORT     port for the MCP edge on 127.0.0.1 (default 7411; 0 picks a free one)
--dashboard-port PORT
                    port for the web dashboard on 127.0.0.1 (default ${DEFAULT_DASHBOARD_PORT}; 0 picks a free
                    one); operators sign in with a token from 'claw-supervisor operator add'
--endpoint E        this machine's app-server (default unix://, the Codex daemon's socket)
--host-id ID        this machine's host id (default: the short host name)
--no-host-agent     run no host agent here (hosts connect from elsewhere)
${replicasHelp(20, [
  `copies of each stream and bucket: 1, 3 or 5 (default $${REPLICAS_ENV}, else 1 for new ones);`,
  "3 and 5 need a JetStream cluster of that many nodes, so --nats-url. Existing ones are raised",
  "to N but never lowered: one with more keeps them, and up says so",
]).join("\n")}
--json              print one JSON line when ready instead of text

Logs go to stderr as JSON lines.`;

const Port = (min: number) =>
  z.coerce
    .number({ error: "must be a port number" })
    .int("must be a whole number")
    .min(min, `must be between ${min} and 65535`)
    .max(65535, `must be between ${min} and 65535`);

/** What `up --json` prints once everything is running. */
export type UpReport = LocalStackReport;

function formatReport(r: UpReport): string {
  const nats = r.nats.embedded
    ? `started nats-server (pid ${r.nats.pid}) at ${r.nats.url}, JetStream data in ${r.nats.storeDir}\n` +
      `              (the same URL on every start: its port is kept in ${r.nats.portsFile})`
    : `using NATS at ${r.nats.url}`;
  const plugin = r.nats.embedded
    ? [`  plugin:     natsUrl ${r.nats.url}, natsCredentialsFile ${path.join(r.stateDir, "credentials", "claw.json")}`]
    : [];
  const agent = r.hostAgent
    ? `host ${r.hostAgent.hostId} watching ${r.hostAgent.endpoint}` +
      (r.hostAgent.appServerReachable ? "" : ` (not answering yet: start it with 'codex app-server daemon start')`)
    : "none here (--no-host-agent)";
  return [
    "claw-supervisor up: running",
    `  state:      ${r.stateDir}`,
    `  bus:        ${nats}`,
    `  streams:    ${r.bus.streams.map((s) => `${s.name} (${s.action})`).join(", ")}`,
    ...r.bus.kept.map((k) => `  replicas:   ${k.note}`),
    `  gateway:    ${r.gateway.url} (host agents dial in with a host token: 'claw-supervisor token create <hostId>')`,
    "  registry:   running",
    `  policy:     serving codex.cmd.* (${r.policy.revision === null ? "built-in default policy" : `policy revision ${r.policy.revision}`}; 'claw-supervisor policy get')`,
    `  mcp edge:   ${r.mcp.url} (spawned sessions get it; others: 'claw-supervisor mcp-config <sessionId>')`,
    ...(r.dashboard
      ? [
          `  dashboard:  ${r.dashboard.url} (sign in with a token from 'claw-supervisor operator add <name> --role operator')`,
        ]
      : []),
    `  host agent: ${agent}`,
    ...plugin,
    "  Attach a Codex TUI with 'claw-supervisor launch' (or 'codex --remote unix://'); list sessions with 'claw-supervisor sessions'.",
    "Press Ctrl-C to stop.",
    "",
  ].join("\n");
}

/** The `up` command. */
export const upCommand: Command = {
  name: "up",
  summary: "run the whole supervisor on this machine (bus, gateway, registry, policy, MCP edge, dashboard, host agent)",
  usage,
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("up", argv, {
      "state-dir": { type: "string" },
      "nats-url": { type: "string" },
      "nats-port": { type: "string" },
      "gateway-port": { type: "string" },
      "mcp-port": { type: "string" },
      "dashboard-port": { type: "string" },
      endpoint: { type: "string" },
      "host-id": { type: "string" },
      "no-host-agent": { type: "boolean" },
      replicas: { type: "string" },
      json: { type: "boolean" },
    });
    if (values.help) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    if (positionals.length)
      throw new CliError(`up takes no arguments, got '${positionals[0]}'. See 'claw-supervisor up --help'.`, 2);
    const stateDir = values["state-dir"] ? path.resolve(values["state-dir"]) : defaultStateDir(io.env);
    const natsUrl = values["nats-url"] ?? io.env.NATS_URL;
    const portEnv = io.env[NATS_PORT_ENV] === "" ? undefined : io.env[NATS_PORT_ENV];
    const natsPort =
      values["nats-port"] !== undefined
        ? { port: optionValue("nats-port", Port(1), values["nats-port"]), from: "flag" as const }
        : portEnv !== undefined
          ? { port: optionValue(NATS_PORT_ENV, Port(1), portEnv), from: "env" as const }
          : undefined;
    const gatewayPort = optionValue("gateway-port", Port(0), values["gateway-port"] ?? String(DEFAULT_GATEWAY_PORT));
    const mcpPort = optionValue("mcp-port", Port(0), values["mcp-port"] ?? "7411");
    const dashboardPort = optionValue(
      "dashboard-port",
      Port(0),
      values["dashboard-port"] ?? String(DEFAULT_DASHBOARD_PORT),
    );
    if (natsUrl && natsPort?.from === "flag")
      throw new CliError("--nats-port applies to the embedded server; drop it or --nats-url/NATS_URL", 2);
    const replicas = askedReplicas(values.replicas, io.env);
    if (!natsUrl && replicas !== undefined && replicas > 1)
      throw new CliError(
        `${values.replicas === undefined ? REPLICAS_ENV : "--replicas"} ${replicas} needs a JetStream cluster: ` +
          "the embedded nats-server is one node; give --nats-url (or NATS_URL) for the cluster",
        2,
      );
    const endpointText = values.endpoint ?? "unix://";
    try {
      parseEndpoint(endpointText, { env: io.env });
    } catch (err) {
      throw new CliError(`--endpoint: ${(err as Error).message}`, 2);
    }
    if (!natsUrl) {
      // A fresh machine has no nats-server: install it (as root, with apt-get) or say exactly what to run.
      try {
        await ensureNatsServer({
          env: io.env,
          uid: process.getuid?.(),
          say: (line) => io.stderr(`claw-supervisor up: ${line}\n`),
          out: io.stderr,
        });
      } catch (err) {
        if (err instanceof NatsServerMissingError) throw new CliError(err.message);
        throw err;
      }
    }
    const logger = pino(
      { name: "claw-supervisor-up", level: io.env.LOG_LEVEL ?? "info" },
      { write: (line: string) => io.stderr(line) },
    );
    let stack: LocalStack;
    try {
      stack = await startLocalStack({
        stateDir,
        natsUrl,
        natsPort,
        gatewayPort,
        mcpPort,
        dashboardPort,
        endpoint: endpointText,
        hostId: values["host-id"],
        hostAgent: !values["no-host-agent"],
        ...(replicas === undefined ? {} : { replicas }),
        env: io.env,
        logger,
        onStartingNats: () => {
          if (!values.json) io.stdout(`claw-supervisor up: starting nats-server, data under ${stateDir}\n`);
        },
      });
    } catch (err) {
      // What went wrong in one line, no stack: a busy state dir, a part that would not start, the bus.
      const expected = err instanceof LocalStackError || err instanceof StateDirBusyError || err instanceof BusError;
      throw expected ? new CliError(err.message) : err;
    }
    let failure: string | undefined;
    try {
      io.stdout(values.json ? `${JSON.stringify(stack.report)}\n` : formatReport(stack.report));
      const ended = await Promise.race([
        io.stopRequested.then((signal) => ({ signal })),
        stack.failed.then((reason) => ({ reason })),
      ]);
      if ("reason" in ended) {
        // Running on without a bus would only look alive: every command and event would fail. Stop, non-zero.
        failure = ended.reason;
        logger.error(failure);
      } else if (!values.json) io.stdout(`claw-supervisor up: ${ended.signal}, stopping\n`);
    } finally {
      await stack.stop();
    }
    if (failure !== undefined) throw new CliError(failure);
    if (!values.json) io.stdout("claw-supervisor up: stopped\n");
    return 0;
  },
};
