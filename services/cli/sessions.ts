/**
 * `claw-supervisor sessions`: the fleet's sessions, asked of the registry over the bus (filters apply in the
 * registry, so only the matching sessions travel). Output in the style of `kubectl get`: a table with short
 * ids, `-o wide` for more columns, `-o json`/`--json` for `{ok,data:{sessions,total}}`, `--no-headers`, and
 * `--watch` for one line per change (session-watch.ts).
 */
import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { SessionStatus, type SessionFilter, type SessionRecord } from "../../schemas/registry.js";
import { ClawsResult } from "../../schemas/claw-groups.js";
import { CommandResult } from "../../schemas/commands.js";
// The light modules, not the bus/index.js barrel (nor command-client.ts, which loads it): see registry-queries.ts.
import { busRequest } from "../bus/requester.js";
import { subjects } from "../bus/subjects.js";
import { DEFAULT_QUERY_TIMEOUT_MS, listAllSessions } from "../clients/registry-queries.js";
import { defaultCallerId } from "./caller-id.js";
import { Milliseconds, optionValue, parseCommandArgs } from "./args.js";
import {
  NATS_URL_HELP,
  cliBusUrl,
  connectCli,
  queryFailure,
  reportBusStatus,
  untilStopOrClosed,
} from "./connection.js";
import { formatSessionsTable, sortSessions, unpricedFootnote, unpricedModels } from "./format.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { jsonOk } from "./output.js";

const usage = `Usage: claw-supervisor sessions [--host H] [--repo R] [--status S] [--group G] [--owner O] [--waiting]
                                [--human | --autonomous] [--sort cost|tokens] [--limit N] [-o wide|json] [--json]
                                [--no-headers] [--watch] [--nats-url URL] [--timeout MS]

Lists the fleet's sessions as the registry sees them: host, short id (any unique prefix of it, or of the
whole id, names the session in every command), workspace, status, what it waits for, group, owner, the
tokens it used and their cost, when it was last seen, and its summary (or first message).

--host H        only sessions on host H
--repo R        only sessions in repository R (origin URL or folder name, as the host agent reports it)
--status S      only sessions with status S (${SessionStatus.options.join(", ")})
--group G       only sessions in group G (set by 'assign --group' or 'spawn --group')
--owner O       only sessions owned by O (set by 'assign --owner')
--waiting       only sessions waiting on an approval or input, or holding an unanswered ask
--human         only sessions a person's TUI is attached to
--autonomous    only sessions the supervisor started
--sort S        biggest spender first: cost (dollars; then unpriced sessions by tokens) or tokens
--limit N       show at most N sessions (with --sort: the N biggest)
-o wide         more columns: full id, repository, branch, mode (human/autonomous), model
-o json         print {"ok":true,"data":{"sessions":[...],"total":N}} (times as ISO-8601 strings); = --json
--no-headers    no header line
--watch         print the table, then one line per change (the row and what changed) until Ctrl-C;
                with --json one JSON line per change
--nats-url URL  ${NATS_URL_HELP}
--timeout MS    how long to wait for the registry (default ${DEFAULT_QUERY_TIMEOUT_MS})

NEEDS: approval, input, ask (an unanswered claw_ask), budget (a budget's stop to lift), escalated, handoff.
See also 'claw-supervisor attention'.
TOKENS: all the session used (input and output); COST: their price by the policy's budgets.prices, '?' for a
model with no price (named under the table), '-' before its first turn. Use against budgets:
'claw-supervisor budget'.`;

const Limit = z.coerce
  .number({ error: "must be a number" })
  .int("must be a whole number")
  .positive("must be greater than 0");
const Output = z.enum(["wide", "json"], { error: "must be wide or json" });
const Sort = z.enum(["cost", "tokens"], { error: "must be cost or tokens" });

/**
 * The Claw owning each session, from the policy service's `claws` answer (issue 18), when Claw groups are
 * configured; undefined otherwise, and whenever no answer comes (no policy service, a refusal, a timeout): the
 * registry's view is then listed as it always was.
 */
