/** `claw-supervisor host-agent`: runs this host's agent (app-server watcher → gateway) until Ctrl-C or SIGTERM. */
import { readFile } from "node:fs/promises";
import { pino } from "pino";
import {
  HostAgentConfigError,
  loadHostAgentConfigFile,
  resolveHostAgentConfig,
  startHostAgent,
  type HostAgentConfig,
  type ResolvedHostAgentConfig,
} from "../host-agent/index.js";
import { parseEndpoint } from "../codex-rpc/index.js";
import { parseCommandArgs } from "./args.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { defaultStateDir } from "../clients/state-dir.js";
import { VERSION } from "../clients/version.js";

/** Exit status when another agent holds this host id: this one stopped rather than fight for it (systemd's RestartPreventExitStatus). */
export const EXIT_HOST_CLAIMED = 10;

const usage = `Usage: claw-supervisor host-agent [--config FILE] [--gateway URL]... [--token-file FILE] [--endpoint ENDPOINT]
                                 [--host-id ID] [--state-dir DIR] [--json]

Watches this host's Codex app-server and streams its threads' events (secrets redacted) to the supervisor's
gateway over an outbound WebSocket, buffering while the gateway is unreachable. Runs until Ctrl-C or SIGTERM.

--config FILE      JSON file with any of: hostId, gatewayUrl (a URL or a list of them), tokenFile, endpoint,
                   stateDir, heartbeatMs, buffer {maxEvents, maxBytes}, maxEventBytes, presencePollMs,
                   idleUnloadMs, logLevel; flags override it
--gateway URL      the gateway's ws:// or wss:// URL (required, here or in the file); repeat it or separate URLs
                   with commas to fail over between gateway instances (each reconnect tries the next)
--token-file FILE  file holding this host's token (required, here or in the file)
--endpoint E       the app-server: unix:// (the Codex daemon's socket, the default), unix://PATH, ws://HOST:PORT
--host-id ID       this host's id (default: the short host name)
--state-dir DIR    where presence records from 'claw-supervisor launch' are read (default as for 'up')
--json             print one JSON line when running instead of text

Logs go to stderr as JSON lines (pino).
Exit status ${EXIT_HOST_CLAIMED}: another host agent holds this host id (a gateway said which); this one stopped and is
not to be restarted until that is resolved (stop one of them, or give one its own --host-id).`;

/** The `host-agent` command. */
export const hostAgentCommand: Command = {
  name: "host-agent",
  summary: "run the host agent that connects this host's Codex app-server to the gateway",
  usage,
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("host-agent", argv, {
      config: { type: "string" },
      gateway: { type: "string", multiple: true },
      "token-file": { type: "string" },
      endpoint: { type: "string" },
      "host-id": { type: "string" },
      "state-dir": { type: "string" },
      json: { type: "boolean" },
    });
    if (values.help) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    if (positionals.length)
      throw new CliError(
        `host-agent takes no arguments, got '${positionals[0]}'. See 'claw-supervisor host-agent --help'.`,
        2,
      );
    const config = await resolveConfig(values, io);
    try {
      parseEndpoint(config.endpoint, { env: io.env });
    } catch (err) {
      throw new CliError(`--endpoint: ${(err as Error).message}`, 2);
    }
    const token = await readFile(config.tokenFile, "utf8").catch((err: Error) => {
      throw new CliError(`cannot read the host token file ${config.tokenFile}: ${err.message}`);
    });
    if (!token.trim()) throw new CliError(`the host token file ${config.tokenFile} is empty`);

    const logger = pino(
      { name: "claw-supervisor-host-agent", level: config.logLevel },
      { write: (line: string) => io.stderr(line) },
    );
    const gatewayUrls = typeof config.gatewayUrl === "string" ? [config.gatewayUrl] : config.gatewayUrl;
    const agent = await startHostAgent({
      hostId: config.hostId,
      gatewayUrl: config.gatewayUrl,
      token: { file: config.tokenFile },
      stateDir: config.stateDir,
      endpoint: config.endpoint,
      env: io.env,
      agentVersion: VERSION,
      heartbeatMs: config.heartbeatMs,
      buffer: config.buffer,
      maxEventBytes: config.maxEventBytes,
      presencePollMs: config.presencePollMs,
      idleUnloadMs: config.idleUnloadMs,
      logger,
    });
    const report = {
      hostId: agent.hostId,
      epoch: agent.epoch,
      endpoint: config.endpoint,
      gatewayUrl: config.gatewayUrl,
      stateDir: config.stateDir,
    };
    io.stdout(
      values.json
        ? `${JSON.stringify(report)}\n`
        : [
            `claw-supervisor host-agent: running as host ${agent.hostId} (epoch ${agent.epoch})`,
            `  app-server: ${config.endpoint}`,
            `  gateway:    ${gatewayUrls.join(", ")}`,
            `  presence:   ${config.stateDir}`,
            "Press Ctrl-C to stop.",
            "",
          ].join("\n"),
    );
    const ended = await Promise.race([
      io.stopRequested.then((signal) => ({ signal, displaced: null })),
      agent.displaced.then((reason) => ({ signal: null, displaced: reason })),
    ]);
    if (ended.displaced !== null) {
      io.stderr(
        `claw-supervisor host-agent: another host agent holds host ${agent.hostId}: ${ended.displaced}. ` +
          `Not reconnecting; stopping (exit ${EXIT_HOST_CLAIMED}).\n`,
      );
      await agent.stop();
      return EXIT_HOST_CLAIMED;
    }
    if (!values.json) io.stdout(`claw-supervisor host-agent: ${ended.signal}, stopping\n`);
    await agent.stop();
    if (!values.json) io.stdout("claw-supervisor host-agent: stopped\n");
    return 0;
  },
};

async function resolveConfig(
  values: {
    config?: string;
    gateway?: string | string[];
    "token-file"?: string;
    endpoint?: string;
    "host-id"?: string;
    "state-dir"?: string;
  },
  io: CliIo,
): Promise<ResolvedHostAgentConfig> {
  try {
    const file: HostAgentConfig = values.config ? await loadHostAgentConfigFile(values.config) : {};
    return resolveHostAgentConfig(
      file,
      {
        hostId: values["host-id"],
        gatewayUrl: gatewayFlag(values.gateway),
        tokenFile: values["token-file"],
        endpoint: values.endpoint,
        stateDir: values["state-dir"],
      },
      { stateDir: defaultStateDir(io.env) },
    );
  } catch (err) {
    if (err instanceof HostAgentConfigError)
      throw new CliError(`${err.message}. See 'claw-supervisor host-agent --help'.`, 2);
    throw err;
  }
}

/** `--gateway` values (repeated, or comma-separated) as one URL or a list; undefined when not given. Pure. */
function gatewayFlag(values: string | string[] | undefined): string | string[] | undefined {
  if (values === undefined) return undefined;
  const urls = (Array.isArray(values) ? values : [values])
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter(Boolean);
  if (urls.length === 0) return undefined;
  return urls.length === 1 ? urls[0] : urls;
}
