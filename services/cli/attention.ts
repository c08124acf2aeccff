/**
 * `claw-supervisor attention`: what needs a person, oldest first, one row per reason (services/clients/
 * attention.ts): an approval or input a session waits on, an unanswered ask, a budget's stop, an escalation that
 * reached people, a handoff request, an error, a stale or unknown session. The registry filters (`attention: true`), so only those sessions travel.
 */
import type { SessionFilter, SessionRecord } from "../../schemas/registry.js";
import { type AttentionReason, attentionReasons } from "../clients/attention.js";
import { DEFAULT_QUERY_TIMEOUT_MS, listAllSessions } from "../clients/registry-queries.js";
import { shortIds } from "../clients/session-ref.js";
import { Milliseconds, optionValue, parseCommandArgs } from "./args.js";
import {
  NATS_URL_HELP,
  cliBusUrl,
  connectCli,
  queryFailure,
  reportBusStatus,
  untilStopOrClosed,
} from "./connection.js";
import { type AttentionRow, attentionHint, formatAttentionTable } from "./format.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { jsonOk } from "./output.js";
import { SessionFollower } from "./session-watch.js";
import { z } from "zod";

const usage = `Usage: claw-supervisor attention [--host H] [--group G] [--owner O] [-o json] [--json] [--no-headers]
                                 [--watch] [--nats-url URL] [--timeout MS]

Lists what needs a person, oldest first, one row per reason:
  approval  a session waits on an approval (held for an answer: 'approve|decline <session> <request>')
  input     a session waits on its user's input
  ask       a session asked (claw_ask) and has no answer yet: 'reply <session> --correlation <id> <text>'
  budget    a budget stopped a session (send, reply and spawn refused): 'budget lift <session>' lets it go on
  escalated an escalation went up the Claw groups to people and no Claw accepted it
  handoff   a session was handed off and is not marked done or abandoned
  error     a session failed
  stale     a session's host or app-server is not heard from (status stale or unknown)

--host H        only sessions on host H
--group G       only sessions in group G
--owner O       only sessions owned by O
-o json         print {"ok":true,"data":{"items":[...]}} (times as ISO-8601 strings); = --json
--no-headers    no header line
--watch         print the list, then one line per reason as it comes or clears, until Ctrl-C
--nats-url URL  ${NATS_URL_HELP}
--timeout MS    how long to wait for the registry (default ${DEFAULT_QUERY_TIMEOUT_MS})`;

const Output = z.enum(["json"], { error: "must be json" });

/**
 * The rows of `sessions`, one per reason, oldest first (ties in host, session order), with the short ids the
 * registry gave (unique fleet-wide; default: unique among `sessions`). Pure.
 */
export function attentionRows(
  sessions: readonly SessionRecord[],
  short: ReadonlyMap<string, string> = shortIds(sessions.map((s) => s.sessionId)),
) {
  const rows: AttentionRow[] = sessions.flatMap((r) =>
    attentionReasons(r).map((reason) => ({
      host: r.host,
      sessionId: r.sessionId,
      shortId: short.get(r.sessionId) ?? r.sessionId,
      workspace: r.workspace,
      reason,
    })),
  );
  // Array.prototype.sort is stable: equal times keep the registry's (host, session) order.
  return rows.sort((a, b) => a.reason.sinceMs - b.reason.sinceMs);
}

/** One row as `--json` prints it (before times become ISO strings). Pure. */
export function attentionItem(row: AttentionRow): Record<string, unknown> {
  const { needs, sinceMs, detail, ...extra } = row.reason;
  return {
    needs,
    atMs: sinceMs,
    host: row.host,
    sessionId: row.sessionId,
    shortId: row.shortId,
    workspace: row.workspace,
    detail,
    ...extra,
    hint: attentionHint(row),
  };
}

const reasonKey = (r: AttentionReason): string => `${r.needs}:${r.requestId ?? r.correlationId ?? ""}`;

