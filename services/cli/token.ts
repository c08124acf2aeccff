/**
 * `claw-supervisor token create|revoke|list`: host tokens in KV `codex-host-tokens`. A secret is printed
 * once, by `create`; nothing can show it again, since only its SHA-256 is stored.
 */
import type { HostTokenRecord } from "../../schemas/bus.js";
import { connectBus, type KvBucket } from "../bus/index.js";
import {
  GatewayError,
  createHostToken,
  listHostTokens,
  openHostTokenBucket,
  revokeHostToken,
} from "../rpc-gateway/index.js";
import { parseCommandArgs } from "./args.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { resolveNatsUrl } from "../clients/up-file.js";

const usage = `Usage: claw-supervisor token <create|revoke|list> [options]

Creates, revokes and lists the tokens host agents use to dial the rpc-gateway. A token is scoped to one
host id; only its SHA-256 is stored, so the secret is printed once, by 'create'.

  token create <hostId>                 mint a token for <hostId> and print it once
  token revoke <hostId> [--token-id ID] revoke every active token of <hostId> (or only token ID);
                                        live connections using it are cut at once
  token list [--host HOSTID]            token ids, hosts, created and revoked times (never secrets)

--nats-url URL   the supervisor's NATS server (default $NATS_URL, else the running 'up')
--json           print JSON instead of text`;

const iso = (ms: number | null): string => (ms === null ? "-" : new Date(ms).toISOString());
const publicRecord = (r: HostTokenRecord) => ({
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

function listText(records: HostTokenRecord[]): string {
  if (records.length === 0) return "no host tokens\n";
  const hostWidth = Math.max(4, ...records.map((r) => r.hostId.length));
  const header = `${"TOKEN ID".padEnd(18)}${"HOST".padEnd(hostWidth + 2)}${"CREATED".padEnd(26)}REVOKED`;
  const rows = records.map(
    (r) =>
      `${r.tokenId.padEnd(18)}${r.hostId.padEnd(hostWidth + 2)}${iso(r.createdAtMs).padEnd(26)}${iso(r.revokedAtMs)}`,
  );
  return [header, ...rows, ""].join("\n");
}

async function withTokenBucket<T>(natsUrl: string, run: (kv: KvBucket) => Promise<T>): Promise<T> {
  let nc: Awaited<ReturnType<typeof connectBus>>;
  try {
    nc = await connectBus({ servers: natsUrl, name: "claw-supervisor-token" });
  } catch (err) {
    throw new CliError(`cannot connect to NATS at ${natsUrl}: ${(err as Error).message}`);
  }
  try {
    return await run(await openHostTokenBucket(nc, { create: true }));
  } catch (err) {
    if (err instanceof GatewayError) throw new CliError(err.message, err.code === "invalid_host_id" ? 2 : 1);
    throw err;
  } finally {
    await nc.close();
  }
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
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("token", argv, {
      "nats-url": { type: "string" },
      "token-id": { type: "string" },
      host: { type: "string" },
      json: { type: "boolean" },
    });
    const [verb, ...rest] = positionals;
    if (values.help) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    if (verb === undefined)
      throw new CliError("token needs an action: create, revoke or list. See 'claw-supervisor token --help'.", 2);
    if (!["create", "revoke", "list"].includes(verb)) {
      throw new CliError(
        `unknown token action '${verb}'; expected create, revoke or list. See 'claw-supervisor token --help'.`,
        2,
      );
    }
    if (values["token-id"] !== undefined && verb !== "revoke")
      throw new CliError("--token-id applies to 'token revoke' only", 2);
    if (values.host !== undefined && verb !== "list") throw new CliError("--host applies to 'token list' only", 2);
    const natsUrl = resolveNatsUrl(values["nats-url"], io.env);
    if (!natsUrl)
      throw new CliError("no NATS server: pass --nats-url URL, set NATS_URL, or run 'claw-supervisor up'", 2);
    const print = (json: unknown, text: string): void => io.stdout(values.json ? `${JSON.stringify(json)}\n` : text);

    if (verb === "create") {
      const hostId = oneHostId(verb, rest);
      const { token, record } = await withTokenBucket(natsUrl, (kv) => createHostToken(kv, hostId));
      print({ ...publicRecord(record), token }, createdText(hostId, record.tokenId, token));
      return 0;
    }
    if (verb === "revoke") {
      const hostId = oneHostId(verb, rest);
      const tokenId = values["token-id"];
      const revoked = await withTokenBucket(natsUrl, async (kv) => {
        if (tokenId !== undefined) {
          const record = (await listHostTokens(kv)).find((r) => r.tokenId === tokenId);
          if (!record || record.hostId !== hostId) throw new CliError(`host ${hostId} has no token ${tokenId}`);
          return revokeHostToken(kv, { tokenId });
        }
        return revokeHostToken(kv, { hostId });
      });
      if (revoked.length === 0) throw new CliError(`host ${hostId} has no active token${tokenId ? ` ${tokenId}` : ""}`);
      print(
        { hostId, revoked: revoked.map(publicRecord) },
        `revoked ${revoked.length} token(s) of host ${hostId}: ${revoked.map((r) => r.tokenId).join(", ")}\n`,
      );
      return 0;
    }
    if (rest.length)
      throw new CliError(`token list takes no arguments, got '${rest[0]}'. See 'claw-supervisor token --help'.`, 2);
    const records = (await withTokenBucket(natsUrl, listHostTokens)).filter(
      (r) => values.host === undefined || r.hostId === values.host,
    );
    print({ tokens: records.map(publicRecord) }, listText(records));
    return 0;
  },
};
