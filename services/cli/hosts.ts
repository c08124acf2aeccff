/** `claw-supervisor hosts`: the fleet's hosts and their connection state, asked of the registry over the bus. */
import { DEFAULT_QUERY_TIMEOUT_MS, listHosts } from "../clients/registry-queries.js";
import { formatHostsTable } from "./format.js";
import { Milliseconds, optionValue, parseCommandArgs } from "./args.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { jsonOk } from "./output.js";
import { NATS_URL_HELP, cliBusUrl, connectCli, queryFailure } from "./connection.js";

const usage = `Usage: claw-supervisor hosts [--json] [--nats-url URL] [--timeout MS]

Lists the hosts the registry knows: connection status (online, degraded, offline, stale), hostname,
agent version, whether its Codex app-server is connected, its sessions, and its last heartbeat.

--json          print {"ok":true,"data":[host records]} (times as ISO-8601 strings)
--nats-url URL  ${NATS_URL_HELP}
--timeout MS    how long to wait for the registry (default ${DEFAULT_QUERY_TIMEOUT_MS})`;

/** The options `hosts` takes (the table of completions lists them too). */
const optionSpecs = {
  json: { type: "boolean" },
  "nats-url": { type: "string" },
  timeout: { type: "string" },
} as const;

/** The `hosts` command. */
export const hostsCommand: Command = {
  name: "hosts",
  summary: "list the fleet's hosts and their connection state",
  usage,
  options: Object.keys(optionSpecs),
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("hosts", argv, optionSpecs);
    if (values.help) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    if (positionals.length)
      throw new CliError(`hosts takes no arguments, got '${positionals[0]}'. See 'claw-supervisor hosts --help'.`, 2);
    const timeoutMs =
      values.timeout === undefined ? DEFAULT_QUERY_TIMEOUT_MS : optionValue("timeout", Milliseconds, values.timeout);
    const url = cliBusUrl(values["nats-url"], io.env);
    const nc = await connectCli(url);
    try {
      const hosts = await listHosts(nc, timeoutMs).catch(queryFailure);
      if (values.json) io.stdout(jsonOk(hosts));
      else io.stdout(hosts.length === 0 ? "no hosts\n" : formatHostsTable(hosts, Date.now()));
      return 0;
    } finally {
      await nc.close();
    }
  },
};