/** The options `attention` takes (the table of completions lists them too). */
const optionSpecs = {
  host: { type: "string" },
  group: { type: "string" },
  owner: { type: "string" },
  output: { type: "string", short: "o" },
  json: { type: "boolean" },
  "no-headers": { type: "boolean" },
  watch: { type: "boolean" },
  "nats-url": { type: "string" },
  timeout: { type: "string" },
} as const;

/** The `attention` command. */
export const attentionCommand: Command = {
  name: "attention",
  summary:
    "list what needs a person: approvals, input, asks, escalations, handoffs, errors, stale sessions (oldest first)",
  usage,
  options: Object.keys(optionSpecs),
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("attention", argv, optionSpecs);
    if (values.help) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    if (positionals.length)
      throw new CliError(
        `attention takes no arguments, got '${positionals[0]}'. See 'claw-supervisor attention --help'.`,
        2,
      );
    const json = values.json === true || optionValue("output", Output.optional(), values.output) === "json";
    const headers = !values["no-headers"];
    const filter: SessionFilter = {
      attention: true,
      ...(values.host === undefined ? {} : { host: values.host }),
      ...(values.group === undefined ? {} : { group: values.group }),
      ...(values.owner === undefined ? {} : { owner: values.owner }),
    };
    const timeoutMs =
      values.timeout === undefined ? DEFAULT_QUERY_TIMEOUT_MS : optionValue("timeout", Milliseconds, values.timeout);
    const url = cliBusUrl(values["nats-url"], io.env);
    const nc = await connectCli(url);
    const printRows = (rows: AttentionRow[], withHeaders: boolean): void => {
      if (json) io.stdout(jsonOk({ items: rows.map(attentionItem) }, values.watch === true));
      else if (rows.length === 0) io.stdout(withHeaders ? "nothing needs a person\n" : "");
      else io.stdout(formatAttentionTable(rows, Date.now(), withHeaders));
    };
    try {
      if (!values.watch) {
        const { sessions, shortIds: short } = await listAllSessions(nc, filter, Infinity, timeoutMs).catch(
          queryFailure,
        );
        printRows(attentionRows(sessions, short), headers);
        return 0;
      }
      const follower = new SessionFollower(nc, {
        filter,
        limit: Infinity,
        timeoutMs,
        json,
        wide: false,
        headers,
        io,
        printInitial: (sessions, _total, short) => printRows(attentionRows(sessions, short), headers),
        report: ({ record, before, kind, shortId }) => {
          const now = kind === "removed" || kind === "left" ? [] : attentionReasons(record);
          const was = new Set((before === null ? [] : attentionReasons(before)).map(reasonKey));
          const is = new Set(now.map(reasonKey));
          const row = (reason: AttentionReason): AttentionRow => ({ ...record, shortId, reason });
          const added = now.filter((r) => !was.has(reasonKey(r))).map(row);
          const cleared = (before === null ? [] : attentionReasons(before)).filter((r) => !is.has(reasonKey(r)));
          for (const r of added) {
            if (json) io.stdout(jsonOk({ change: "new", item: attentionItem(r) }, true));
            else io.stdout(`${formatAttentionTable([r], Date.now(), false).trimEnd()}  (new)\n`);
          }
          for (const r of cleared.map(row)) {
            if (json) io.stdout(jsonOk({ change: "cleared", item: attentionItem(r) }, true));
            else io.stdout(`${formatAttentionTable([r], Date.now(), false).trimEnd()}  (cleared)\n`);
          }
        },
      });
      await follower.start();
      const stopReporting = reportBusStatus(nc, io.stderr, {
        command: "claw-supervisor attention",
        onBack: () => void follower.resync(),
      });
      const code = await untilStopOrClosed(nc, io, "claw-supervisor attention");
      stopReporting();
      await follower.stop().catch(() => undefined);
      return code;
    } finally {
      await nc.close();
    }
  },
};
