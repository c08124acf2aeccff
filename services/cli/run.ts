/**
 * The `claw-supervisor` command line: dispatches to subcommands; never throws, returns an exit code. The
 * command table holds each command's name and summary and loads its module only when it runs, so `--help`,
 * `--version`, a mistyped command and every command pay only for what they use (see bench/cli.ts).
 */
import { CliError, type CliIo, type CommandEntry } from "./io.js";
import { jsonFailure, wantsJson } from "./output.js";
import { closest } from "./suggest.js";
import { VERSION } from "../clients/version.js";

const verb = (name: string, summary: string): CommandEntry => ({
  name,
  summary,
  load: async () => {
    const found = (await import("./control.js")).controlCommands.find((c) => c.name === name);
    if (!found) throw new Error(`control.ts has no verb ${name}`);
    return found;
  },
});

/** Every command, in the order `--help` lists them. Summaries match the modules' (cli.test.ts checks). */
export const commandTable: readonly CommandEntry[] = [
  {
    name: "up",
    summary:
      "run the whole supervisor on this machine (bus, gateway, registry, policy, MCP edge, dashboard, host agent)",
    load: async () => (await import("./up.js")).upCommand,
  },
  {
    name: "sessions",
    summary: "list the fleet's sessions (status, workspace, who drives them)",
    load: async () => (await import("./sessions.js")).sessionsCommand,
  },
  {
    name: "hosts",
    summary: "list the fleet's hosts and their connection state",
    load: async () => (await import("./hosts.js")).hostsCommand,
  },
  {
    name: "attention",
    summary:
      "list what needs a person: approvals, input, asks, escalations, handoffs, errors, stale sessions (oldest first)",
    load: async () => (await import("./attention.js")).attentionCommand,
  },
  {
    name: "claws",
    summary: "list the Claw groups, their Claws (live or down) and which Claw owns which session",
    load: async () => (await import("./claws.js")).clawsCommand,
  },
  {
    name: "budget",
    summary: "spend against the budgets by limit, group and day; 'budget lift' lets a stopped session go on",
    load: async () => (await import("./budget.js")).budgetCommand,
  },
  verb("read", "read a session's transcript, newest turns first, through policy"),
  verb("send", "send text: start a turn in an idle session, steer the running one otherwise"),
  verb("reply", "answer a session's question (starts or steers a turn in it)"),
  verb("interrupt", "interrupt a session's running turn"),
  verb("spawn", "start an autonomous session on a host; prints how a person attaches to it"),
  verb("broadcast", "send text to every session a filter matches (a filter and a bound are required)"),
  verb("mark", "mark a session blocked, done or abandoned (none clears the mark)"),
  verb("assign", "put a session in a group or give it an owner (a label the fleet can filter on)"),
  verb("handoff", "record a handoff of a session to a person or a peer session (a fleet event the Claw sees)"),
  verb("approve", "let an autonomous session's held approval run (an approvals 'ask' rule held it)"),
  verb("decline", "refuse an autonomous session's held approval (an approvals 'ask' rule held it)"),
  {
    name: "launch",
    summary: "run a Codex TUI attached to the shared daemon, registering the human's presence",
    load: async () => (await import("./launch.js")).launchCommand,
  },
  {
    name: "host-agent",
    summary: "run the host agent that connects this host's Codex app-server to the gateway",
    load: async () => (await import("./host-agent.js")).hostAgentCommand,
  },
  {
    name: "service",
    summary: "run one supervisor service in the foreground (rpc-gateway, registry, policy, mcp-edge, dashboard)",
    load: async () => (await import("./service.js")).serviceCommand,
  },
  {
    name: "token",
    summary: "create, revoke or list host tokens (for host agents dialling the rpc-gateway)",
    load: async () => (await import("./token.js")).tokenCommand,
  },
  {
    name: "operator",
    summary: "add, list or revoke the people who may sign in to the web dashboard (role operator or viewer)",
    load: async () => (await import("./operator.js")).operatorCommand,
  },
  {
    name: "policy",
    summary: "show, replace, reset or try out the policy document (who may do what to which sessions)",
    load: async () => (await import("./policy.js")).policyCommand,
  },
  {
    name: "audit",
    summary: "list the audit trail of commands and decisions; 'audit replay' rebuilds sessions from the event log",
    load: async () => (await import("./audit.js")).auditCommand,
  },
  {
    name: "probe",
    summary: "check an app-server endpoint and list its loaded threads",
    load: async () => (await import("./probe.js")).probeCommand,
  },
  {
    name: "mcp",
    summary:
      "serve the openclaw-codex-supervisor MCP server on stdio for one Codex session (its token in $CLAW_MCP_TOKEN)",
    load: async () => (await import("./mcp.js")).mcpCommand,
  },
  {
    name: "mcp-config",
    summary:
      "print the config.toml snippet and 'codex mcp add' line attaching the MCP server to one session (--revoke: revoke its tokens)",
    load: async () => (await import("./mcp.js")).mcpConfigCommand,
  },
  {
    name: "completion",
    summary: "print a bash or zsh completion script for claw-supervisor",
    load: async () => (await import("./completion.js")).completionCommand(commandTable),
  },
];

function help(): string {
  const width = Math.max(...commandTable.map((c) => c.name.length)) + 2;
  return [
    "Usage: claw-supervisor <command> [options]",
    "",
    "Watch and drive a fleet of Codex sessions through the Codex app-server protocol.",
    "",
    "Commands:",
    ...commandTable.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    "Run 'claw-supervisor <command> --help' for a command's options.",
    "Shell completion: 'source <(claw-supervisor completion bash)' (or zsh).",
    "",
  ].join("\n");
}

/** Prints a failure as one line on stderr and, when the command line asked for JSON, as JSON on stdout. */
function fail(io: CliIo, json: boolean, prefix: string, code: string, message: string): void {
  if (json) io.stdout(jsonFailure(code, message));
  io.stderr(`${prefix}: ${message}\n`);
}

/**
 * Runs one command line; returns the process exit code (0 ok, 1 failure, 2 usage error, 3-9 and 12 the typed
 * results of command-client's EXIT_CODES). With `--json` (or `-o json`) every failure is also printed as
 * `{ok:false,code,message}` on stdout.
 */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  const json = wantsJson(argv);
  if (!name || name === "--help" || name === "-h" || name === "help") {
    io.stdout(help());
    return 0;
  }
  if (name === "--version" || name === "-V") {
    io.stdout(`${VERSION}\n`);
    return 0;
  }
  const entry = commandTable.find((c) => c.name === name);
  if (!entry) {
    const names = commandTable.map((c) => c.name);
    const guess = closest(name, names);
    const message = name.startsWith("-")
      ? `unknown option '${name}'. Run 'claw-supervisor --help' for the commands.`
      : `unknown command '${name}'${guess ? `: did you mean '${guess}'?` : "."} Commands: ${names.join(", ")}.`;
    fail(io, json, "claw-supervisor", "usage", message);
    return 2;
  }
  try {
    const command = await entry.load();
    return await command.run(rest, io);
  } catch (err) {
    if (err instanceof CliError) {
      fail(io, json, `claw-supervisor ${name}`, err.code, err.message);
      return err.exitCode;
    }
    const message = (err as Error)?.message ?? String(err);
    if (json) io.stdout(jsonFailure("failure", `unexpected error: ${message}`));
    io.stderr(`claw-supervisor ${name}: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}
