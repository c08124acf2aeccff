/**
 * `claw-supervisor mcp`: the edge over stdio, for `codex mcp add openclaw-codex-supervisor -- claw-supervisor mcp`
 * (the session's token in $CLAW_MCP_TOKEN); and `claw-supervisor mcp-config <sessionId>`: the config.toml
 * snippet and `codex mcp add` line, with a token of that session (only for a session the registry knows;
 * expiring after `--ttl`, a week by default), for a session a person started; `--revoke` revokes every token
 * of the session issued so far, by asking the policy service (`codex.admin.mcp.revoke`), which writes KV
 * `codex-mcp-revocations` and audits it with the operator: operator credentials do not write that bucket.
 */
import { randomUUID } from "node:crypto";
import path from "node:path";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";
import { connectBus, subjects } from "../bus/index.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { McpRevokeResult } from "../../schemas/admin-mcp.js";
import { McpSessionRef, McpTokenTtl } from "../../schemas/mcp-tools.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { requestAdmin } from "../clients/admin-request.js";
import { querySession } from "../clients/registry-queries.js";
import { defaultStateDir } from "../clients/state-dir.js";
import { type BusLogin, loginForUrl, upBusLogin } from "../clients/bus-credentials.js";
import { readUpFile } from "../clients/up-file.js";
import {
  EdgeIdentity,
  checkedCaller,
  createEdgeServer,
  defaultSecretFile,
  ensureEdgeSecret,
  humanMcpConfig,
  sessionCaller,
} from "../mcp-edge/index.js";
import { optionValue, parseCommandArgs } from "./args.js";
import { DEFAULT_COMMAND_TIMEOUT_MS, defaultCallerId } from "./command-client.js";
import { cliBusUrl, connectCli } from "./connection.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { jsonOk } from "./output.js";
import { adminAnswerError, adminFailureError } from "./admin-answer.js";

const EnvName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "must be an environment variable name");
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
  options: ["token-env", "secret-file", "state-dir", "nats-url"],
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
    const natsUrl = cliBusUrl(values["nats-url"], io.env, stateDir);
    // On the running up's bus the edge logs in as its `client` user, as the HTTP edge does.
    let login: BusLogin | undefined;
    try {
      login = loginForUrl(natsUrl, "client", io.env, stateDir);
    } catch (err) {
      throw new CliError((err as Error).message);
    }
    // Asked again at every redial: the password goes only to up's own nats-server, never to whoever holds the
    // port while up is stopped; then the connection closes and the edge stops, saying why.
    const nc = await connectBus({
      servers: natsUrl,
      name: "claw-supervisor-mcp",
      ...(login ? upBusLogin(natsUrl, "client", stateDir) : {}),
    }).catch((err: Error) => {
      throw new CliError(`cannot connect to NATS at ${natsUrl}: ${err.message}`);
    });
    try {
      const identity = new EdgeIdentity(nc, secret);
      const who = await identity.resolve(token);
      if (!who.ok) throw new CliError(`$${tokenEnv}: ${who.message}`);
      // Checked again before every call, as the HTTP edge checks every request: expiry, revocation, the session.
      const caller = checkedCaller(sessionCaller(nc, who.sessionId), () => identity.resolve(token));
      const server = createEdgeServer(caller);
      const transport = new StdioServerTransport();
      const closed = new Promise<string>((resolve) => (transport.onclose = () => resolve("stdin closed")));
      await server.connect(transport);
      io.stderr(`claw-supervisor mcp: serving session ${who.sessionId} on stdio\n`);
      const lost = nc.closed().then((err) => err ?? new Error("the connection to the bus was closed"));
      const end = await Promise.race([closed, io.stopRequested, lost]);
      await server.close();
      if (end instanceof Error) throw new CliError(`lost the bus: ${end.message}`);
    } finally {
      await nc.drain().catch(() => nc.close());
    }
    return 0;
  },
};

