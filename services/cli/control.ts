/**
 * The operator verbs: `read`, `send`, `reply`, `interrupt`, `spawn`, `broadcast`, `mark`, `assign`, `handoff`. Each builds its command's
 * arguments from the command line, sends it through the policy service (command-client.ts) and prints the
 * result readably, or as JSON with `--json`; the exit code follows the typed result (see EXIT_CODES).
 */
import path from "node:path";
import type { ParseArgsConfig } from "node:util";
import { z } from "zod";
import type { CommandVerb } from "../../schemas/commands.js";
import { SessionStatus } from "../../schemas/registry.js";
import type { TranscriptTurn } from "../../schemas/host-rpc.js";
import { Milliseconds, optionValue, parseCommandArgs } from "./args.js";
import { DEFAULT_COMMAND_TIMEOUT_MS, EXIT_CODES, defaultCallerId, sendCommand } from "./command-client.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { DEFAULT_NATS_URL, connectCli } from "./connection.js";
import { resolveNatsUrl } from "../clients/up-file.js";

type OptionSpecs = NonNullable<ParseArgsConfig["options"]>;
type Values = Record<string, string | boolean | undefined>;

interface VerbSpec {
  verb: CommandVerb;
  synopsis: string;
  summary: string;
  help: string[];
  options: OptionSpecs;
  /** The command's arguments from the parsed command line (throw CliError with exit 2 on bad input). */
  args(positionals: string[], values: Values, io: CliIo): unknown;
  /** Readable output of a success. */
  format(data: unknown): string;
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
  `--nats-url URL  the bus (default $NATS_URL, else the running 'up', else ${DEFAULT_NATS_URL})`,
  `--timeout MS    how long to wait for the result (default ${DEFAULT_COMMAND_TIMEOUT_MS})`,
];

/** `<sessionId>` or `<hostId>/<sessionId>`. */
function target(verb: string, positional: string | undefined): { sessionId: string; hostId?: string } {
  if (!positional)
    throw new CliError(
      `${verb} needs a session: <sessionId> or <hostId>/<sessionId>. See 'claw-supervisor ${verb} --help'.`,
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
  if (nextCursor) lines.push(`(older turns: --cursor ${nextCursor})`);
  return `${lines.join("\n")}\n`;
}

const specs: VerbSpec[] = [
  {
    verb: "read",
    synopsis: "read <session> [--limit N] [--cursor C] [--raw]",
    summary: "read a session's transcript, newest turns first, through policy",
    help: [
      "--limit N       turns per page (default 10, at most 50)",
      "--cursor C      the next page, from the previous output",
      "--raw           every item, not only messages (needs the readRaw capability)",
    ],
    options: { limit: { type: "string" }, cursor: { type: "string" }, raw: { type: "boolean" } },
    args: (p, v) => ({
      target: target("read", p[0]),
      ...(v.limit === undefined ? {} : { limit: optionValue("limit", PositiveInt, v.limit) }),
      ...(typeof v.cursor === "string" ? { cursor: v.cursor } : {}),
      view: v.raw ? "raw" : "summary",
    }),
    format: formatTurns,
  },
  {
    verb: "send",
    synopsis: "send <session> <text...> [--start | --steer] [--turn ID]",
    summary: "send text: start a turn in an idle session, steer the running one otherwise",
    help: [
      "--start         only start a new turn (conflict if one is running)",
      "--steer         only steer the running turn (conflict if none)",
      "--turn ID       steer only if this is the running turn",
    ],
    options: { start: { type: "boolean" }, steer: { type: "boolean" }, turn: { type: "string" } },
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
    synopsis: "reply <session> <text...> [--correlation ID]",
    summary: "answer a session's question (starts or steers a turn in it)",
    help: ["--correlation ID  the claw_ask this answers"],
    options: { correlation: { type: "string" } },
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
    args: (p, v) => ({ target: target("interrupt", p[0]), ...(typeof v.turn === "string" ? { turnId: v.turn } : {}) }),
    format: (d) => `interrupted turn ${(d as { turnId: string }).turnId}\n`,
  },
  {
    verb: "spawn",
    synopsis: "spawn <task...> --cwd DIR [--host ID | --repo R] [--group G]",
    summary: "start an autonomous session on a host; prints how a person attaches to it",
    help: [
      "--cwd DIR       the session's workspace on the host (absolute)",
      "--host ID       run on this host (default: the least-loaded online host)",
      "--repo R        run on a host that has sessions in repository R",
      "--group G       put the session in group G",
    ],
    options: { cwd: { type: "string" }, host: { type: "string" }, repo: { type: "string" }, group: { type: "string" } },
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
        handoff: { to: { kind: string; who?: string | null; sessionId?: string } };
        attachCommand: string;
      };
      const to =
        r.handoff.to.kind === "human"
          ? `a person${r.handoff.to.who ? ` (${r.handoff.to.who})` : ""}`
          : `session ${r.handoff.to.sessionId}`;
      return `${r.hostId}/${r.sessionId} handed off to ${to}\nto take it over on host ${r.hostId}:\n  ${r.attachCommand}\n`;
    },
  },
];

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
  ].join("\n");
}

function commandOf(s: VerbSpec): Command {
  const usage = usageOf(s);
  return {
    name: s.verb,
    summary: s.summary,
    usage,
    async run(argv: string[], io: CliIo): Promise<number> {
      const { values, positionals } = parseCommandArgs(s.verb, argv, { ...shared, ...s.options });
      if (values.help) {
        io.stdout(`${usage}\n`);
        return 0;
      }
      const args = s.args(positionals, values as Values, io);
      const timeoutMs = values.timeout === undefined ? undefined : optionValue("timeout", Milliseconds, values.timeout);
      const url = resolveNatsUrl(values["nats-url"] as string | undefined, io.env) ?? DEFAULT_NATS_URL;
      const nc = await connectCli(url);
      try {
        const result = await sendCommand(nc, s.verb, args, {
          callerId: (values.caller as string | undefined) ?? defaultCallerId(io.env),
          key: values.key as string | undefined,
          timeoutMs,
        });
        if (values.json) io.stdout(`${JSON.stringify(result, null, 2)}\n`);
        else if (result.ok) io.stdout(s.format(result.data));
        else io.stderr(`claw-supervisor ${s.verb}: ${result.code}: ${result.message}\n`);
        return result.ok ? 0 : EXIT_CODES[result.code];
      } finally {
        await nc.close();
      }
    },
  };
}

/** Every operator verb as a CLI command. */
export const controlCommands: Command[] = specs.map(commandOf);
