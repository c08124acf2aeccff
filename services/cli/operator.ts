/**
 * `claw-supervisor operator add|list|revoke`: the people who may sign in to the web dashboard, in KV
 * `codex-operators`, through the policy service (`codex.admin.operator.*`), which writes the bucket and audits each
 * change with the operator who asked: operator credentials can neither write nor read it themselves. `add` mints
 * the token here and sends only its id and SHA-256, so the secret never crosses the bus; it is printed once.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import {
  OperatorAddResult,
  OperatorListResult,
  OperatorName,
  OperatorRevokeResult,
  OperatorRole,
  OperatorTokenId,
  type PublicOperator,
} from "../../schemas/admin-operators.js";
import type { CommandFailure } from "../../schemas/commands.js";
import { mintOperatorToken } from "../clients/operator-auth.js";
import { defaultStateDir } from "../clients/state-dir.js";
import { findRunningUp } from "../clients/up-file.js";
import { askPolicyAdmin } from "./admin-answer.js";
import { parseCommandArgs } from "./args.js";
import { defaultCallerId } from "./command-client.js";
import { cliBusUrl, connectCli } from "./connection.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { jsonOk } from "./output.js";
import { closest } from "./suggest.js";

const usage = `Usage: claw-supervisor operator <add|list|revoke> [options]

Adds, lists and revokes the people who may sign in to the web dashboard. Each gets a token of their own; only
its SHA-256 is stored, so the token is printed once, by 'add'. It is minted here: only its id and SHA-256
leave this process.

  operator add <name> --role operator|viewer   mint a token for <name> and print it once; an operator may use
                                               the controls the policy grants, a viewer only looks
  operator list                                names, roles, token ids, created and revoked times (never a secret)
  operator revoke <name> [--token ID]          revoke every active token of <name> (or only token ID); a
                                               dashboard signed in with it is signed out within seconds

A name is 1 to 64 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit; it is the
caller id the audit trail records for that person's dashboard commands. All three ask the policy service,
which keeps the tokens and records each change, with --caller, in the audit trail: they need
'claw-supervisor up' or 'service policy' running.

--nats-url URL   the supervisor's NATS server (default $NATS_URL, else the running 'up')
--caller ID      the operator id recorded in the audit trail (default $USER@host)
--json           print {"ok":true,"data":...} instead of text (times as ISO-8601 strings)`;

const ACTIONS = ["add", "list", "revoke"] as const;
type Action = (typeof ACTIONS)[number];
const options = {
  "nats-url": { type: "string" },
  role: { type: "string" },
  token: { type: "string" },
  caller: { type: "string" },
  json: { type: "boolean" },
} as const;

const iso = (ms: number | null): string => (ms === null ? "-" : new Date(ms).toISOString());

/** `value` checked by `schema`, or a usage error (exit 2) naming what it is. */
function valid<T>(what: string, schema: z.ZodType<T>, value: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw new CliError(`invalid ${what} ${JSON.stringify(value)}: ${parsed.error.issues[0]?.message}`, 2);
  return parsed.data;
}

/** The field of up.json that says where `up` serves the dashboard (read on its own: older files have none). */
const UpDashboard = z.object({ dashboardUrl: z.url().optional() });

/** The dashboard's address from the running `up` on this bus (its up.json `dashboardUrl`), if it has one. */
function dashboardUrl(env: NodeJS.ProcessEnv, natsUrl: string): string | undefined {
  const stateDir = defaultStateDir(env);
  const found = findRunningUp(stateDir);
  if (!found.ok || found.up.natsUrl !== natsUrl) return undefined;
  try {
    const parsed = UpDashboard.safeParse(JSON.parse(readFileSync(path.join(stateDir, "up.json"), "utf8")));
    return parsed.success ? parsed.data.dashboardUrl : undefined;
  } catch {
    return undefined;
  }
}

function addedText(record: PublicOperator, token: string, url: string | undefined): string {
  return [
    `Added ${record.role} ${record.name} with token ${record.tokenId}. This is the only time the token is shown:`,
    "",
    `  ${token}`,
    "",
    url === undefined
      ? "To sign in, open the dashboard (the 'dashboard:' line of 'claw-supervisor up') and paste the token."
      : `To sign in, open ${url} and paste the token.`,
    `Revoke it with: claw-supervisor operator revoke ${record.name} --token ${record.tokenId}`,
    "",
  ].join("\n");
}

function listText(records: PublicOperator[]): string {
  if (records.length === 0) return "no operators\n";
  const nameWidth = Math.max(4, ...records.map((r) => r.name.length));
  const header = `${"NAME".padEnd(nameWidth + 2)}${"ROLE".padEnd(10)}${"TOKEN ID".padEnd(18)}${"CREATED".padEnd(26)}${"REVOKED".padEnd(26)}BY`;
  const rows = records.map(
    (r) =>
      `${r.name.padEnd(nameWidth + 2)}${r.role.padEnd(10)}${r.tokenId.padEnd(18)}${iso(r.createdAtMs).padEnd(26)}${iso(r.revokedAtMs).padEnd(26)}${r.createdBy}`,
  );
  return [header, ...rows, ""].join("\n");
}

