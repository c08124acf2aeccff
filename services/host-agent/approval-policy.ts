/**
 * The approval policy of autonomous sessions: whether a server→client request (command, file change, tool,
 * elicitation, ...) is allowed by a thread's ApprovalRules, and the reply that says so. Pure: no I/O.
 * Everything the rules do not clearly allow is declined, including kinds this file does not know.
 */
import path from "node:path";
import { z } from "zod";
import { refusalReplies, type ServerRequestMethod, type ServerRequestReply } from "../../schemas/codex/index.js";
import type { ApprovalAsk, ApprovalRules } from "../../schemas/host-rpc.js";
import { redactString } from "../../schemas/redact.js";

/** The policy's answer to one request, with a reason an audit log (and a person) can read. */
export interface ApprovalVerdict {
  allow: boolean;
  reason: string;
}

/** A reply to any server request kind. */
export type AnyServerRequestReply = ServerRequestReply<ServerRequestMethod>;

/**
 * Text that makes a shell do more than run one command (or redirect its output): refused after a prefix unless
 * the prefix itself ends inside it. Wider than `; && || | \` $(` on purpose: `&` backgrounds and chains, `>`
 * writes files, `<(`/`>(` run commands.
 */
const SHELL_META = [";", "&", "|", "`", "$(", "<", ">", "\n", "\r"] as const;
const SHELLS: ReadonlySet<string> = new Set(["bash", "sh", "zsh", "dash", "ksh"]);
const SHELL_SCRIPT_FLAGS: ReadonlySet<string> = new Set(["-c", "-lc", "-cl"]);

const deny = (reason: string): ApprovalVerdict => ({ allow: false, reason });
const allow = (reason: string): ApprovalVerdict => ({ allow: true, reason });

const CommandApproval = z.looseObject({
  command: z.string().nullish(),
  kind: z.string().nullish(),
  networkApprovalContext: z.looseObject({ host: z.string() }).nullish(),
});
const LegacyExecApproval = z.looseObject({ command: z.array(z.string()) });
const LegacyPatchApproval = z.looseObject({
  fileChanges: z.record(z.string(), z.looseObject({ type: z.string(), move_path: z.string().nullish() })),
  grantRoot: z.string().nullish(),
});
const Elicitation = z.looseObject({
  serverName: z.string(),
  mode: z.string().optional(),
  requestedSchema: z.unknown().optional(),
});

/**
 * Decides a server request of an autonomous thread against its rules. Pure. Commands: allowed when the command
 * (unwrapped from `bash -lc '...'`) starts with a prefix at a word boundary and adds no shell control text;
 * file changes: when every path (and any requested grant root) is under a `pathPrefixes` folder; MCP
 * elicitations: by server name when they ask for no input; everything else is declined.
 */
export function decideApproval(
  rules: ApprovalRules,
  method: ServerRequestMethod | string,
  params: unknown,
): ApprovalVerdict {
  switch (method) {
    case "item/commandExecution/requestApproval": {
      const p = CommandApproval.safeParse(params);
      if (!p.success) return deny("the command approval's params could not be read");
      if (p.data.kind && p.data.kind !== "command")
        return deny(`a "${p.data.kind}" approval is not a command the rules can allow`);
      if (p.data.networkApprovalContext)
        return deny(`network access to ${p.data.networkApprovalContext.host} is never allowed by command rules`);
      if (!p.data.command?.trim()) return deny("the approval names no command");
      const argv = shellSplit(p.data.command);
      return decideCommand(rules, argv ? effectiveCommand(argv, p.data.command) : p.data.command.trim());
    }
    case "execCommandApproval": {
      const p = LegacyExecApproval.safeParse(params);
      if (!p.success || p.data.command.length === 0) return deny("the command approval's params could not be read");
      return decideCommand(rules, effectiveCommand(p.data.command, p.data.command.join(" ")));
    }
    case "item/fileChange/requestApproval":
      return deny(
        "the file-change approval carries no paths (codex 0.169 sends only itemId and reason), so pathPrefixes cannot be checked",
      );
    case "applyPatchApproval": {
      const p = LegacyPatchApproval.safeParse(params);
      if (!p.success) return deny("the patch approval's params could not be read");
      const paths = Object.entries(p.data.fileChanges).flatMap(([file, change]) =>
        change.move_path ? [file, change.move_path] : [file],
      );
      if (p.data.grantRoot) paths.push(p.data.grantRoot);
      return decidePaths(rules, paths);
    }
    case "mcpServer/elicitation/request": {
      const p = Elicitation.safeParse(params);
      if (!p.success) return deny("the elicitation's params could not be read");
      if (!rules.tools.includes(p.data.serverName))
        return deny(`MCP server ${p.data.serverName} is not in the allowed tools`);
      if (p.data.mode === "url") return deny("the elicitation asks a person to open a URL");
      if (asksForInput(p.data.requestedSchema))
        return deny("the elicitation asks for input the host agent cannot give");
      return allow(`MCP server ${p.data.serverName} is in the allowed tools`);
    }
    case "item/tool/call":
      return deny("the host agent implements no dynamic tools, so none can run");
    case "item/tool/requestUserInput":
      return deny("the session asks a person a question; autonomous sessions get no answers");
    case "item/permissions/requestApproval":
      return deny("extra permissions are never granted to an autonomous session");
    default:
      return deny(`${method} is not something the approval rules can allow`);
  }
}

