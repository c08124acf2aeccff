/**
 * `claw-supervisor budget`: spend against the policy's budgets (issue 19), asked of the policy service (the
 * `budget` verb): each limit's use in its scope and period, each group's tokens and cost on a UTC day, the
 * sessions a budget stopped and the models without a price. `budget lift <session>` lets a stopped session go
 * on (the `budget-lift` verb: capability `budget`, audited with the operator's id).
 */
import { z } from "zod";
import {
  BudgetArgs,
  BudgetLiftArgs,
  BudgetLiftResult,
  BudgetReport,
  type BudgetUse,
  type GroupDayUsage,
} from "../../schemas/budget.js";
import { Caller, type CommandResult, issuesText } from "../../schemas/commands.js";
import { DEFAULT_QUERY_TIMEOUT_MS } from "../clients/registry-queries.js";
import { longShortId } from "../clients/session-ref.js";
import { Milliseconds, optionValue, parseCommandArgs } from "./args.js";
import { DEFAULT_COMMAND_TIMEOUT_MS, EXIT_CODES, defaultCallerId, sendCommand } from "./command-client.js";
import { NATS_URL_HELP, cliBusUrl, connectCli } from "./connection.js";
import { alignedLine, columnWidths, costText, tokensText } from "./format.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { jsonFailure, jsonOk } from "./output.js";
import { resolveCommandTargets } from "./session-target.js";
import { closest } from "./suggest.js";

const ACTIONS = ["lift"] as const;

const usage = `Usage: claw-supervisor budget [--group G] [--day YYYY-MM-DD] [-o json] [--json] [--no-headers]
       claw-supervisor budget lift <session> [--limit ID] [--json] [--key KEY]
         (both) [--caller ID] [--nats-url URL] [--timeout MS]

Spend against the budgets of the policy document (budgets.limits), as the policy service counts it:

  LIMIT   the limit's id           SCOPE   one session (host/id), or a group whose sessions share the limit
  PERIOD  total, the UTC day (YYYY-MM-DD) or month (YYYY-MM) it counts
  TOKENS  used / the limit's maxTokens      COST  dollars used / maxCostUsd ('?': spend with no price)
  USE     the larger share of the two       STATE ok, warning (past warnAt: a budget-warning notice), over

then each group's sessions, tokens and cost on the day (today, UTC, unless --day), the sessions a budget
stopped, and the models with no price in budgets.prices (their spend counts in tokens only).

A stopped session had its turn interrupted and is marked blocked; send, reply and spawn to it are refused
with budget_exceeded (exit ${EXIT_CODES.budget_exceeded}). A person's TUI session over a limit is warned, not stopped, unless
the limit says stopPeople.

budget lift <session>   let a stopped session go on: its short id (as 'sessions' shows it), a unique
                        prefix or the whole id, optionally <host>/ before it. Needs the capability
                        'budget' (operator-all has it); the lift is in the audit trail with --caller.
--limit ID              (lift) lift that limit's stop (default: the session's current stop)

--group G       only limits and spend of group G
--day D         the UTC day to total, YYYY-MM-DD (default today)
-o json         print {"ok":true,"data":{"day","limits","groups","stopped","unpricedModels"}}; = --json
--json          print the result as JSON
--no-headers    the tables without their header lines, and no other text
--caller ID     the operator id the policy service sees and audits (default $USER@host)
--key KEY       (lift) idempotency key: the same key never runs twice (default: a new one)
--nats-url URL  ${NATS_URL_HELP}
--timeout MS    how long to wait for the policy service (default ${DEFAULT_QUERY_TIMEOUT_MS}; lift ${DEFAULT_COMMAND_TIMEOUT_MS})

Exit codes: 0 done, ${Object.entries(EXIT_CODES)
  .map(([c, n]) => `${n} ${c}`)
  .join(", ")}; 1 other failures, 2 usage errors. 'budget lift' of a session no budget stopped is a conflict.`;

const Output = z.enum(["json"], { error: "must be json" });

/** The options `budget` takes (the table of completions lists them too). */
const optionSpecs = {
  group: { type: "string" },
  day: { type: "string" },
  limit: { type: "string" },
  output: { type: "string", short: "o" },
  json: { type: "boolean" },
  "no-headers": { type: "boolean" },
  caller: { type: "string" },
  key: { type: "string" },
  "nats-url": { type: "string" },
  timeout: { type: "string" },
} as const;
const reportOnly = ["group", "day", "no-headers"] as const;
const liftOnly = ["limit", "key"] as const;

/** `h1/0195…0001` → `h1/000000000001`: a session as the budget tables name it (a ref every verb takes). Pure. */
export function sessionRef(hostId: string, sessionId: string): string {
  return `${hostId}/${longShortId(sessionId)}`;
}

