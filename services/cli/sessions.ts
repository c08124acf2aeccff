/**
 * `claw-supervisor sessions`: the fleet's sessions, asked of the registry over the bus. `--watch` re-prints
 * whenever the `codex-sessions` KV bucket changes (a KV watch: event-driven, no polling).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { SessionStatus, type SessionFilter, type SessionRecord } from "../../schemas/registry.js";
import { KV_BUCKET_NAMES, openKvBucket } from "../bus/index.js";
import { DEFAULT_QUERY_TIMEOUT_MS, listAllSessions } from "../clients/registry-queries.js";
import { formatSessionsTable } from "./format.js";
import { Milliseconds, optionValue, parseCommandArgs } from "./args.js";
import { DEFAULT_NATS_URL, connectCli, queryFailure } from "./connection.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { resolveNatsUrl } from "../clients/up-file.js";

const usage = `Usage: claw-supervisor sessions [--host H] [--repo R] [--status S] [--human | --autonomous]
                                [--limit N] [--json] [--watch] [--nats-url URL] [--timeout MS]

Lists the fleet's sessions as the registry sees them: host, workspace, branch, status, who drives it,
when it was last seen, and its summary (or first message).

--host H        only sessions on host H
--repo R        only sessions in repository R (origin URL or folder name, as the host agent reports it)
--status S      only sessions with status S (${SessionStatus.options.join(", ")})
--human         only sessions a person's TUI is attached to
--autonomous    only sessions the supervisor started
--limit N       show at most N sessions
--json          print the session records as JSON
--watch         print again whenever a session changes, until Ctrl-C
--nats-url URL  the bus (default $NATS_URL, else the running 'up', else ${DEFAULT_NATS_URL})
--timeout MS    how long to wait for the registry (default ${DEFAULT_QUERY_TIMEOUT_MS})`;

const Limit = z.coerce
  .number({ error: "must be a number" })
  .int("must be a whole number")
  .positive("must be greater than 0");
const WATCH_DEBOUNCE_MS = 100;

async function render(
  nc: NatsConnection,
  filter: SessionFilter,
  limit: number,
  timeoutMs: number,
  json: "pretty" | "line" | false,
): Promise<string> {
  const { sessions, total } = await listAllSessions(nc, filter, limit, timeoutMs).catch(queryFailure);
  if (json) return `${JSON.stringify(sessions, null, json === "pretty" ? 2 : undefined)}\n`;
  return textOf(sessions, total, filter);
}

function textOf(sessions: SessionRecord[], total: number, filter: SessionFilter): string {
  const filtered = Object.keys(filter).length > 0 ? " matching the filter" : "";
  if (sessions.length === 0) return `no sessions${filtered}\n`;
  const more = total > sessions.length ? `showing ${sessions.length} of ${total} sessions${filtered}\n` : "";
  return formatSessionsTable(sessions, Date.now()) + more;
}

async function watch(nc: NatsConnection, io: CliIo, print: () => Promise<void>): Promise<void> {
  const kv = await openKvBucket(nc, KV_BUCKET_NAMES.sessions);
  const updates = await kv.watch({ include: "updates" });
  let timer: NodeJS.Timeout | undefined;
  let printing = Promise.resolve();
  const schedule = (): void => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      printing = printing
        .then(print)
        .catch((err: unknown) => io.stderr(`claw-supervisor sessions: ${(err as Error).message}\n`));
    }, WATCH_DEBOUNCE_MS);
  };
  const loop = (async () => {
    for await (const _ of updates) schedule();
  })();
  await io.stopRequested;
  clearTimeout(timer);
  updates.stop();
  await loop;
  await printing;
}

/** The `sessions` command. */
export const sessionsCommand: Command = {
  name: "sessions",
  summary: "list the fleet's sessions (status, workspace, who drives them)",
  usage,
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("sessions", argv, {
      host: { type: "string" },
      repo: { type: "string" },
      status: { type: "string" },
      human: { type: "boolean" },
      autonomous: { type: "boolean" },
      limit: { type: "string" },
      json: { type: "boolean" },
      watch: { type: "boolean" },
      "nats-url": { type: "string" },
      timeout: { type: "string" },
    });
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
    const filter: SessionFilter = {
      ...(values.host === undefined ? {} : { host: values.host }),
      ...(values.repo === undefined ? {} : { repo: values.repo }),
      ...(values.status === undefined ? {} : { status: optionValue("status", SessionStatus, values.status) }),
      ...(values.human ? { humanAttached: true } : {}),
      ...(values.autonomous ? { autonomous: true } : {}),
    };
    const limit = values.limit === undefined ? Infinity : optionValue("limit", Limit, values.limit);
    const timeoutMs =
      values.timeout === undefined ? DEFAULT_QUERY_TIMEOUT_MS : optionValue("timeout", Milliseconds, values.timeout);
    const url = resolveNatsUrl(values["nats-url"], io.env) ?? DEFAULT_NATS_URL;
    const nc = await connectCli(url);
    try {
      const json = values.json ? (values.watch ? "line" : "pretty") : false;
      io.stdout(await render(nc, filter, limit, timeoutMs, json));
      if (!values.watch) return 0;
      await watch(nc, io, async () => {
        const text = await render(nc, filter, limit, timeoutMs, json);
        io.stdout(json ? text : `\n${new Date().toLocaleTimeString()}\n${text}`);
      });
      return 0;
    } finally {
      await nc.close();
    }
  },
};
