/**
 * From command results to MCP tool results: a success becomes `structuredContent` (and the same JSON as text),
 * a failure `isError: true` with a message that says what to do next. Everything passes the secret redaction
 * again on the way out, and transcripts are bounded. Pure.
 */
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { CommandFailure, CommandVerb } from "../../schemas/commands.js";
import { MAX_EDGE_MESSAGE, type SessionBrief } from "../../schemas/mcp-tools.js";
import { redact } from "../../schemas/redact.js";
import type { SessionRecord } from "../../schemas/registry.js";

/** Verbs a Codex session may only use when a trusted policy rule grants them. */
const gatedVerbs: ReadonlySet<CommandVerb> = new Set(["send", "interrupt", "spawn", "handoff", "read"]);

/** A successful tool result carrying `data` as structured content. Pure. */
export function toolOk(data: Record<string, unknown>): CallToolResult {
  const safe = redact(data);
  return { content: [{ type: "text", text: JSON.stringify(safe) }], structuredContent: safe };
}

/** A failed tool result: one line with what went wrong and what to do next. Pure. */
export function toolError(message: string): CallToolResult {
  return { content: [{ type: "text", text: redact(message) }], isError: true };
}

/** The next step a model can take after a typed failure of `verb`. Pure. */
export function adviceFor(verb: CommandVerb, f: CommandFailure): string {
  switch (f.code) {
    case "denied":
      return gatedVerbs.has(verb) && f.reason === "no_rule"
        ? verb === "read"
          ? "Reading another session's transcript and raw transcript reads from a Codex session are disabled unless a trusted policy rule enables them for this session (you may read your own); ask the Claw with claw_ask instead."
          : "Write controls and raw transcript reads from a Codex session are disabled unless a trusted policy rule enables them for this session; ask the Claw with claw_ask instead."
        : "Do not retry; ask the Claw with claw_ask if you need this done.";
    case "not_found":
      return "Call codex_sessions_list to see the session ids you can use.";
    case "conflict":
      return "The session's turn changed: read it again with codex_session_read for its current turn, then decide.";
    case "rate_limited":
      return "Wait and try again later.";
    case "host_offline":
      return "The session's host is offline; try again later or pick another session.";
    case "timeout":
      return "Try again in a moment; nothing is known to have run.";
    case "invalid":
      return "Fix the arguments and call the tool again.";
    case "budget_exceeded":
      // From the edge it is the target that is stopped (a peer for send, the group for spawn), not the caller.
      return `A budget stopped ${verb === "spawn" ? "new sessions in that group" : "that session"}; do not retry: it stays stopped until an operator lifts it (claw-supervisor budget lift). Tell the Claw with claw_ask if the work must go on.`;
  }
}

/** The tool result for a failed command. Pure. */
export function commandError(verb: CommandVerb, f: CommandFailure): CallToolResult {
  return toolError(`${f.code}: ${f.message}. ${adviceFor(verb, f)}`);
}

/** A registry record as the edge shows it; `self` marks the calling session. Pure. */
export function briefOf(record: SessionRecord, callerId: string): SessionBrief {
  return {
    sessionId: record.sessionId,
    host: record.host,
    workspace: record.workspace,
    repo: record.repo,
    branch: record.branch,
    status: record.status,
    humanAttached: record.humanAttached,
    autonomous: record.autonomous,
    summary: record.summary,
    group: record.group,
    activeTurnId: record.activeTurnId,
    self: record.sessionId === callerId,
  };
}

/** Text cut to MAX_EDGE_MESSAGE characters, with a marker saying how much was left out. Pure. */
export function bounded(text: string): string {
  return text.length <= MAX_EDGE_MESSAGE
    ? text
    : `${text.slice(0, MAX_EDGE_MESSAGE)}… [${text.length - MAX_EDGE_MESSAGE} more characters cut]`;
}

/** A raw transcript item, replaced by its type and a marker when its JSON is longer than 4 × MAX_EDGE_MESSAGE. Pure. */
export function boundedItem(item: unknown): unknown {
  const json = JSON.stringify(item) ?? "";
  if (json.length <= 4 * MAX_EDGE_MESSAGE) return item;
  const type = typeof item === "object" && item !== null && "type" in item ? (item as { type: unknown }).type : null;
  return { type, cut: `item of ${json.length} characters left out` };
}