async function clawOwners(
  nc: NatsConnection,
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<ReadonlyMap<string, string> | undefined> {
  const body = {
    verb: "claws",
    caller: { id: defaultCallerId(env), role: "operator" },
    idempotencyKey: randomUUID(),
    args: {},
  };
  let answer: unknown;
  try {
    answer = (await busRequest(nc, subjects.command("claws"), JSON.stringify(body), { timeout: timeoutMs })).json();
  } catch {
    return undefined;
  }
  const result = CommandResult.safeParse(answer);
  if (!result.success || !result.data.ok) return undefined;
  const claws = ClawsResult.safeParse(result.data.data);
  if (!claws.success || !claws.data.configured) return undefined;
  return new Map(claws.data.sessions.map((s) => [s.sessionId, s.clawId]));
}

function textOf(
  sessions: SessionRecord[],
  total: number,
  filter: SessionFilter,
  o: {
    wide: boolean;
    headers: boolean;
    short: ReadonlyMap<string, string>;
    clawOwner?: ReadonlyMap<string, string> | undefined;
    maxWidth?: number | undefined;
  },
): string {
  const filtered = Object.keys(filter).length > 0 ? " matching the filter" : "";
  if (sessions.length === 0) return o.headers ? `no sessions${filtered}\n` : "";
  const more =
    total > sessions.length && o.headers ? `showing ${sessions.length} of ${total} sessions${filtered}\n` : "";
  // Footnotes only with headers: --no-headers output is rows alone, for scripts.
  const footnote = o.headers ? unpricedFootnote(unpricedModels(sessions)) : "";
  const { clawOwner, maxWidth, ...view } = o;
  return (
    formatSessionsTable(sessions, Date.now(), {
      ...view,
      ...(clawOwner === undefined ? {} : { clawOwner }),
      ...(maxWidth === undefined ? {} : { maxWidth }),
    }) +
    more +
    footnote
  );
}

/** The options `sessions` takes (the table of completions lists them too). */
const optionSpecs = {
  host: { type: "string" },
  repo: { type: "string" },
  status: { type: "string" },
  group: { type: "string" },
  owner: { type: "string" },
  waiting: { type: "boolean" },
  human: { type: "boolean" },
  autonomous: { type: "boolean" },
  sort: { type: "string" },
  limit: { type: "string" },
  output: { type: "string", short: "o" },
  json: { type: "boolean" },
  "no-headers": { type: "boolean" },
  watch: { type: "boolean" },
  "nats-url": { type: "string" },
  timeout: { type: "string" },
} as const;

/** The `sessions` command. */
export const sessionsCommand: Command = {
  name: "sessions",
  summary: "list the fleet's sessions (status, workspace, who drives them)",
  usage,
  options: Object.keys(optionSpecs),
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("sessions", argv, optionSpecs);
    if (values.help) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    if (positionals.length)
      throw new CliError(
        `sessions takes no arguments, got '${positionals[0]}'. See 'claw-supervisor sessions --help'.`,
        2,
      );
    if (values.human && values.autonomous) throw new CliError("--human and --autonomous cannot be combined", 2);
    const output = values.output === undefined ? undefined : optionValue("output", Output, values.output);
    const json = values.json === true || output === "json";
    const view = { wide: output === "wide", headers: !values["no-headers"] };
    const sort = values.sort === undefined ? undefined : optionValue("sort", Sort, values.sort);
    if (sort !== undefined && values.watch)
      throw new CliError("--sort orders a one-time list; --watch prints changes as they come (use one of them)", 2);
    const filter: SessionFilter = {
      ...(values.host === undefined ? {} : { host: values.host }),
      ...(values.repo === undefined ? {} : { repo: values.repo }),
      ...(values.status === undefined ? {} : { status: optionValue("status", SessionStatus, values.status) }),
      ...(values.group === undefined ? {} : { group: values.group }),
      ...(values.owner === undefined ? {} : { owner: values.owner }),
      ...(values.waiting ? { waiting: true } : {}),
      ...(values.human ? { humanAttached: true } : {}),
      ...(values.autonomous ? { autonomous: true } : {}),
    };
    const limit = values.limit === undefined ? Infinity : optionValue("limit", Limit, values.limit);
    const timeoutMs =
      values.timeout === undefined ? DEFAULT_QUERY_TIMEOUT_MS : optionValue("timeout", Milliseconds, values.timeout);
    const url = cliBusUrl(values["nats-url"], io.env);
    const nc = await connectCli(url);
    try {
      const print = (
        sessions: SessionRecord[],
        total: number,
        short: ReadonlyMap<string, string>,
        compact = false,
      ): void =>
        io.stdout(json ? jsonOk({ sessions, total }, compact) : textOf(sessions, total, filter, { ...view, short }));
      if (!values.watch) {
        // Who owns each session, asked of the policy service alongside the registry's list.
        const owners = clawOwners(nc, io.env, timeoutMs);
        // Sorted by spend, the N biggest need every session first: the registry lists in its own order.
        const listed = await listAllSessions(nc, filter, sort === undefined ? limit : Infinity, timeoutMs).catch(
          queryFailure,
        );
        const { total, shortIds: short } = listed;
        const sessions = sort === undefined ? listed.sessions : sortSessions(listed.sessions, sort).slice(0, limit);
        const clawOwner = await owners;
        if (clawOwner === undefined && json) print(sessions, total, short);
        else
          io.stdout(
            json
              ? jsonOk({
                  sessions: sessions.map((s) => ({ ...s, clawOwner: clawOwner?.get(s.sessionId) ?? null })),
                  total,
                })
              : textOf(sessions, total, filter, { ...view, short, clawOwner, maxWidth: io.columns }),
          );
        return 0;
      }
      // Only --watch loads the follower (and with it JetStream and KV): a one-shot list starts without them.
      const { SessionFollower } = await import("./session-watch.js");
      const follower = new SessionFollower(nc, {
        filter,
        limit,
        timeoutMs,
        json,
        ...view,
        io,
        printInitial: (sessions, total, short) => print(sessions, total, short, true),
      });
      await follower.start();
      const stopReporting = reportBusStatus(nc, io.stderr, {
        command: "claw-supervisor sessions",
        onBack: () => void follower.resync(),
      });
      const code = await untilStopOrClosed(nc, io, "claw-supervisor sessions");
      stopReporting();
      await follower.stop().catch(() => undefined);
      return code;
    } finally {
      await nc.close();
    }
  },
};