/** What the rules say of a request: allow it, hold it for an operator or the Claw (`ask`), or decline it. */
export type RuleOutcome = "allow" | "ask" | "decline";

/** The verdict on one request, with what it asks in one redacted line. */
export interface RuleVerdict {
  outcome: RuleOutcome;
  reason: string;
  /** `command`, `network`, `fileChange`, `elicitation`, or the method for kinds no rule can match. */
  kind: string;
  /** What it asks, one line, redacted, at most SUMMARY_CHARS characters. */
  summary: string;
  /** For `ask`: how long it is held before the host agent declines it, ms. */
  deadlineMs?: number;
}

/** Longest summary of a request, in characters. */
export const SUMMARY_CHARS = 500;

/** What an `ask` rule is matched against. */
interface RequestFacts {
  kind: string;
  summary: string;
  /** True when the summary had to be cut to SUMMARY_CHARS: it does not show all the request asks. */
  clipped?: boolean;
  command?: string;
  paths?: string[];
  elicitation?: { server: string; answerable: boolean };
}

/**
 * The verdict of a thread's rules on one server request. Pure. Precedence: allowed when an allow rule allows it
 * (decideApproval); else held when an `ask` rule matches it (the first, in policy order, gives the deadline)
 * and its summary shows all of it (one that would be cut is declined: nobody may approve what they cannot
 * read, and an ask prefix lets any shell text follow it); else declined, with the allow check's reason.
 */
export function judgeApproval(
  rules: ApprovalRules,
  method: ServerRequestMethod | string,
  params: unknown,
): RuleVerdict {
  const facts = requestFacts(method, params);
  const allowed = decideApproval(rules, method, params);
  if (allowed.allow) return { outcome: "allow", reason: allowed.reason, kind: facts.kind, summary: facts.summary };
  const index = (rules.ask ?? []).findIndex((ask) => askMatches(ask, facts));
  const ask = rules.ask?.[index];
  if (ask && facts.clipped)
    return {
      outcome: "decline",
      reason: `an ask rule (approvals ask #${index + 1}) matched it, but an approver would not see all it asks (it is longer than the ${SUMMARY_CHARS} characters shown, or part of it is redacted), so it is declined rather than held: ${allowed.reason}`,
      kind: facts.kind,
      summary: facts.summary,
    };
  if (ask)
    return {
      outcome: "ask",
      reason: `an ask rule (approvals ask #${index + 1}) holds it for an answer: ${allowed.reason}`,
      kind: facts.kind,
      summary: facts.summary,
      deadlineMs: ask.deadlineMs,
    };
  return { outcome: "decline", reason: allowed.reason, kind: facts.kind, summary: facts.summary };
}

/** True when one `ask` rule covers the request. Pure. */
function askMatches(ask: ApprovalAsk, facts: RequestFacts): boolean {
  if ((ask.kinds as readonly string[]).includes(facts.kind)) return true;
  if (facts.kind === "command" && facts.command !== undefined)
    return ask.commandPrefixes.some((raw) => prefixAt(facts.command as string, raw));
  if (facts.kind === "fileChange" && facts.paths !== undefined && ask.pathPrefixes.length > 0)
    return decidePaths({ commandPrefixes: [], pathPrefixes: ask.pathPrefixes, tools: [] }, facts.paths).allow;
  if (facts.kind === "elicitation" && facts.elicitation?.answerable)
    return ask.tools.includes(facts.elicitation.server);
  return false;
}