const configUsage = `Usage: claw-supervisor mcp-config <sessionId> [--ttl DURATION] [--url URL] [--json] [options]
       claw-supervisor mcp-config <sessionId> --revoke [--caller ID] [--json] [options]

Prints what attaches the MCP server openclaw-codex-supervisor to one Codex session a person started: a
config.toml table for the HTTP edge (with a token of the session and its tools approved in advance) and the
'codex mcp add' line for the stdio form. The token acts as that session only, and only while the registry
knows the session; it expires after --ttl (a week by default): then print a new one. <sessionId> is the
session's thread id as 'claw-supervisor sessions' shows it (a whole id, not a prefix), or <hostId>/<threadId>.

With --revoke, every token of the session issued until now is refused at once (sessions started by spawn lose
the supervisor's tools); a token printed afterwards works. The policy service stores the revocation and records
it, with --caller, in the audit trail: it needs 'claw-supervisor up' or 'service policy' running.

--ttl DURATION      how long the token is valid: 30m, 12h, 7d... (default 7d, at most 366d)
--revoke            revoke the session's tokens instead of printing one
--caller ID         who revokes, as the audit trail records it (default $USER@host)
--url URL           the HTTP edge (default: the running 'up''s, else http://127.0.0.1:7411/mcp)
--secret-file FILE  the edge secret (default <state-dir>/mcp-secret)
--state-dir DIR     default $CLAW_SUPERVISOR_STATE_DIR, else ~/.local/state/claw-supervisor
--nats-url URL      the supervisor's NATS server (default $NATS_URL, else the running 'up')
--json              print {"ok":true,"data":{sessionId, hostId, token, expiresAt, toml, mcpAdd}} (with
                    --revoke: data {sessionId, hostId, revokedAt, by}) as one JSON line

Exit codes: 0 done, 1 a local failure (no secret, no bus, no registry answering), 2 usage (a bad session id
or option), 4 no such session in the registry, 8 (--revoke) no policy service answering (nothing was revoked),
none answering in time, or it could not store the revocation.`;

const usageHint = "See 'claw-supervisor mcp-config --help'.";
const iso = (ms: number) => new Date(ms).toISOString();

/** The registry's record of the session `ref` names; exits 4 when it knows none (no prefix matching). */
async function registeredSession(nc: NatsConnection, ref: McpSessionRef, shown: string): Promise<SessionRecord> {
  const answer = await querySession(
    nc,
    ref.hostId ? { host: ref.hostId, sessionId: ref.sessionId } : { sessionId: ref.sessionId },
  );
  if (!answer.ok) {
    // The one usage error the registry can answer: a thread id known on several hosts.
    if (answer.code === "invalid" && /give host/.test(answer.message))
      throw new CliError(`${answer.message}: name it as <hostId>/${ref.sessionId}. ${usageHint}`, 2);
    throw new CliError(answer.message);
  }
  if (!answer.value)
    throw new CliError(
      `no session ${shown} in the registry: give a whole session id as 'claw-supervisor sessions' shows it`,
      4,
    );
  return answer.value;
}

