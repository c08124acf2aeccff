/**
 * `claw-supervisor token create|revoke|list`: host tokens in KV `codex-host-tokens`, through the policy service
 * (`codex.admin.token.*`), which writes the bucket and audits each change with the operator: operator
 * credentials can neither write nor read it themselves. `create` mints the token here and sends only its id and
 * SHA-256, so the secret never crosses the bus; it is printed once, and nothing can show it again.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { z } from "zod";
import {
  TokenCreateResult,
  TokenListResult,
  TokenRevokeResult,
  type PublicHostToken,
} from "../../schemas/admin-tokens.js";
import type { CommandFailure } from "../../schemas/commands.js";
import { GatewayError, HostIdSchema, mintHostToken } from "../rpc-gateway/index.js";
import { parseCommandArgs } from "./args.js";
import { defaultCallerId } from "./command-client.js";
import { cliBusUrl, connectCli } from "./connection.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { jsonOk } from "./output.js";
import { closest } from "./suggest.js";
import { askPolicyAdmin } from "./admin-answer.js";

const usage = `Usage: claw-supervisor token <create|revoke|list> [options]

Creates, revokes and lists the tokens host agents use to dial the rpc-gateway. A token is scoped to one
host id; only its SHA-256 is stored, so the secret is printed once, by 'create'. The token is minted here:
only its id and SHA-256 leave this process.

  token create <hostId>                 mint a token for <hostId> and print it once
  token revoke <hostId> [--token-id ID] revoke every active token of <hostId> (or only token ID);
                                        live connections using it are cut at once
  token list [--host HOSTID]            token ids, hosts, created and revoked times (never secrets)

All three ask the policy service, which keeps the tokens and records each change, with --caller, in the
audit trail: they need 'claw-supervisor up' or 'service policy' running.

--nats-url URL   the supervisor's NATS server (default $NATS_URL, else the running 'up')
--caller ID      the operator id recorded in the audit trail (default $USER@host)
--json           print {"ok":true,"data":...} on one line instead of text (times as ISO-8601 strings)`;

const ACTIONS = ["create", "revoke", "list"] as const;
const options = {
  "nats-url": { type: "string" },
  "token-id": { type: "string" },
  host: { type: "string" },
  caller: { type: "string" },
  json: { type: "boolean" },
} as const;

/** A host id as the gateway accepts it, or a usage error (naming the option when it came from one). */
function validHostId(hostId: string, option?: string): string {
  const valid = HostIdSchema.safeParse(hostId);
  if (!valid.success)
    throw new CliError(
      `${option === undefined ? "" : `--${option}: `}invalid host id ${JSON.stringify(hostId)}: ${valid.error.issues[0]?.message}`,
      2,
    );
  return hostId;
}

const iso = (ms: number | null): string => (ms === null ? "-" : new Date(ms).toISOString());
const publicRecord = (r: PublicHostToken): PublicHostToken => ({
  tokenId: r.tokenId,
  hostId: r.hostId,
  createdAtMs: r.createdAtMs,
  revokedAtMs: r.revokedAtMs,
});

/** Where to put a new token on its host: a file only the host agent's user can read. */
function createdText(hostId: string, tokenId: string, token: string): string {
  return [
    `Created host token ${tokenId} for host ${hostId}. This is the only time the secret is shown:`,
    "",
    `  ${token}`,
    "",
    `On host ${hostId}, store it in the host agent's token file, readable only by the agent's user (mode 0600):`,
    `  mkdir -p ~/.config/claw-supervisor && (umask 077 && printf '%s\\n' '${token}' > ~/.config/claw-supervisor/host-token)`,
    `Revoke it with: claw-supervisor token revoke ${hostId} --token-id ${tokenId}`,
    "",
  ].join("\n");
}

function listText(records: PublicHostToken[]): string {
  if (records.length === 0) return "no host tokens\n";
  const hostWidth = Math.max(4, ...records.map((r) => r.hostId.length));
  const header = `${"TOKEN ID".padEnd(18)}${"HOST".padEnd(hostWidth + 2)}${"CREATED".padEnd(26)}REVOKED`;
  const rows = records.map(
    (r) =>
      `${r.tokenId.padEnd(18)}${r.hostId.padEnd(hostWidth + 2)}${iso(r.createdAtMs).padEnd(26)}${iso(r.revokedAtMs)}`,
  );
  return [header, ...rows, ""].join("\n");
}

