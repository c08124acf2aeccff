/**
 * `claw-supervisor mcp`: the edge over stdio, for `codex mcp add openclaw-codex-supervisor -- claw-supervisor mcp`
 * (the session's token in $CLAW_MCP_TOKEN); and `claw-supervisor mcp-config <sessionId>`: the config.toml
 * snippet and `codex mcp add` line, with that session's token, for a session a person started.
 */
import path from "node:path";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";
import { connectBus } from "../bus/index.js";
import {
  EdgeIdentity,
  createEdgeServer,
  defaultSecretFile,
  ensureEdgeSecret,
  humanMcpConfig,
  sessionCaller,
} from "../mcp-edge/index.js";
import { optionValue, parseCommandArgs } from "./args.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { defaultStateDir } from "../clients/state-dir.js";
import { readUpFile, resolveNatsUrl } from "../clients/up-file.js";

const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name");
const SessionIdArg = z
  .string()
  .min(1, "needs a session id (the Codex thread id)")
  .max(200, "a session id is at most 200 characters");
const HttpUrl = z.url({ protocol: /^https?$/, error: "must be an http:// or https:// URL" });

const mcpUsage = `Usage: claw-supervisor mcp [--token-env VAR] [--secret-file FILE] [--state-dir DIR] [--nats-url URL]

Serves the MCP server openclaw-codex-supervisor on stdin/stdout for one Codex session, the one its token
names. Codex starts it: codex mcp add openclaw-codex-supervisor --env CLAW_MCP_TOKEN=<token> -- claw-supervisor mcp
(get the line from 'claw-supervisor mcp-config <sessionId>'). Logs go to stderr.

--token-env VAR     the variable holding the session's MCP token (default CLAW_MCP_TOKEN)
--secret-file FILE  the edge secret tokens are checked with (default <state-dir>/mcp-secret)
--state-dir DIR     default $CLAW_SUPERVISOR_STATE_DIR, else ~/.local/state/claw-supervisor
--nats-url URL      the supervisor's NATS server (default $NATS_URL, else the running 'up')`;

/** The `mcp` command (stdio transport). */
export const mcpCommand: Command = {
  name: "mcp",
  summary:
    "serve the openclaw-codex-supervisor MCP server on stdio for one Codex session (its token in $CLAW_MCP_TOKEN)",
  usage: mcpUsage,
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("mcp", argv, {
      "token-env": { type: "string" },
      "secret-file": { type: "string" },
      "state-dir": { type: "string" },
      "nats-url": { type: "string" },
    });
    if (values.help) {
      io.stdout(`${mcpUsage}\n`);
      return 0;
    }
    if (positionals.length)
      throw new CliError(`mcp takes no arguments, got '${positionals[0]}'. See 'claw-supervisor mcp --help'.`, 2);
    const tokenEnv = optionValue("token-env", EnvName, values["token-env"] ?? "CLAW_MCP_TOKEN");
    const token = io.env[tokenEnv]?.trim();
    if (!token)
      throw new CliError(`no MCP token in $${tokenEnv}: get one with 'claw-supervisor mcp-config <sessionId>'`, 2);
    const stateDir = values["state-dir"] ? path.resolve(values["state-dir"]) : defaultStateDir(io.env);
    const secret = await ensureEdgeSecret(values["secret-file"] ?? defaultSecretFile(stateDir), false).catch(
      (err: Error) => {
        throw new CliError(err.message);
      },
    );
    const natsUrl = resolveNatsUrl(values["nats-url"], io.env);
    if (!natsUrl)
      throw new CliError("no NATS server: pass --nats-url URL, set NATS_URL, or run 'claw-supervisor up'", 2);
    const nc = await connectBus({ servers: natsUrl, name: "claw-supervisor-mcp" }).catch((err: Error) => {
      throw new CliError(`cannot connect to NATS at ${natsUrl}: ${err.message}`);
    });
    try {
      const who = await new EdgeIdentity(nc, secret).resolve(token);
      if (!who.ok) throw new CliError(`$${tokenEnv}: ${who.message}`);
      const server = createEdgeServer(sessionCaller(nc, who.sessionId));
      const transport = new StdioServerTransport();
      const closed = new Promise<string>((resolve) => (transport.onclose = () => resolve("stdin closed")));
      await server.connect(transport);
      io.stderr(`claw-supervisor mcp: serving session ${who.sessionId} on stdio\n`);
      await Promise.race([closed, io.stopRequested]);
      await server.close();
    } finally {
      await nc.drain().catch(() => nc.close());
    }
    return 0;
  },
};

const configUsage = `Usage: claw-supervisor mcp-config <sessionId> [--url URL] [--secret-file FILE] [--state-dir DIR] [--json]

Prints what attaches the MCP server openclaw-codex-supervisor to one Codex session a person started: a
config.toml table for the HTTP edge (with the session's token and its tools approved in advance) and the
'codex mcp add' line for the stdio form. The token acts as that session only.

--url URL           the HTTP edge (default: the running 'up''s, else http://127.0.0.1:7411/mcp)
--secret-file FILE  the edge secret (default <state-dir>/mcp-secret)
--json              print {sessionId, token, toml, mcpAdd} as one JSON line`;

/** The `mcp-config` command. */
export const mcpConfigCommand: Command = {
  name: "mcp-config",
  summary: "print the config.toml snippet and 'codex mcp add' line attaching the MCP server to one session",
  usage: configUsage,
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("mcp-config", argv, {
      url: { type: "string" },
      "secret-file": { type: "string" },
      "state-dir": { type: "string" },
      json: { type: "boolean" },
    });
    if (values.help) {
      io.stdout(`${configUsage}\n`);
      return 0;
    }
    if (positionals.length > 1)
      throw new CliError(
        `mcp-config takes one session id, got ${positionals.length}. See 'claw-supervisor mcp-config --help'.`,
        2,
      );
    const parsedId = SessionIdArg.safeParse(positionals[0] ?? "");
    if (!parsedId.success)
      throw new CliError(
        `mcp-config ${parsedId.error.issues[0]!.message}. See 'claw-supervisor mcp-config --help'.`,
        2,
      );
    const stateDir = values["state-dir"] ? path.resolve(values["state-dir"]) : defaultStateDir(io.env);
    const url = optionValue("url", HttpUrl, values.url ?? readUpFile(stateDir)?.mcpUrl ?? "http://127.0.0.1:7411/mcp");
    const secret = await ensureEdgeSecret(values["secret-file"] ?? defaultSecretFile(stateDir), false).catch(
      (err: Error) => {
        throw new CliError(err.message);
      },
    );
    const c = humanMcpConfig(url, secret, parsedId.data);
    io.stdout(
      values.json
        ? `${JSON.stringify({ sessionId: parsedId.data, ...c })}\n`
        : [
            `# ~/.codex/config.toml (or $CODEX_HOME/config.toml), for session ${parsedId.data}:`,
            c.toml,
            "# or, over stdio:",
            c.mcpAdd,
            "",
          ].join("\n"),
    );
    return 0;
  },
};
