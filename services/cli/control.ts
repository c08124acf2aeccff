/**
 * The operator verbs: `read`, `send`, `reply`, `interrupt`, `spawn`, `broadcast`, `mark`, `assign`, `handoff`. Each builds its command's
 * arguments from the command line, sends it through the policy service (command-client.ts) and prints the
 * result readably, or as JSON with `--json`; the exit code follows the typed result (see EXIT_CODES).
 */
import path from "node:path";
import type { ParseArgsConfig } from "node:util";
import { z } from "zod";
import { type CommandVerb, commandArgs, issuesText } from "../../schemas/commands.js";
import { SessionStatus } from "../../schemas/registry.js";
import type { TranscriptTurn } from "../../schemas/host-rpc.js";
import { Milliseconds, optionValue, parseCommandArgs } from "./args.js";
import { DEFAULT_COMMAND_TIMEOUT_MS, EXIT_CODES, defaultCallerId, sendCommand } from "./command-client.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { resolveCommandTargets } from "./session-target.js";
import { jsonFailure, jsonOk } from "./output.js";
import { shellQuote } from "./shell-words.js";
import { NATS_URL_HELP, cliBusUrl, connectCli } from "./connection.js";
import { FOLLOW_HELP, FOLLOW_OPTIONS, readAndFollow } from "./follow.js";
import { WAIT_EXIT_HELP, WAIT_HELP, WAIT_OPTIONS, sendAndWait, waitRequest } from "./turn-wait.js";

type OptionSpecs = NonNullable<ParseArgsConfig["options"]>;
type Values = Record<string, string | boolean | undefined>;

interface VerbSpec {
  verb: CommandVerb;
  /** The command's name when it is not the verb's (`decline` sends an `approve`). */
  name?: string;
  synopsis: string;
  summary: string;
  help: string[];
  options: OptionSpecs;
  /** The command's arguments from the parsed command line (throw CliError with exit 2 on bad input). */
  args(positionals: string[], values: Values, io: CliIo): unknown;
  /** Readable output of a success. */
  format(data: unknown): string;
  /** The most positional arguments it takes (unbounded when it takes text). */
  maxPositionals?: number;
}

const shared = {
  json: { type: "boolean" },
  "nats-url": { type: "string" },
  timeout: { type: "string" },
  caller: { type: "string" },
  key: { type: "string" },
} as const;
const sharedHelp = [
  "--json          print the result as JSON",
  "--caller ID     the operator id recorded in the audit log (default $USER@host)",
  "--key KEY       idempotency key: the same key never runs twice (default: a new one)",
  `--nats-url URL  ${NATS_URL_HELP}`,
  `--timeout MS    how long to wait for the result (default ${DEFAULT_COMMAND_TIMEOUT_MS})`,
];

/** `<sessionId>` or `<hostId>/<sessionId>`. */
function target(verb: string, positional: string | undefined): { sessionId: string; hostId?: string } {
  if (!positional)
    throw new CliError(
      `${verb} needs a session: its short id (as 'sessions' shows it), a unique prefix or the whole id, optionally <host>/ before it. See 'claw-supervisor ${verb} --help'.`,
      2,
    );
  const slash = positional.indexOf("/");
  return slash < 0
    ? { sessionId: positional }
    : { hostId: positional.slice(0, slash), sessionId: positional.slice(slash + 1) };
}

function text(verb: string, words: string[]): string {
  const joined = words.join(" ").trim();
  if (!joined) throw new CliError(`${verb} needs the text to send. See 'claw-supervisor ${verb} --help'.`, 2);
  return joined;
}

const PositiveInt = z.coerce
  .number({ error: "must be a number" })
  .int("must be a whole number")
  .positive("must be greater than 0");
/** Most turns one read returns (ReadArgs in schemas/commands.ts). */
const MAX_READ_LIMIT = 50;
const ReadLimit = PositiveInt.max(MAX_READ_LIMIT, `must be at most ${MAX_READ_LIMIT}`);

