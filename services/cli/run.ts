/** The `claw-supervisor` command line: dispatches to subcommands; never throws, returns an exit code. */
import { CliError, type CliIo, type Command } from "./io.js";
import { auditCommand } from "./audit.js";
import { controlCommands } from "./control.js";
import { hostAgentCommand } from "./host-agent.js";
import { hostsCommand } from "./hosts.js";
import { launchCommand } from "./launch.js";
import { mcpCommand, mcpConfigCommand } from "./mcp.js";
import { policyCommand } from "./policy.js";
import { probeCommand } from "./probe.js";
import { serviceCommand } from "./service.js";
import { sessionsCommand } from "./sessions.js";
import { tokenCommand } from "./token.js";
import { upCommand } from "./up.js";
import { VERSION } from "../clients/version.js";

const commands: Command[] = [
  upCommand,
  sessionsCommand,
  hostsCommand,
  ...controlCommands,
  launchCommand,
  hostAgentCommand,
  serviceCommand,
  tokenCommand,
  policyCommand,
  auditCommand,
  probeCommand,
  mcpCommand,
  mcpConfigCommand,
];

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    "Usage: claw-supervisor <command> [options]",
    "",
    "Watch and drive a fleet of Codex sessions through the Codex app-server protocol.",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    "",
    "Run 'claw-supervisor <command> --help' for a command's options.",
    "",
  ].join("\n");
}

/** Runs one command line; returns the process exit code (0 ok, 1 failure, 2 usage error). */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    io.stdout(help());
    return 0;
  }
  if (name === "--version" || name === "-V") {
    io.stdout(`${VERSION}\n`);
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.stderr(`claw-supervisor: unknown command '${name}'. Commands: ${commands.map((c) => c.name).join(", ")}.\n`);
    return 2;
  }
  try {
    return await command.run(rest, io);
  } catch (err) {
    const message = err instanceof CliError ? err.message : `unexpected error: ${(err as Error)?.stack ?? String(err)}`;
    io.stderr(`claw-supervisor ${name}: ${message}\n`);
    return err instanceof CliError ? err.exitCode : 1;
  }
}