/** A limit's scope as the table shows it: `group app`, `group (none)`, `session h1/000000000001`. Pure. */
export function scopeText(use: Pick<BudgetUse, "scope" | "scopeKey">): string {
  if (use.scope === "group") return `group ${use.scopeKey === "" ? "(none)" : use.scopeKey}`;
  // `<hostId>.<sessionId>`, as the registry keys a session (host ids have no dot).
  const dot = use.scopeKey.indexOf(".");
  return dot < 0
    ? `session ${use.scopeKey}`
    : `session ${sessionRef(use.scopeKey.slice(0, dot), use.scopeKey.slice(dot + 1))}`;
}

/** `used / max`, or `used` alone when the limit sets no max of this kind. Pure. */
function against(used: string, max: string | null): string {
  return max === null ? used : `${used} / ${max}`;
}

/** One row of the limits table. Pure. */
export function limitCells(u: BudgetUse): string[] {
  return [
    u.limitId,
    scopeText(u),
    u.periodKey,
    against(tokensText(u.tokens), u.maxTokens === null ? null : tokensText(u.maxTokens)),
    u.maxCostUsd === null && u.costUsd === null
      ? "-"
      : against(costText(u.costUsd), u.maxCostUsd === null ? null : costText(u.maxCostUsd)),
    `${Math.round(u.fraction * 100)}%`,
    u.state,
  ];
}

/** A group's cost on a day: `$4.12`, and `+?` after it when some of its spend has no price (`?` alone: none has). Pure. */
export function groupCostText(g: Pick<GroupDayUsage, "costUsd" | "unpriced">): string {
  if (!g.unpriced) return costText(g.costUsd);
  return g.costUsd === 0 ? "?" : `${costText(g.costUsd)}+?`;
}

function table(header: string[] | null, rows: string[][]): string[] {
  const all = header === null ? rows : [header, ...rows];
  const widths = columnWidths(all);
  return all.map((cells) => alignedLine(cells, widths));
}

/** What `budget` prints for a report (with headers: titles, totals and notes too). Pure. */
export function budgetReportText(r: BudgetReport, headers = true): string {
  const limits = table(
    headers ? ["LIMIT", "SCOPE", "PERIOD", "TOKENS", "COST", "USE", "STATE"] : null,
    r.limits.map(limitCells),
  );
  const groupRows = r.groups.map((g) => [
    g.group === "" ? "(none)" : g.group,
    String(g.sessions),
    tokensText(g.tokens),
    groupCostText(g),
  ]);
  if (!headers) {
    // Rows alone, for scripts: the limits, then the groups, then one `host/id<TAB>reason` per stopped session.
    const stopped = r.stopped.map((s) => `${sessionRef(s.hostId, s.sessionId)}\t${s.reason}`);
    return [...limits, ...table(null, groupRows), ...stopped].map((l) => `${l}\n`).join("");
  }
  const lines: string[] = [];
  lines.push(
    ...(r.limits.length === 0
      ? ["No limit has any use (or the policy sets none: budgets.limits)."]
      : [`Budgets (use in each limit's period; spend by group below is of ${r.day}):`, ...limits]),
    "",
  );
  if (r.groups.length === 0) lines.push(`No spend on ${r.day} (UTC).`);
  else {
    const tokens = r.groups.reduce((n, g) => n + g.tokens, 0);
    const cost = r.groups.reduce((n, g) => n + g.costUsd, 0);
    const sessions = r.groups.reduce((n, g) => n + g.sessions, 0);
    const all = { costUsd: cost, unpriced: r.groups.some((g) => g.unpriced) };
    lines.push(
      `Spend on ${r.day} (UTC): ${tokensText(tokens)} tokens, ${groupCostText(all)}, ${sessions} session${sessions === 1 ? "" : "s"}`,
      ...table(["GROUP", "SESSIONS", "TOKENS", "COST"], groupRows),
    );
  }
  if (r.stopped.length > 0) {
    lines.push(
      "",
      `Stopped by a budget (${r.stopped.length}): send, reply and spawn refused until 'claw-supervisor budget lift <session>'`,
    );
    const refs = r.stopped.map((s) => sessionRef(s.hostId, s.sessionId));
    const width = Math.max(...refs.map((x) => x.length));
    r.stopped.forEach((s, i) => void lines.push(`  ${(refs[i] as string).padEnd(width)}  ${s.reason}`));
  }
  if (r.unpricedModels.length > 0)
    lines.push(
      "",
      `? no price for ${r.unpricedModels.length === 1 ? "model" : "models"} ${r.unpricedModels.join(", ")}: their spend counts in tokens only (prices go in the policy document's budgets.prices)`,
    );
  return `${lines.join("\n")}\n`;
}