function formatTurns(data: unknown): string {
  const { turns, nextCursor } = data as { turns: TranscriptTurn[]; nextCursor: string | null };
  if (turns.length === 0) return "no turns\n";
  const lines = [...turns]
    .reverse()
    .flatMap((t) => [
      `── turn ${t.id} (${t.status})`,
      ...t.messages.map((m) => `${m.role === "user" ? "user " : "codex"}: ${m.text}`),
      ...(t.items ? [`   ${t.items.length} items (raw view: use --json)`] : []),
    ]);
  if (nextCursor) lines.push(`(older turns: --cursor ${shellQuote(nextCursor)})`);
  return `${lines.join("\n")}\n`;
}

const specs: VerbSpec[] = [
  {
    verb: "read",
    synopsis: "read <session> [--limit N] [--cursor C] [--raw] [--follow]",
    summary: "read a session's transcript, newest turns first, through policy",
    help: [
      "--limit N       turns per page (default 10, at most 50)",
      "--cursor C      the next page, from the previous output",
      "--raw           every item, not only messages (needs the readRaw capability)",
      ...FOLLOW_HELP,
    ],
    options: { limit: { type: "string" }, cursor: { type: "string" }, raw: { type: "boolean" }, ...FOLLOW_OPTIONS },
    maxPositionals: 1,
    args: (p, v) => ({
      target: target("read", p[0]),
      ...(v.limit === undefined ? {} : { limit: optionValue("limit", ReadLimit, v.limit) }),
      ...(typeof v.cursor === "string" ? { cursor: v.cursor } : {}),
      view: v.raw ? "raw" : "summary",
    }),
    format: formatTurns,
  },
  {
    verb: "send",
    synopsis: "send <session> <text...> [--start | --steer] [--turn ID] [--wait [--wait-timeout MS]]",
    summary: "send text: start a turn in an idle session, steer the running one otherwise",
    help: [
      "--start         only start a new turn (conflict if one is running)",
      "--steer         only steer the running turn (conflict if none)",
      "--turn ID       steer only if this is the running turn",
      ...WAIT_HELP,
    ],
    options: { start: { type: "boolean" }, steer: { type: "boolean" }, turn: { type: "string" }, ...WAIT_OPTIONS },
    args: (p, v) => {
      if (v.start && v.steer) throw new CliError("send takes --start or --steer, not both", 2);
      return {
        target: target("send", p[0]),
        text: text("send", p.slice(1)),
        mode: v.start ? "start" : v.steer ? "steer" : "auto",
        ...(typeof v.turn === "string" ? { expectedTurnId: v.turn } : {}),
      };
    },
    format: (d) => {
      const r = d as { action: string; turnId: string };
      return `${r.action === "steered" ? "steered turn" : "started turn"} ${r.turnId}\n`;
    },
  },
  {
    verb: "reply",
    synopsis: "reply <session> <text...> [--correlation ID] [--wait [--wait-timeout MS]]",
    summary: "answer a session's question (starts or steers a turn in it)",
    help: ["--correlation ID  the claw_ask this answers", ...WAIT_HELP],
    options: { correlation: { type: "string" }, ...WAIT_OPTIONS },
    args: (p, v) => ({
      target: target("reply", p[0]),
      text: text("reply", p.slice(1)),
      ...(typeof v.correlation === "string" ? { correlationId: v.correlation } : {}),
    }),
    format: (d) => `replied: ${(d as { action: string }).action} turn ${(d as { turnId: string }).turnId}\n`,
  },
  {
    verb: "interrupt",
    synopsis: "interrupt <session> [--turn ID]",
    summary: "interrupt a session's running turn",
    help: ["--turn ID       interrupt only this turn"],
    options: { turn: { type: "string" } },
    maxPositionals: 1,
    args: (p, v) => ({ target: target("interrupt", p[0]), ...(typeof v.turn === "string" ? { turnId: v.turn } : {}) }),
    format: (d) => `interrupted turn ${(d as { turnId: string }).turnId}\n`,
  },
  {
    verb: "spawn",
    synopsis: "spawn <task...> --cwd DIR [--host ID | --repo R] [--group G] [--wait [--wait-timeout MS]]",
    summary: "start an autonomous session on a host; prints how a person attaches to it",
    help: [
      "--cwd DIR       the session's workspace on the host (absolute)",
      "--host ID       run on this host (default: the least-loaded online host)",
      "--repo R        run on a host that has sessions in repository R",
      "--group G       put the session in group G",
      ...WAIT_HELP,
    ],
    options: {
      cwd: { type: "string" },
      host: { type: "string" },
      repo: { type: "string" },
      group: { type: "string" },
      ...WAIT_OPTIONS,
    },
    args: (p, v) => {
      if (typeof v.cwd !== "string")
        throw new CliError("spawn needs --cwd DIR (the workspace on the host). See 'claw-supervisor spawn --help'.", 2);
      return {
        task: text("spawn", p),
        cwd: path.isAbsolute(v.cwd) ? v.cwd : path.resolve(v.cwd),
        host: {
          ...(typeof v.host === "string" ? { hostId: v.host } : {}),
          ...(typeof v.repo === "string" ? { repo: v.repo } : {}),
        },
        ...(typeof v.group === "string" ? { group: v.group } : {}),
      };
    },
    format: (d) => {
      const r = d as { hostId: string; sessionId: string; turnId: string; attachCommand: string };
      return `spawned session ${r.sessionId} on host ${r.hostId} (turn ${r.turnId})\nattach on that host with:\n  ${r.attachCommand}\n`;
    },
  },
  {
    verb: "broadcast",
    synopsis: "broadcast <text...> --max N [--host H] [--repo R] [--status S] [--group G] [--human | --autonomous]",
    summary: "send text to every session a filter matches (a filter and a bound are required)",
    help: [
      "--max N         refuse if the filter matches more than N sessions",
      "--host/--repo/--status/--group  the filter (at least one)",
      "--human / --autonomous          only human-attached / supervisor-started sessions",
    ],
    options: {
      max: { type: "string" },
      host: { type: "string" },
      repo: { type: "string" },
      status: { type: "string" },
      group: { type: "string" },
      human: { type: "boolean" },
      autonomous: { type: "boolean" },
    },
    args: (p, v) => {
      if (v.max === undefined) throw new CliError("broadcast needs --max N, the most sessions it may reach", 2);
      const filter = {
        ...(typeof v.host === "string" ? { host: v.host } : {}),
        ...(typeof v.repo === "string" ? { repo: v.repo } : {}),
        ...(typeof v.status === "string" ? { status: optionValue("status", SessionStatus, v.status) } : {}),
        ...(typeof v.group === "string" ? { group: v.group } : {}),
        ...(v.human ? { humanAttached: true } : {}),
        ...(v.autonomous ? { autonomous: true } : {}),
      };
      if (Object.keys(filter).length === 0)
        throw new CliError(
          "broadcast needs a filter: at least one of --host, --repo, --status, --group, --human, --autonomous",
          2,
        );
      return { filter, maxTargets: optionValue("max", PositiveInt, v.max), text: text("broadcast", p) };
    },
    format: (d) => {
      const r = d as {
        targets: number;
        sent: number;
        results: { hostId: string; sessionId: string; result: { ok: boolean; code?: string; message?: string } }[];
      };
      const lines = r.results.map(
        (x) => `  ${x.hostId}/${x.sessionId}: ${x.result.ok ? "sent" : `${x.result.code}: ${x.result.message}`}`,
      );
      return `sent to ${r.sent} of ${r.targets} sessions\n${lines.join("\n")}${lines.length ? "\n" : ""}`;
    },
  },
  {
    verb: "mark",
    synopsis: "mark <session> <blocked|done|abandoned|none>",
    summary: "mark a session blocked, done or abandoned (none clears the mark)",
    help: [],
    options: {},
    maxPositionals: 2,
    args: (p) => {
      const mark = p[1];
      if (!mark || !["blocked", "done", "abandoned", "none"].includes(mark))
        throw new CliError("mark needs one of blocked, done, abandoned, none. See 'claw-supervisor mark --help'.", 2);
      return { target: target("mark", p[0]), disposition: mark === "none" ? null : mark };
    },
    format: (d) => {
      const r = d as { hostId: string; sessionId: string; disposition: string | null };
      return `${r.hostId}/${r.sessionId}: ${r.disposition === null ? "mark cleared" : `marked ${r.disposition}`}\n`;
    },
  },
  {
    verb: "assign",
    synopsis: "assign <session> [--group G | --no-group] [--owner O | --no-owner]",
    summary: "put a session in a group or give it an owner (a label the fleet can filter on)",
    help: ["--group G / --no-group   set or clear the group", "--owner O / --no-owner   set or clear the owner"],
    options: {
      group: { type: "string" },
      "no-group": { type: "boolean" },
      owner: { type: "string" },
      "no-owner": { type: "boolean" },
    },
    maxPositionals: 1,
    args: (p, v) => {
      const pick = (name: string): { [k: string]: string | null } =>
        typeof v[name] === "string" ? { [name]: v[name] as string } : v[`no-${name}`] ? { [name]: null } : {};
      const args = { target: target("assign", p[0]), ...pick("group"), ...pick("owner") };
      if (Object.keys(args).length === 1)
        throw new CliError("assign needs --group, --no-group, --owner or --no-owner", 2);
      return args;
    },
    format: (d) => {
      const r = d as { hostId: string; sessionId: string; group?: string | null; owner?: string | null };
      const parts = [
        ...(r.group === undefined ? [] : [`group ${r.group ?? "(none)"}`]),
        ...(r.owner === undefined ? [] : [`owner ${r.owner ?? "(none)"}`]),
      ];
      return `${r.hostId}/${r.sessionId}: ${parts.join(", ")}\n`;
    },
  },
  {
    verb: "handoff",
    synopsis: "handoff <session> (--to-human [--who NAME] | --to-session ID) [--note TEXT]",
    summary: "record a handoff of a session to a person or a peer session (a fleet event the Claw sees)",
    help: [
      "--to-human       hand it to a person (they attach with the printed command)",
      "--who NAME       which person",
      "--to-session ID  hand it to a peer session",
      "--note TEXT      what the taker should know",
    ],
    options: {
      "to-human": { type: "boolean" },
      who: { type: "string" },
      "to-session": { type: "string" },
      note: { type: "string" },
    },
    maxPositionals: 1,
    args: (p, v) => {
      const toSession = v["to-session"];
      if (Boolean(v["to-human"]) === (typeof toSession === "string"))
        throw new CliError("handoff needs exactly one of --to-human and --to-session ID", 2);
      const to =
        typeof toSession === "string"
          ? { kind: "session", sessionId: toSession }
          : { kind: "human", ...(typeof v.who === "string" ? { who: v.who } : {}) };
      return { target: target("handoff", p[0]), to, ...(typeof v.note === "string" ? { note: v.note } : {}) };
    },
    format: (d) => {
      const r = d as {
        hostId: string;
        sessionId: string;
        handoff: { to: { kind: string; who?: string | null; sessionId?: string }; note?: string };
        attachCommand: string;
      };
      if (r.handoff.to.kind === "session") {
        // The peer is not messaged by the handoff: the Claw sees the fleet event; an operator may brief the peer.
        const peer = r.handoff.to.sessionId ?? "";
        const brief = `take over ${r.hostId}/${r.sessionId}${r.handoff.note ? `: ${r.handoff.note}` : ""}`;
        return [
          `${r.hostId}/${r.sessionId} handed off to session ${peer} (a session-handoff fleet event the Claw sees)`,
          `session ${peer} is not messaged by it; to brief it yourself:`,
          `  claw-supervisor send ${shellQuote(peer)} ${shellQuote(brief)}`,
          "",
        ].join("\n");
      }
      const who = r.handoff.to.who ? ` (${r.handoff.to.who})` : "";
      return `${r.hostId}/${r.sessionId} handed off to a person${who}\nto take it over on host ${r.hostId}:\n  ${r.attachCommand}\n`;
    },
  },
  ...approvalSpecs(),
];