/** The `mcp-config` command. */
export const mcpConfigCommand: Command = {
  name: "mcp-config",
  summary:
    "print the config.toml snippet and 'codex mcp add' line attaching the MCP server to one session (--revoke: revoke its tokens)",
  usage: configUsage,
  options: ["ttl", "revoke", "caller", "url", "secret-file", "state-dir", "nats-url", "json"],
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("mcp-config", argv, {
      ttl: { type: "string" },
      revoke: { type: "boolean" },
      caller: { type: "string" },
      url: { type: "string" },
      "secret-file": { type: "string" },
      "state-dir": { type: "string" },
      "nats-url": { type: "string" },
      json: { type: "boolean" },
    });
    if (values.help) {
      io.stdout(`${configUsage}\n`);
      return 0;
    }
    if (positionals.length > 1)
      throw new CliError(`mcp-config takes one session id, got ${positionals.length}. ${usageHint}`, 2);
    const parsedRef = McpSessionRef.safeParse(positionals[0] ?? "");
    if (!parsedRef.success) throw new CliError(`mcp-config ${parsedRef.error.issues[0]!.message}. ${usageHint}`, 2);
    const ref = parsedRef.data;
    const shown = positionals[0]!;
    if (values.revoke && values.ttl !== undefined)
      throw new CliError(`--ttl does not go with --revoke. ${usageHint}`, 2);
    if (!values.revoke && values.caller !== undefined)
      throw new CliError(`--caller goes only with --revoke. ${usageHint}`, 2);
    const ttlMs = values.ttl === undefined ? undefined : optionValue("ttl", McpTokenTtl, values.ttl);
    const by = optionValue("caller", z.string().min(1).max(200), values.caller ?? defaultCallerId(io.env));
    const stateDir = values["state-dir"] ? path.resolve(values["state-dir"]) : defaultStateDir(io.env);
    const up = readUpFile(stateDir);
    const url = values.revoke
      ? undefined
      : optionValue("url", HttpUrl, values.url ?? up?.mcpUrl ?? "http://127.0.0.1:7411/mcp");
    const secret = values.revoke
      ? undefined
      : await ensureEdgeSecret(values["secret-file"] ?? defaultSecretFile(stateDir), false).catch((err: Error) => {
          throw new CliError(err.message);
        });
    const natsUrl = cliBusUrl(values["nats-url"], io.env, stateDir);
    // The operator's login is read from the state dir this command was pointed at.
    const nc = await connectCli(natsUrl, { ...io.env, CLAW_SUPERVISOR_STATE_DIR: stateDir });
    try {
      if (values.revoke) return await revoke(nc, ref, shown, by, values.json === true, io);
      const record = await registeredSession(nc, ref, shown);
      const c = humanMcpConfig(url!, secret!, record.sessionId, { hostId: record.host, ttlMs });
      const name = `${record.host}/${record.sessionId}`;
      io.stdout(
        values.json
          ? jsonOk(
              {
                sessionId: record.sessionId,
                hostId: record.host,
                token: c.token,
                expiresAt: iso(c.expiresAtMs),
                toml: c.toml,
                mcpAdd: c.mcpAdd,
              },
              true,
            )
          : [
              `# ~/.codex/config.toml (or $CODEX_HOME/config.toml), for session ${name}; the token expires ${iso(c.expiresAtMs)}:`,
              c.toml,
              "# or, over stdio:",
              c.mcpAdd,
              "",
            ].join("\n"),
      );
      return 0;
    } finally {
      await nc.close().catch(() => undefined);
    }
  },
};

/**
 * `mcp-config --revoke`: the session must be known to the registry (a typo is exit 4, nothing sent); when no
 * registry answers the revocation is asked for anyway (it only ever takes access away) and a note says so. The
 * policy service stores it (`codex.admin.mcp.revoke`) and audits it with `by`; with none answering, exit 8 and
 * nothing changed.
 */
async function revoke(
  nc: NatsConnection,
  ref: McpSessionRef,
  shown: string,
  by: string,
  json: boolean,
  io: CliIo,
): Promise<number> {
  let hostId = ref.hostId;
  try {
    hostId = (await registeredSession(nc, ref, shown)).host;
  } catch (err) {
    if (!(err instanceof CliError) || err.exitCode !== 1) throw err;
    io.stderr(`mcp-config: ${err.message}; revoking anyway\n`);
  }
  const subject = subjects.admin("mcp", "revoke");
  const answer = await requestAdmin(
    nc,
    "mcp",
    "revoke",
    { caller: { role: "operator", id: by }, requestId: randomUUID(), sessionId: ref.sessionId, hostId },
    McpRevokeResult,
    DEFAULT_COMMAND_TIMEOUT_MS,
  );
  if (!answer.ok)
    throw adminAnswerError(answer, subject, {
      what: subject,
      nothingDone: "Nothing was revoked.",
      mayHaveDone: `the policy service did not answer ${subject}; the revocation may still be stored: run this again`,
    });
  if (!answer.reply.ok) throw adminFailureError(answer.reply, 2);
  const done = answer.reply;
  io.stdout(
    json
      ? jsonOk({ sessionId: done.sessionId, hostId, revokedAt: iso(done.revokedAt), by: done.by }, true)
      : `Revoked the MCP tokens of session ${done.sessionId} issued before ${iso(done.revokedAt)}: the edge refuses them from now on. Print a new one with 'claw-supervisor mcp-config ${shown}'.\n`,
  );
  return 0;
}
