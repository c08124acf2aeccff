/**
 * `read --follow`: the transcript page `read` prints (through policy, so the caller's permission to read the
 * session is checked), then each item of the session as it completes, until Ctrl-C: user and agent messages,
 * command executions with their exit code, file changes, tool calls, one or a few lines each; with `--json`,
 * the page and then one JSON line per item or turn end.
 *
 * CODEX_EVENTS's last sequence is noted before the page is read and the session's events are followed from the
 * next one, so no item is missed between the two (one that completes while the page is read may show twice).
 * The follow is an ordered consumer that nats.js re-creates from the last event seen, so it survives a bus
 * reconnect; losing and regaining the bus is said on stderr. Without `--raw`, command output and diffs are left
 * out (as `read` leaves out every item but messages); with it, `--json` carries each item whole.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { ThreadItem } from "../../schemas/codex/index.js";
import { followStream, type StreamFollow, threadEventsFilter } from "../bus/stream-follow.js";
import { STREAM_NAMES } from "../bus/topology.js";
import { EXIT_CODES, sendCommand } from "./command-client.js";
import { reportBusStatus } from "./connection.js";
import { CliError, type CliIo } from "./io.js";
import { jsonFailure, jsonOk } from "./output.js";
import { parseThreadEvent, type ThreadEvent } from "./thread-events.js";
import { noteEventsSeq, type SendOptions } from "./turn-wait.js";

/** The option `--follow` adds to `read`, and its help line. */
export const FOLLOW_OPTIONS = { follow: { type: "boolean" } } as const;
export const FOLLOW_HELP = [
  "--follow        then print each item of the session as it completes, until Ctrl-C",
  "                (--json: one JSON line each: the page, then {kind: item|turn, ...})",
];

type Item = Record<string, unknown> & { type: string; id: string };

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** The user's text inputs of a userMessage item, joined. */
function userText(item: Item): string {
  const content = Array.isArray(item.content) ? (item.content as Record<string, unknown>[]) : [];
  return content
    .map((c) => (c.type === "text" ? (str(c.text) ?? "") : `[${String(c.type)}]`))
    .join(" ")
    .trim();
}

/** The files a fileChange item touches: `kind path` each. */
function fileChanges(item: Item): { path: string; kind: string }[] {
  const changes = Array.isArray(item.changes) ? (item.changes as Record<string, unknown>[]) : [];
  return changes.map((c) => {
    const kind = typeof c.kind === "object" && c.kind !== null ? str((c.kind as { type?: unknown }).type) : str(c.kind);
    return { path: str(c.path) ?? "?", kind: kind ?? "change" };
  });
}

/**
 * An item as `--follow --json` prints it without `--raw`: what it is and how it ended, without command output or
 * diffs; null for an item not worth a line (reasoning). Pure.
 */
export function itemSummary(raw: ThreadItem): Record<string, unknown> | null {
  const item = raw as Item;
  const base = { type: item.type, id: item.id };
  switch (item.type) {
    case "userMessage":
      return { ...base, text: userText(item) };
    case "agentMessage":
    case "plan":
      return { ...base, text: str(item.text) ?? "" };
    case "commandExecution":
      return { ...base, command: item.command, cwd: item.cwd, status: item.status, exitCode: item.exitCode ?? null };
    case "fileChange":
      return { ...base, status: item.status, changes: fileChanges(item) };
    case "mcpToolCall":
      return { ...base, server: item.server, tool: item.tool, status: item.status };
    case "webSearch":
      return { ...base, query: item.query };
    case "reasoning":
      return null;
    default:
      return base;
  }
}

const CONTINUATION = "\n       ";