/** True when `command` starts with `raw` (trimmed) at a word boundary; shell control text after it is fine. */
function prefixAt(command: string, raw: string): boolean {
  const prefix = raw.trim();
  if (!prefix || !command.startsWith(prefix)) return false;
  const rest = command.slice(prefix.length);
  return rest === "" || /^\s/.test(rest) || /\s$/.test(raw);
}

/**
 * What a request asks, for ask rules and for people: its kind and a one-line redacted summary (line breaks shown
 * as ⏎, which separate shell commands as `;` does), `clipped` when it was cut or redacted. Pure.
 */
function requestFacts(method: string, params: unknown): RequestFacts {
  const facts = requestFactsUnmarked(method, params);
  // `line` keeps at most SUMMARY_CHARS - 1 characters and adds "…" only when it cut. A redacted summary hides
  // text too (some secret shapes swallow the rest of the line), so it counts as clipped: shown, never held.
  const cut = facts.summary.length >= SUMMARY_CHARS || facts.summary.includes("[REDACTED:");
  return cut ? { ...facts, clipped: true } : facts;
}

function requestFactsUnmarked(method: string, params: unknown): RequestFacts {
  const line = (text: string): string =>
    truncate(
      redactString(
        text
          .replace(/\s*(?:\r\n|\r|\n)\s*/g, " ⏎ ")
          .replace(/\s+/g, " ")
          .trim(),
      ),
      SUMMARY_CHARS - 1,
    );
  switch (method) {
    case "item/commandExecution/requestApproval": {
      const p = CommandApproval.safeParse(params);
      if (!p.success) return { kind: "command", summary: "a command (its params could not be read)" };
      const text = p.data.command?.trim() ?? "";
      const argv = text ? shellSplit(text) : undefined;
      const command = text ? (argv ? effectiveCommand(argv, text) : text) : undefined;
      if (p.data.networkApprovalContext)
        return {
          kind: "network",
          summary: line(`network access to ${p.data.networkApprovalContext.host}${command ? ` for: ${command}` : ""}`),
        };
      if (p.data.kind && p.data.kind !== "command")
        return { kind: p.data.kind, summary: line(`${p.data.kind}: ${text}`) };
      return command
        ? { kind: "command", command, summary: line(command) }
        : { kind: "command", summary: "a command with no text" };
    }
    case "execCommandApproval": {
      const p = LegacyExecApproval.safeParse(params);
      if (!p.success || p.data.command.length === 0)
        return { kind: "command", summary: "a command (its params could not be read)" };
      const command = effectiveCommand(p.data.command, p.data.command.join(" "));
      return { kind: "command", command, summary: line(command) };
    }
    case "item/fileChange/requestApproval": {
      const reason = (params as { reason?: unknown } | null)?.reason;
      return {
        kind: "fileChange",
        summary: line(`a file change${typeof reason === "string" && reason ? `: ${reason}` : ""}`),
      };
    }
    case "applyPatchApproval": {
      const p = LegacyPatchApproval.safeParse(params);
      if (!p.success) return { kind: "fileChange", summary: "a patch (its params could not be read)" };
      const paths = Object.entries(p.data.fileChanges).flatMap(([file, change]) =>
        change.move_path ? [file, change.move_path] : [file],
      );
      if (p.data.grantRoot) paths.push(p.data.grantRoot);
      return { kind: "fileChange", paths, summary: line(`change ${paths.length} file(s): ${paths.join(", ")}`) };
    }
    case "mcpServer/elicitation/request": {
      const p = Elicitation.safeParse(params);
      if (!p.success) return { kind: "elicitation", summary: "an MCP elicitation (its params could not be read)" };
      const answerable = p.data.mode !== "url" && !asksForInput(p.data.requestedSchema);
      return {
        kind: "elicitation",
        elicitation: { server: p.data.serverName, answerable },
        summary: line(`MCP server ${p.data.serverName} asks to go on`),
      };
    }
    default:
      return { kind: method, summary: line(method) };
  }
}

