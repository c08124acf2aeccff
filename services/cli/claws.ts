/**
 * `claw-supervisor claws`: the Claw groups of the policy document (`clawGroups`, issue 18), their Claws (live or
 * down, and when each last renewed its liveness lease) and which Claw owns which session, at which lease epoch.
 * Asked of the policy service as an operator (the `claws` command), which reads the policy and `codex-leases`.
 */
import { z } from "zod";
import { ClawsResult } from "../../schemas/claw-groups.js";
import { ClawsArgs, issuesText } from "../../schemas/commands.js";
import { DEFAULT_QUERY_TIMEOUT_MS } from "../clients/registry-queries.js";
import { Milliseconds, optionValue, parseCommandArgs } from "./args.js";
import { EXIT_CODES, defaultCallerId, sendCommand } from "./command-client.js";
import { NATS_URL_HELP, cliBusUrl, connectCli } from "./connection.js";
import { formatClawGroupsTable, formatClawSessionsTable } from "./format.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { jsonFailure, jsonOk } from "./output.js";

const usage = `Usage: claw-supervisor claws [--group G] [-o json] [--json] [--no-headers] [--caller ID]
                             [--nats-url URL] [--timeout MS]

Lists the Claw groups (the policy document's clawGroups), their Claws and which Claw owns which session:

  GROUP     PARENT (people: a root group, which escalates to 'claw-supervisor attention')
  CLAWS     each Claw of the group: live (renewing its liveness lease) or down, and when it last renewed
  SESSIONS  how many sessions the group's Claws own

and one row per owned session: its short id, the Claw owning it, its group, the lease's epoch (the fencing
token the Claw's commands carry), how long the lease has been held and when it was last renewed.

--group G       only group G: its Claws and the sessions it owns
-o json         print {"ok":true,"data":{"configured":...,"groups":[...],"claws":[...],"sessions":[...]}}; = --json
--no-headers    no header lines
--caller ID     the operator id the policy service sees (default $USER@host)
--nats-url URL  ${NATS_URL_HELP}
--timeout MS    how long to wait for the policy service (default ${DEFAULT_QUERY_TIMEOUT_MS})

Without clawGroups in the policy one Claw drives every session, and this says so.`;

/** What `claws` prints when the policy has no Claw groups (one line). */
export const NOT_CONFIGURED =
  "Claw groups are not configured: one Claw drives every session. To share sessions among several Claws, add clawGroups to the policy document ('claw-supervisor policy get > policy.json', edit, 'claw-supervisor policy set policy.json').";

const Output = z.enum(["json"], { error: "must be json" });

/** The options `claws` takes (the table of completions lists them too). */
const optionSpecs = {
  group: { type: "string" },
  output: { type: "string", short: "o" },
  json: { type: "boolean" },
  "no-headers": { type: "boolean" },
  caller: { type: "string" },
  "nats-url": { type: "string" },
  timeout: { type: "string" },
} as const;

/** The text `claws` prints for a result. Pure. */
export function clawsText(r: ClawsResult, headers = true): string {
  if (!r.configured) return `${NOT_CONFIGURED}\n`;
  const groups = formatClawGroupsTable(r, headers);
  const sessions =
    r.sessions.length === 0
      ? headers
        ? "no session is owned by a Claw\n"
        : ""
      : formatClawSessionsTable(r.sessions, headers);
  return `${groups}${headers ? "\n" : ""}${sessions}`;
}

/** The `claws` command. */
export const clawsCommand: Command = {
  name: "claws",
  summary: "list the Claw groups, their Claws (live or down) and which Claw owns which session",
  usage,
  options: Object.keys(optionSpecs),
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("claws", argv, optionSpecs);
    if (values.help) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    if (positionals.length)
      throw new CliError(`claws takes no arguments, got '${positionals[0]}'. See 'claw-supervisor claws --help'.`, 2);
    const json = values.json === true || optionValue("output", Output.optional(), values.output) === "json";
    const args = ClawsArgs.safeParse(values.group === undefined ? {} : { group: values.group });
    if (!args.success) throw new CliError(`--group: ${issuesText(args.error).replace(/^group: /, "")}`, 2);
    const timeoutMs =
      values.timeout === undefined ? DEFAULT_QUERY_TIMEOUT_MS : optionValue("timeout", Milliseconds, values.timeout);
    const nc = await connectCli(cliBusUrl(values["nats-url"], io.env));
    try {
      const result = await sendCommand(nc, "claws", args.data, {
        callerId: values.caller ?? defaultCallerId(io.env),
        timeoutMs,
      });
      if (!result.ok) {
        const { ok: _, code, message, ...extra } = result;
        if (json) io.stdout(jsonFailure(code, message, extra));
        io.stderr(`claw-supervisor claws: ${code}: ${message}\n`);
        return EXIT_CODES[result.code];
      }
      const parsed = ClawsResult.safeParse(result.data);
      if (!parsed.success) throw new CliError(`the policy service's answer to claws is not a claws result`);
      io.stdout(json ? jsonOk(parsed.data) : clawsText(parsed.data, !values["no-headers"]));
      return 0;
    } finally {
      await nc.close();
    }
  },
};
