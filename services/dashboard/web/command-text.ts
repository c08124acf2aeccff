/**
 * One line saying what a dashboard command did, as the CLI's operator verbs print it (services/cli/control.ts):
 * what the page shows in a control's `command-result`. Pure; no DOM.
 */
import type { DashboardVerb } from "../../../schemas/dashboard.js";

/** What `runCommand` answers, as far as the page reads it: the policy's CommandResult or an API failure. */
export type CommandOutcome =
  | { ok: true; data: unknown }
  | { ok: false; code: string; message: string; status?: number; reason?: string };

type Data = Record<string, unknown>;

const str = (v: unknown): string => (typeof v === "string" ? v : v === null || v === undefined ? "" : String(v));
const where = (d: Data): string => (d.hostId && d.sessionId ? `${str(d.hostId)}/${str(d.sessionId)}: ` : "");

/** What a successful `verb` did, in one line. Pure. */
export function successText(verb: DashboardVerb, data: unknown): string {
  const d = (data !== null && typeof data === "object" ? data : {}) as Data;
  switch (verb) {
    case "send":
      return `${d.action === "steered" ? "steered turn" : "started turn"} ${str(d.turnId)}`;
    case "reply":
      return `replied: ${str(d.action)} turn ${str(d.turnId)}${d.correlationId ? ` (answers ${str(d.correlationId)})` : ""}`;
    case "interrupt":
      return `interrupted turn ${str(d.turnId)}`;
    case "approve":
      return `${where(d)}request ${str(d.requestId)} ${d.decision === "accept" ? "approved" : "declined"}${d.summary ? ` (${str(d.summary)})` : ""}`;
    case "mark":
      return `${where(d)}${d.disposition === null || d.disposition === undefined ? "mark cleared" : `marked ${str(d.disposition)}`}`;
    case "assign": {
      const parts = [
        ...("group" in d ? [`group ${d.group === null ? "(none)" : str(d.group)}`] : []),
        ...("owner" in d ? [`owner ${d.owner === null ? "(none)" : str(d.owner)}`] : []),
      ];
      return `${where(d)}${parts.join(", ") || "assigned"}`;
    }
    case "handoff": {
      const h = (d.handoff ?? {}) as { to?: { kind?: string; who?: string | null; sessionId?: string } };
      if (h.to?.kind === "session") return `${where(d)}handed off to session ${str(h.to.sessionId)}`;
      return `${where(d)}handed off to a person${h.to?.who ? ` (${h.to.who})` : ""}`;
    }
    case "spawn":
      return `spawned session ${str(d.sessionId)} on host ${str(d.hostId)} (turn ${str(d.turnId)})`;
    case "broadcast":
      return `sent to ${str(d.sent)} of ${str(d.targets)} sessions`;
    case "read":
      return "read";
  }
}

/** The line a control shows for a command's outcome: what it did, or `code: message`. Pure. */
export function outcomeText(verb: DashboardVerb, outcome: CommandOutcome): string {
  return outcome.ok ? successText(verb, outcome.data) : `${outcome.code}: ${outcome.message}`;
}

/** The command a person runs on the session's host to take it over in a Codex TUI, through the launcher. */
export function launchResumeCommand(threadId: string): string {
  return `claw-supervisor launch --resume ${threadId}`;
}

/** The same with plain Codex, joining the host's shared app-server daemon. */
export function codexResumeCommand(threadId: string): string {
  return `codex resume --remote unix:// ${threadId}`;
}