/** `approve` and `decline`: answer an approval the host agent holds for an autonomous session (an `ask` rule). */
function approvalSpecs(): VerbSpec[] {
  return (["accept", "decline"] as const).map((decision) => {
    const name = decision === "accept" ? "approve" : "decline";
    return {
      verb: "approve",
      name,
      synopsis: `${name} <session> [<request>]`,
      summary:
        decision === "accept"
          ? "let an autonomous session's held approval run (an approvals 'ask' rule held it)"
          : "refuse an autonomous session's held approval (an approvals 'ask' rule held it)",
      help: [
        "<request>       the request id, as the session's approval or the approval-requested event shows it;",
        "                may be left out when the session holds exactly one",
        "The first answer wins (a second is a conflict, exit 5); a person's TUI session is theirs (denied).",
      ],
      options: {},
      maxPositionals: 2,
      args: (p) => ({
        target: target(name, p[0]),
        ...(p[1] === undefined ? {} : { requestId: p[1] }),
        decision,
      }),
      format: (d) => {
        const r = d as { hostId: string; sessionId: string; requestId: string; decision: string; summary: string };
        return `${r.hostId}/${r.sessionId}: request ${r.requestId} ${r.decision === "accept" ? "approved" : "declined"} (${r.summary})\n`;
      },
    };
  });
}