/** What `budget lift` prints. Pure. */
export function liftText(r: BudgetLiftResult): string {
  return `${sessionRef(r.hostId, r.sessionId)}: lifted budget stop ${r.lifted}; send, reply and spawn reach it again (audited)\n`;
}

/** Prints a typed failure (stderr, and JSON on stdout with --json) and returns its exit code. */
function failed(io: CliIo, name: string, result: Extract<CommandResult, { ok: false }>, json: boolean): number {
  const { ok: _, code, message, ...extra } = result;
  if (json) io.stdout(jsonFailure(code, message, extra));
  io.stderr(`claw-supervisor ${name}: ${code}: ${message}\n`);
  return EXIT_CODES[code];
}

/** The `budget` command. */
export const budgetCommand: Command = {
  name: "budget",
  summary: "spend against the budgets by limit, group and day; 'budget lift' lets a stopped session go on",
  usage,
  options: Object.keys(optionSpecs),
  actions: ACTIONS,
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("budget", argv, optionSpecs);
    if (values.help) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    const [action, ...rest] = positionals;
    if (action !== undefined && action !== "lift") {
      const guess = closest(action, ACTIONS);
      throw new CliError(
        `unknown budget action '${action}'${guess ? ` (did you mean '${guess}'?)` : ""}: 'budget' alone shows the report, 'budget lift <session>' lifts a stop. See 'claw-supervisor budget --help'.`,
        2,
      );
    }
    const lift = action === "lift";
    const misplaced = (lift ? reportOnly : liftOnly).find((name) => values[name] !== undefined);
    if (misplaced) throw new CliError(`--${misplaced} applies to 'budget${lift ? "" : " lift"}' only`, 2);
    const json = values.json === true || optionValue("output", Output.optional(), values.output) === "json";
    const callerId =
      values.caller === undefined ? defaultCallerId(io.env) : optionValue("caller", Caller.shape.id, values.caller);
    const timeoutMs =
      values.timeout === undefined
        ? lift
          ? DEFAULT_COMMAND_TIMEOUT_MS
          : DEFAULT_QUERY_TIMEOUT_MS
        : optionValue("timeout", Milliseconds, values.timeout);

    if (!lift) {
      if (rest.length)
        throw new CliError(`budget takes no arguments, got '${rest[0]}'. See 'claw-supervisor budget --help'.`, 2);
      const args = BudgetArgs.safeParse({
        ...(values.group === undefined ? {} : { group: values.group }),
        ...(values.day === undefined ? {} : { day: values.day }),
      });
      if (!args.success) throw new CliError(`--${issuesText(args.error)}`, 2);
      const nc = await connectCli(cliBusUrl(values["nats-url"], io.env));
      try {
        const result = await sendCommand(nc, "budget", args.data, { callerId, timeoutMs });
        if (!result.ok) return failed(io, "budget", result, json);
        const report = BudgetReport.safeParse(result.data);
        if (!report.success) throw new CliError("the policy service's answer to budget is not a budget report");
        io.stdout(json ? jsonOk(report.data) : budgetReportText(report.data, !values["no-headers"]));
        return 0;
      } finally {
        await nc.close();
      }
    }

    const [ref, ...extra] = rest;
    if (ref === undefined || ref === "")
      throw new CliError(
        "budget lift needs a session: its short id (as 'sessions' shows it), a unique prefix or the whole id, optionally <host>/ before it. See 'claw-supervisor budget --help'.",
        2,
      );
    if (extra.length)
      throw new CliError(
        `budget lift takes one session, got '${extra[0]}' too. See 'claw-supervisor budget --help'.`,
        2,
      );
    const slash = ref.indexOf("/");
    const target = slash < 0 ? { sessionId: ref } : { hostId: ref.slice(0, slash), sessionId: ref.slice(slash + 1) };
    const checked = BudgetLiftArgs.safeParse({
      target,
      ...(values.limit === undefined ? {} : { limitId: values.limit }),
    });
    if (!checked.success)
      throw new CliError(
        `invalid budget lift arguments: ${issuesText(checked.error)}. See 'claw-supervisor budget --help'.`,
        2,
      );
    const nc = await connectCli(cliBusUrl(values["nats-url"], io.env));
    try {
      const resolved = await resolveCommandTargets(nc, "budget lift", checked.data, { io, json, timeoutMs });
      if ("exitCode" in resolved) return resolved.exitCode;
      const result = await sendCommand(nc, "budget-lift", resolved.args, { callerId, key: values.key, timeoutMs });
      if (!result.ok) return failed(io, "budget lift", result, json);
      const lifted = BudgetLiftResult.safeParse(result.data);
      if (!lifted.success) throw new CliError("the policy service's answer to budget-lift is not a lift result");
      io.stdout(json ? jsonOk(lifted.data) : liftText(lifted.data));
      return 0;
    } finally {
      await nc.close();
    }
  },
};
