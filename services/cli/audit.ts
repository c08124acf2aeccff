/**
 * `claw-supervisor audit`: the AUDIT stream, filtered (session, caller, verb, kind, time range), as a table or
 * JSON; `audit replay` folds CODEX_EVENTS through the session machines and prints each session's state at a
 * time, or with no `--until` checks that the replay equals the live registry (exit 1 when it does not).
 */
import { AuditKind, type AuditRecord } from "../../schemas/audit.js";
import { CommandVerb } from "../../schemas/commands.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { auditVerb, readAuditRecords, readEventEnvelopes, replayDifferences } from "../clients/audit-trail.js";
import { listAllSessions } from "../clients/registry-queries.js";
import { replayEnvelopes } from "../registry/index.js";
import { optionValue, parseCommandArgs } from "./args.js";
import { formatSessionsTable } from "./format.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { jsonFailure, jsonOk } from "./output.js";
import { cliBusUrl, connectCli, queryFailure } from "./connection.js";
import { z } from "zod";

const usage = `Usage: claw-supervisor audit [--session ID] [--caller ID] [--verb V] [--kind K] [--since T] [--until T]
                             [--limit N] [--json] [--nats-url URL]
       claw-supervisor audit replay [--until T] [--host H] [--json] [--nats-url URL]

audit          lists audit records (kinds ${AuditKind.options.join(", ")}), oldest first: the
               last --limit (default 100) that match every filter given. --verb V is a command verb
               (${CommandVerb.options.join(", ")}) or an operator request such as token.create.
audit replay   folds CODEX_EVENTS through the session machines. With --until, prints each session's state
               as of that time. Without it, checks that the replay equals the live registry and prints any
               difference (exit 1). Sessions a host loss made stale differ: stale marks come from the
               registry's clock, not from the event log.

T is an ISO time (2026-11-30T10:00:00Z), unix milliseconds, or an age such as 90s, 15m, 2h, 1d.
--json prints {"ok":true,"data":...} with times as ISO-8601 strings (a differing replay: {"ok":false,...}).`;

const Limit = z.coerce.number({ error: "must be a number" }).int().positive("must be greater than 0");
const Kind = z.enum(AuditKind.options, { error: `must be one of ${AuditKind.options.join(", ")}` });
/** A command verb, or an operator request (`token.create`, `policy.set`...) as the records name it. */
const Verb = z
  .string()
  .refine((v) => (CommandVerb.options as readonly string[]).includes(v) || /^[a-z]+\.[a-z]+$/.test(v), {
    error: `must be a command verb (${CommandVerb.options.join(", ")}) or an operator request such as token.create`,
  });