/** Decides one command line against the command prefixes. Pure. */
export function decideCommand(rules: ApprovalRules, command: string): ApprovalVerdict {
  const cmd = command.trim();
  for (const raw of rules.commandPrefixes) {
    const prefix = raw.trim();
    if (!prefix || !cmd.startsWith(prefix)) continue;
    const rest = cmd.slice(prefix.length);
    if (rest !== "" && !/^\s/.test(rest) && !/\s$/.test(raw)) continue;
    const meta = SHELL_META.find((m) => rest.includes(m));
    if (meta)
      return deny(`the command adds shell control text ${JSON.stringify(meta)} after the allowed prefix "${prefix}"`);
    return allow(`the command starts with the allowed prefix "${prefix}"`);
  }
  return deny(`no allowed prefix matches the command "${truncate(cmd, 200)}"`);
}

/** Decides a set of touched paths against the path prefixes: every one must be absolute and under one. Pure. */
export function decidePaths(rules: ApprovalRules, paths: readonly string[]): ApprovalVerdict {
  if (paths.length === 0) return deny("the change names no paths");
  for (const file of paths) {
    if (!path.posix.isAbsolute(file)) return deny(`the path ${file} is not absolute`);
    const normal = path.posix.resolve(file);
    if (!rules.pathPrefixes.some((prefix) => isUnder(normal, prefix)))
      return deny(`the path ${normal} is under no allowed folder`);
  }
  return allow(`all ${paths.length} paths are under allowed folders`);
}

/** The reply that carries a verdict; kinds with no "allow" answer (questions, permissions, tools) always refuse. */
export function approvalReply(method: ServerRequestMethod, allowed: boolean): AnyServerRequestReply | undefined {
  if (allowed) {
    switch (method) {
      case "item/commandExecution/requestApproval":
      case "item/fileChange/requestApproval":
        return { decision: "accept" };
      case "applyPatchApproval":
      case "execCommandApproval":
        return { decision: "approved" };
      case "mcpServer/elicitation/request":
        return { action: "accept" };
      default:
        break;
    }
  }
  if (method === "item/tool/call") {
    return {
      success: false,
      contentItems: [
        { type: "inputText", text: "declined by the supervisor's policy: this host runs no dynamic tools" },
      ],
    };
  }
  return refusalReplies[method];
}

/** The thread a server request is about: `threadId`, or `conversationId` for the legacy kinds. Pure. */
export function requestThreadId(params: unknown): string | undefined {
  if (typeof params !== "object" || params === null) return undefined;
  const p = params as { threadId?: unknown; conversationId?: unknown };
  if (typeof p.threadId === "string" && p.threadId) return p.threadId;
  if (typeof p.conversationId === "string" && p.conversationId) return p.conversationId;
  return undefined;
}

/** The command a shell would run: the script of `bash -lc SCRIPT`, else the command as given. Pure. */
function effectiveCommand(argv: readonly string[], asGiven: string): string {
  const [program, flag, script] = argv;
  if (
    argv.length === 3 &&
    program &&
    flag &&
    script !== undefined &&
    SHELLS.has(path.posix.basename(program)) &&
    SHELL_SCRIPT_FLAGS.has(flag)
  ) {
    return script.trim();
  }
  return asGiven.trim();
}

/**
 * Splits a command line into words by POSIX shell quoting (how Codex renders an argv: `/bin/bash -lc 'a && b'`).
 * Returns undefined for unbalanced quotes. Pure.
 */
export function shellSplit(line: string): string[] | undefined {
  const words: string[] = [];
  let word = "";
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) return undefined;
      word += line.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === "\\" && j + 1 < line.length && '"\\$`\n'.includes(line[j + 1] as string)) j++;
        word += line[j];
      }
      if (j >= line.length) return undefined;
      inWord = true;
      i = j;
    } else if (c === "\\") {
      if (i + 1 >= line.length) return undefined;
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

function isUnder(file: string, prefix: string): boolean {
  if (!path.posix.isAbsolute(prefix)) return false;
  const root = path.posix.resolve(prefix);
  return file === root || file.startsWith(root === "/" ? "/" : `${root}/`);
}

/** True when an elicitation's schema has fields to fill in (or is not a schema we can read). */
function asksForInput(schema: unknown): boolean {
  if (schema === undefined || schema === null) return false;
  if (typeof schema !== "object") return true;
  const properties = (schema as { properties?: unknown }).properties;
  if (properties === undefined) return false;
  return typeof properties !== "object" || properties === null || Object.keys(properties).length > 0;
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