function usageOf(s: VerbSpec): string {
  return [
    `Usage: claw-supervisor ${s.synopsis} [options]`,
    "",
    `${s.summary[0]!.toUpperCase()}${s.summary.slice(1)}.`,
    "The policy service decides and audits it.",
    "",
    ...s.help,
    ...sharedHelp,
    "",
    `Exit codes: 0 done, ${Object.entries(EXIT_CODES)
      .map(([c, n]) => `${n} ${c}`)
      .join(", ")}; 1 other failures, 2 usage errors; no policy service answering is 8 (timeout), and nothing ran.`,
    ...("wait" in s.options ? [WAIT_EXIT_HELP] : []),
  ].join("\n");
}

function commandOf(s: VerbSpec): Command {
  const usage = usageOf(s);
  return {
    name: s.name ?? s.verb,
    summary: s.summary,
    usage,
    options: Object.keys({ ...shared, ...s.options }),
    async run(argv: string[], io: CliIo): Promise<number> {
      const { values, positionals } = parseCommandArgs(s.name ?? s.verb, argv, { ...shared, ...s.options });
      if (values.help) {
        io.stdout(`${usage}\n`);
        return 0;
      }
      if (s.maxPositionals !== undefined && positionals.length > s.maxPositionals)
        throw new CliError(
          `${s.name ?? s.verb} takes ${s.maxPositionals === 1 ? "one argument" : `${s.maxPositionals} arguments`}, got ${positionals.length} (extra '${positionals[s.maxPositionals]}'). See 'claw-supervisor ${s.name ?? s.verb} --help'.`,
          2,
        );
      let args = s.args(positionals, values as Values, io);
      // The policy service checks the same schema; checked here too, a bad argument exits 2 before any bus trip.
      const checked = commandArgs[s.verb].safeParse(args);
      if (!checked.success)
        throw new CliError(
          `invalid ${s.verb} arguments: ${issuesText(checked.error)}. See 'claw-supervisor ${s.verb} --help'.`,
          2,
        );
      const timeoutMs = values.timeout === undefined ? undefined : optionValue("timeout", Milliseconds, values.timeout);
      const wait = waitRequest(s.verb, values as Values);
      const url = cliBusUrl(values["nats-url"] as string | undefined, io.env);
      const nc = await connectCli(url);
      try {
        const resolved = await resolveCommandTargets(nc, s.verb, args, { io, json: Boolean(values.json), timeoutMs });
        if ("exitCode" in resolved) return resolved.exitCode;
        args = resolved.args;
        if (wait || (values as Values).follow) {
          const send = {
            callerId: (values.caller as string | undefined) ?? defaultCallerId(io.env),
            key: values.key as string | undefined,
            timeoutMs,
          };
          const out = { json: Boolean(values.json), format: s.format };
          return wait
            ? await sendAndWait(nc, s.verb, args, send, io, { ...out, timeoutMs: wait.timeoutMs })
            : await readAndFollow(nc, args, send, io, out);
        }
        const result = await sendCommand(nc, s.verb, args, {
          callerId: (values.caller as string | undefined) ?? defaultCallerId(io.env),
          key: values.key as string | undefined,
          timeoutMs,
        });
        if (result.ok) io.stdout(values.json ? jsonOk(result.data) : s.format(result.data));
        else {
          const { ok: _, code, message, ...extra } = result;
          if (values.json) io.stdout(jsonFailure(code, message, extra));
          io.stderr(`claw-supervisor ${s.name ?? s.verb}: ${code}: ${message}\n`);
        }
        return result.ok ? 0 : EXIT_CODES[result.code];
      } finally {
        await nc.close();
      }
    },
  };
}

/** Every operator verb as a CLI command. */
export const controlCommands: Command[] = specs.map(commandOf);