async function withBus<T>(
  natsUrl: string,
  env: NodeJS.ProcessEnv,
  run: (nc: NatsConnection) => Promise<T>,
): Promise<T> {
  const nc = await connectCli(natsUrl, env);
  try {
    return await run(nc);
  } catch (err) {
    if (err instanceof GatewayError) throw new CliError(err.message, err.code === "invalid_host_id" ? 2 : 1);
    throw err;
  } finally {
    await nc.close();
  }
}

/** Asks the policy service's token path (`askPolicyAdmin`). */
function askPolicy<T extends { ok: true } | CommandFailure>(
  nc: NatsConnection,
  op: "create" | "revoke" | "list",
  body: Record<string, unknown>,
  reply: z.ZodType<T>,
): Promise<Extract<T, { ok: true }>> {
  return askPolicyAdmin(nc, "token", op, body, reply, "claw-supervisor token list");
}

function oneHostId(verb: string, positionals: string[]): string {
  if (positionals.length !== 1) {
    throw new CliError(
      `token ${verb} takes exactly one host id, got ${positionals.length}. See 'claw-supervisor token --help'.`,
      2,
    );
  }
  return positionals[0] as string;
}

/** The `token` command. */
export const tokenCommand: Command = {
  name: "token",
  summary: "create, revoke or list host tokens (for host agents dialling the rpc-gateway)",
  usage,
  options: Object.keys(options),
  actions: ACTIONS,
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("token", argv, options);
    const [verb, ...rest] = positionals;
    if (values.help) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    if (verb === undefined)
      throw new CliError("token needs an action: create, revoke or list. See 'claw-supervisor token --help'.", 2);
    if (!(ACTIONS as readonly string[]).includes(verb)) {
      const guess = closest(verb, ACTIONS);
      throw new CliError(
        `unknown token action '${verb}'${guess ? ` (did you mean '${guess}'?)` : ""}; expected create, revoke or list. See 'claw-supervisor token --help'.`,
        2,
      );
    }
    if (values["token-id"] !== undefined && verb !== "revoke")
      throw new CliError("--token-id applies to 'token revoke' only", 2);
    if (values.host !== undefined && verb !== "list") throw new CliError("--host applies to 'token list' only", 2);
    const natsUrl = cliBusUrl(values["nats-url"], io.env);
    const print = (data: unknown, text: string): void => io.stdout(values.json ? jsonOk(data, true) : text);

    const caller = { role: "operator" as const, id: values.caller ?? defaultCallerId(io.env) };
    if (verb === "create") {
      const hostId = validHostId(oneHostId(verb, rest));
      // Minted here: only its id and SHA-256 go to the policy service, so the secret never crosses the bus.
      const minted = mintHostToken(hostId, Date.now());
      const { tokenId, sha256 } = minted.record;
      const { record } = await withBus(natsUrl, io.env, (nc) =>
        askPolicy(nc, "create", { caller, hostId, tokenId, sha256 }, TokenCreateResult),
      );
      print({ ...publicRecord(record), token: minted.token }, createdText(hostId, record.tokenId, minted.token));
      return 0;
    }
    if (verb === "revoke") {
      const hostId = validHostId(oneHostId(verb, rest));
      const tokenId = values["token-id"];
      const { revoked } = await withBus(natsUrl, io.env, (nc) =>
        askPolicy(nc, "revoke", { caller, hostId, ...(tokenId === undefined ? {} : { tokenId }) }, TokenRevokeResult),
      );
      print(
        { hostId, revoked: revoked.map(publicRecord) },
        `revoked ${revoked.length} token(s) of host ${hostId}: ${revoked.map((r) => r.tokenId).join(", ")}\n`,
      );
      return 0;
    }
    if (rest.length)
      throw new CliError(`token list takes no arguments, got '${rest[0]}'. See 'claw-supervisor token --help'.`, 2);
    if (values.host !== undefined) validHostId(values.host, "host");
    const { tokens: records } = await withBus(natsUrl, io.env, (nc) =>
      askPolicy(nc, "list", { caller, ...(values.host === undefined ? {} : { hostId: values.host }) }, TokenListResult),
    );
    print({ tokens: records.map(publicRecord) }, listText(records));
    return 0;
  },
};