/** A time option: ISO, unix ms, or an age (`15m`) before `nowMs`. Pure. */
export function parseTime(name: string, text: string, nowMs: number): number {
  const age = /^(\d+)(s|m|h|d)$/.exec(text);
  if (age)
    return (
      nowMs - Number(age[1]) * { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[age[2] as "s" | "m" | "h" | "d"]
    );
  if (/^\d{10,}$/.test(text)) return Number(text);
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new CliError(`--${name}: '${text}' is not a time (ISO, unix ms, or an age like 15m)`, 2);
  return t;
}

/** How a replay differs from the live registry (shared with the dashboard: services/clients/audit-trail.ts). */
export { replayDifferences };

async function replay(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs("audit replay", argv, {
    until: { type: "string" },
    host: { type: "string" },
    json: { type: "boolean" },
    "nats-url": { type: "string" },
  });
  if (values.help) {
    io.stdout(`${usage}\n`);
    return 0;
  }
  if (positionals.length) throw new CliError(`audit replay takes no arguments, got '${positionals[0]}'`, 2);
  const untilMs = values.until === undefined ? undefined : parseTime("until", values.until, Date.now());
  const nc = await connectCli(cliBusUrl(values["nats-url"], io.env));
  try {
    const envelopes = await readEventEnvelopes(nc, untilMs);
    const onHost = (s: SessionRecord) => values.host === undefined || s.host === values.host;
    const replayed = replayEnvelopes(envelopes).sessions.filter(onHost);
    if (untilMs !== undefined) {
      io.stdout(
        values.json
          ? jsonOk({ until: new Date(untilMs).toISOString(), events: envelopes.length, sessions: replayed })
          : `${envelopes.length} events up to ${new Date(untilMs).toISOString()}\n${formatSessionsTable(replayed, untilMs)}`,
      );
      return 0;
    }
    const live = (await listAllSessions(nc, values.host === undefined ? {} : { host: values.host }).catch(queryFailure))
      .sessions;
    const diffs = replayDifferences(replayed, live);
    if (values.json) {
      const report = { events: envelopes.length, sessions: replayed.length, equal: diffs.length === 0 };
      io.stdout(
        diffs.length === 0
          ? jsonOk({ ...report, differences: diffs })
          : jsonFailure("failure", `the replay differs from the live registry in ${diffs.length} ways`, {
              ...report,
              differences: diffs,
            }),
      );
    } else
      io.stdout(
        diffs.length === 0
          ? `replay of ${envelopes.length} events equals the live registry (${replayed.length} sessions)\n`
          : `replay differs from the live registry:\n${diffs.map((d) => `  ${d}`).join("\n")}\n`,
      );
    return diffs.length === 0 ? 0 : 1;
  } finally {
    await nc.close();
  }
}

async function list(argv: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArgs("audit", argv, {
    session: { type: "string" },
    caller: { type: "string" },
    verb: { type: "string" },
    kind: { type: "string" },
    since: { type: "string" },
    until: { type: "string" },
    limit: { type: "string" },
    json: { type: "boolean" },
    "nats-url": { type: "string" },
  });
  if (values.help) {
    io.stdout(`${usage}\n`);
    return 0;
  }
  if (positionals.length)
    throw new CliError(
      `audit takes no arguments (or 'replay'), got '${positionals[0]}'. See 'claw-supervisor audit --help'.`,
      2,
    );
  const now = Date.now();
  const sinceMs = values.since === undefined ? undefined : parseTime("since", values.since, now);
  const untilMs = values.until === undefined ? undefined : parseTime("until", values.until, now);
  const limit = values.limit === undefined ? 100 : optionValue("limit", Limit, values.limit);
  const kind = values.kind === undefined ? undefined : optionValue("kind", Kind, values.kind);
  const verb = values.verb === undefined ? undefined : optionValue("verb", Verb, values.verb);
  const nc = await connectCli(cliBusUrl(values["nats-url"], io.env));
  let found: AuditRecord[];
  try {
    found = await readAuditRecords(nc, {
      session: values.session,
      caller: values.caller,
      verb,
      kind,
      sinceMs,
      untilMs,
      limit,
    });
  } finally {
    await nc.close();
  }
  if (values.json) io.stdout(jsonOk(found));
  else io.stdout(found.length === 0 ? "no audit records match\n" : `${found.map(line).join("\n")}\n`);
  return 0;
}

function line(r: AuditRecord): string {
  const who = r.caller ? `${r.caller.role}:${r.caller.id}` : "-";
  const what = r.target?.sessionId ? `${r.target.hostId ?? "?"}/${r.target.sessionId}` : (r.target?.hostId ?? "-");
  const how =
    r.kind === "approval"
      ? approvalHow(r)
      : r.decision
        ? r.decision.allow
          ? `allow (${r.decision.ruleId})`
          : `refuse ${r.decision.code}: ${r.decision.reason}`
        : r.outcome
          ? r.outcome.ok
            ? "ok"
            : `${r.outcome.code}: ${r.outcome.message}`
          : "";
  return `${new Date(r.atMs).toISOString()}  ${r.commandId.slice(0, 8)}  ${r.kind.padEnd(9)}  ${auditVerb(r).padEnd(9)}  ${who}  ${what}  ${how}`.trimEnd();
}

/** An approval record in a few words: held until its deadline, or accepted/declined and why. */
function approvalHow(r: AuditRecord): string {
  const d = (r.detail ?? {}) as {
    state?: string;
    requestId?: string;
    summary?: string | null;
    deadlineAtMs?: number;
    reason?: string;
  };
  const what = `request ${d.requestId ?? "?"}${d.summary ? ` "${d.summary}"` : ""}`;
  if (d.state === "held")
    return `held ${what} until ${typeof d.deadlineAtMs === "number" ? new Date(d.deadlineAtMs).toISOString() : "?"}`;
  if (d.state === "released") return `released ${what} unanswered: ${d.reason ?? ""}`;
  return `${r.decision?.allow ? "accept" : "decline"} ${what}: ${r.decision?.reason ?? ""}`;
}

/** The `audit` command. */
export const auditCommand: Command = {
  name: "audit",
  summary: "list the audit trail of commands and decisions; 'audit replay' rebuilds sessions from the event log",
  usage,
  actions: ["replay"],
  run: (argv, io) => (argv[0] === "replay" ? replay(argv.slice(1), io) : list(argv, io)),
};