/** An item as `--follow` prints it: one or a few lines, no trailing newline; null for none. Pure. */
export function formatItem(raw: ThreadItem): string | null {
  const s = itemSummary(raw);
  if (!s) return null;
  const lines = (text: unknown): string => String(text ?? "").replaceAll("\n", CONTINUATION);
  switch (s.type) {
    case "userMessage":
      return `user : ${lines(s.text)}`;
    case "agentMessage":
      return `codex: ${lines(s.text)}`;
    case "plan":
      return `plan : ${lines(s.text)}`;
    case "commandExecution": {
      const end =
        s.exitCode !== null && s.exitCode !== undefined ? `exit ${String(s.exitCode)}` : String(s.status ?? "");
      return `$    : ${lines(s.command)}  (${end})`;
    }
    case "fileChange": {
      const changes = (s.changes as { path: string; kind: string }[]).map((c) => `${c.kind} ${c.path}`);
      return `files: ${changes.join(", ") || "(none)"}${s.status === "completed" ? "" : ` (${String(s.status)})`}`;
    }
    case "mcpToolCall":
      return `tool : ${String(s.server)}.${String(s.tool)} (${String(s.status)})`;
    case "webSearch":
      return `web  : ${lines(s.query)}`;
    case "contextCompaction":
      return "(context compacted)";
    default:
      return `(${s.type})`;
  }
}

/** What one followed event prints, text or one JSON line; null for nothing. */
function render(ev: ThreadEvent, json: boolean, raw: boolean): string | null {
  const where = { hostId: ev.hostId, sessionId: ev.threadId };
  switch (ev.kind) {
    case "item": {
      const summary = itemSummary(ev.item);
      if (!summary) return null;
      if (json)
        return jsonOk(
          { kind: "item", ...where, turnId: ev.turnId, completedAtMs: ev.completedAtMs, item: raw ? ev.item : summary },
          true,
        );
      const text = formatItem(ev.item);
      return text === null ? null : `${text}\n`;
    }
    case "turnStarted":
      return json
        ? jsonOk({ kind: "turn", ...where, turn: { id: ev.turn.id, status: "inProgress" } }, true)
        : `── turn ${ev.turn.id} (started)\n`;
    case "turnCompleted": {
      const t = ev.turn;
      const error = t.error?.message ?? null;
      return json
        ? jsonOk(
            {
              kind: "turn",
              ...where,
              turn: { id: t.id, status: t.status, error, completedAt: t.completedAt ?? null },
            },
            true,
          )
        : `── turn ${t.id} ${t.status}${error ? `: ${error}` : ""}\n`;
    }
    default:
      return null;
  }
}

/**
 * Runs `read` with `args` (the transcript page), prints it, then follows the session until `io.stopRequested`;
 * returns the exit code: 0 when stopped, a typed failure's code when the read fails, 1 when the follow breaks.
 */
export async function readAndFollow(
  nc: NatsConnection,
  args: unknown,
  send: SendOptions,
  io: CliIo,
  o: { json: boolean; format: (data: unknown) => string },
): Promise<number> {
  const { target, view } = args as { target: { sessionId: string; hostId?: string }; view?: string };
  const fromSeq = await noteEventsSeq(nc, "read --follow");
  const result = await sendCommand(nc, "read", args, send);
  if (!result.ok) {
    const { ok: _, code, message, ...extra } = result;
    if (o.json) io.stdout(jsonFailure(code, message, extra, true));
    io.stderr(`claw-supervisor read: ${code}: ${message}\n`);
    return EXIT_CODES[result.code];
  }
  io.stdout(o.json ? jsonOk(result.data, true) : o.format(result.data));
  let follow: StreamFollow;
  try {
    follow = await followStream(nc, STREAM_NAMES.events, threadEventsFilter(target.sessionId, target.hostId), fromSeq);
  } catch (err) {
    throw new CliError(`read --follow: cannot follow the session's events: ${(err as Error).message}`);
  }
  const stopReporting = reportBusStatus(nc, io.stderr, { command: "claw-supervisor read" });
  if (!o.json) io.stderr(`claw-supervisor read: following ${target.sessionId}; Ctrl-C to stop\n`);
  const pump = (async (): Promise<string> => {
    for await (const m of follow) {
      const ev = parseThreadEvent(m.data);
      const out = ev && render(ev, o.json, view === "raw");
      if (out) io.stdout(out);
    }
    return "the session's event feed ended";
  })().catch((err: unknown) => (err as Error)?.message ?? String(err));
  const end = await Promise.race([io.stopRequested.then(() => null), pump]);
  stopReporting();
  await follow.stop();
  if (end === null) return 0;
  if (o.json) io.stdout(jsonFailure("failure", `stopped following: ${end}`, {}, true));
  else io.stderr(`claw-supervisor read: stopped following: ${end}\n`);
  return 1;
}