/** Asks the policy service's operator ops (`askPolicyAdmin`) on a connection of its own. */
async function askPolicy<T extends { ok: true } | CommandFailure>(
  natsUrl: string,
  env: NodeJS.ProcessEnv,
  op: Action,
  body: Record<string, unknown>,
  reply: z.ZodType<T>,
): Promise<Extract<T, { ok: true }>> {
  const nc: NatsConnection = await connectCli(natsUrl, env);
  try {
    return await askPolicyAdmin(nc, "operator", op, body, reply, "claw-supervisor operator list");
  } finally {
    await nc.close();
  }
}

/** The action and its arguments, checked before anything touches the bus (bad ones exit 2). */
function parseAction(
  positionals: string[],
  values: { role?: string; token?: string },
):
  | { verb: "add"; name: string; role: OperatorRole }
  | { verb: "list" }
  | { verb: "revoke"; name: string; tokenId?: string } {
  const [verb, ...rest] = positionals;
  if (verb === undefined)
    throw new CliError("operator needs an action: add, list or revoke. See 'claw-supervisor operator --help'.", 2);
  if (!(ACTIONS as readonly string[]).includes(verb)) {
    const guess = closest(verb, ACTIONS);
    throw new CliError(
      `unknown operator action '${verb}'${guess ? ` (did you mean '${guess}'?)` : ""}; expected add, list or revoke. See 'claw-supervisor operator --help'.`,
      2,
    );
  }
  if (values.role !== undefined && verb !== "add") throw new CliError("--role applies to 'operator add' only", 2);
  if (values.token !== undefined && verb !== "revoke")
    throw new CliError("--token applies to 'operator revoke' only", 2);
  if (verb === "list") {
    if (rest.length)
      throw new CliError(
        `operator list takes no arguments, got '${rest[0]}'. See 'claw-supervisor operator --help'.`,
        2,
      );
    return { verb };
  }
  if (rest.length !== 1)
    throw new CliError(
      `operator ${verb} takes exactly one name, got ${rest.length}. See 'claw-supervisor operator --help'.`,
      2,
    );
  const name = valid("operator name", OperatorName, rest[0] as string);
  if (verb === "add") {
    if (values.role === undefined)
      throw new CliError(
        "operator add needs --role operator or --role viewer. See 'claw-supervisor operator --help'.",
        2,
      );
    return { verb, name, role: valid("--role", OperatorRole, values.role) };
  }
  return {
    verb: "revoke",
    name,
    ...(values.token === undefined ? {} : { tokenId: valid("--token id", OperatorTokenId, values.token) }),
  };
}

/** The `operator` command. */
export const operatorCommand: Command = {
  name: "operator",
  summary: "add, list or revoke the people who may sign in to the web dashboard (role operator or viewer)",
  usage,
  options: Object.keys(options),
  actions: ACTIONS,
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("operator", argv, options);
    if (values.help) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    const action = parseAction(positionals, values);
    const natsUrl = cliBusUrl(values["nats-url"], io.env);
    const print = (data: unknown, text: string): void => io.stdout(values.json ? jsonOk(data) : text);
    const caller = { role: "operator" as const, id: values.caller ?? defaultCallerId(io.env) };

    if (action.verb === "add") {
      // Minted here: only its id and SHA-256 go to the policy service, so the secret never crosses the bus.
      const { token, tokenId, sha256 } = mintOperatorToken();
      const { record } = await askPolicy(
        natsUrl,
        io.env,
        "add",
        { caller, name: action.name, role: action.role, tokenId, sha256 },
        OperatorAddResult,
      );
      const url = dashboardUrl(io.env, natsUrl);
      print({ ...record, token, ...(url === undefined ? {} : { dashboardUrl: url }) }, addedText(record, token, url));
      return 0;
    }
    if (action.verb === "revoke") {
      const { revoked } = await askPolicy(
        natsUrl,
        io.env,
        "revoke",
        { caller, name: action.name, ...(action.tokenId === undefined ? {} : { tokenId: action.tokenId }) },
        OperatorRevokeResult,
      );
      print(
        { name: action.name, revoked },
        `revoked ${revoked.length} token(s) of operator ${action.name}: ${revoked.map((r) => r.tokenId).join(", ")}\n`,
      );
      return 0;
    }
    const { operators } = await askPolicy(natsUrl, io.env, "list", { caller }, OperatorListResult);
    print({ operators }, listText(operators));
    return 0;
  },
};
