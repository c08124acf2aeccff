/** `claw-supervisor launch`: the login command. Runs a Codex TUI on the shared app-server and registers the human's presence. */
import { realpathSync, statSync } from "node:fs";
import path from "node:path";
import { parseEndpoint } from "../codex-rpc/index.js";
import { ensureAppServer, LaunchError, runTui } from "../host-agent/index.js";
import { parseCommandArgs } from "./args.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { defaultStateDir } from "../clients/state-dir.js";

const usage = `Usage: claw-supervisor launch [--cd DIR] [--resume THREAD_ID] [--endpoint ENDPOINT] [--codex BIN]
                             [--state-dir DIR] [-- CODEX_ARGS...]

Runs the Codex TUI attached to this host's shared app-server, in the foreground on this terminal, and tells
the host agent a human is attached (a presence record under <state-dir>/presence/ while the TUI runs).
Exits with the TUI's exit code. Meant to be the SSH login command (see deploy/ssh/README.md).

--cd DIR           the workspace (default: the current directory)
--resume ID        attach to an existing thread: codex resume --remote ... ID
--endpoint E       the app-server (default unix://, the Codex daemon's socket; started if it does not answer)
--codex BIN        the codex binary (default $CODEX_BIN, else codex from PATH)
--state-dir DIR    where presence records go (default as for 'up'; must match the host agent's)
-- CODEX_ARGS      passed on to codex (e.g. -- -m gpt-5)`;

/** The `launch` command. */
export const launchCommand: Command = {
  name: "launch",
  summary: "run a Codex TUI attached to the shared daemon, registering the human's presence",
  usage,
  async run(argv: string[], io: CliIo): Promise<number> {
    const separator = argv.indexOf("--");
    const own = separator >= 0 ? argv.slice(0, separator) : argv;
    const extraArgs = separator >= 0 ? argv.slice(separator + 1) : [];
    const { values, positionals } = parseCommandArgs("launch", own, {
      cd: { type: "string" },
      resume: { type: "string" },
      endpoint: { type: "string" },
      codex: { type: "string" },
      "state-dir": { type: "string" },
    });
    if (values.help) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    if (positionals.length) {
      throw new CliError(
        `launch takes no arguments, got '${positionals[0]}'; pass codex's own options after '--'. See 'claw-supervisor launch --help'.`,
        2,
      );
    }
    const endpoint = values.endpoint ?? "unix://";
    try {
      parseEndpoint(endpoint, { env: io.env });
    } catch (err) {
      throw new CliError(`--endpoint: ${(err as Error).message}`, 2);
    }
    if (values.resume !== undefined && !/^[A-Za-z0-9_-]+$/.test(values.resume)) {
      throw new CliError("--resume: must be a thread id (letters, digits, '-' or '_')", 2);
    }
    const workspace = resolveWorkspace(values.cd);
    const codexBin = values.codex ?? io.env.CODEX_BIN ?? "codex";
    const stateDir = values["state-dir"] ? path.resolve(values["state-dir"]) : defaultStateDir(io.env);
    const notice = (line: string): void => io.stderr(`claw-supervisor launch: ${line}\n`);
    try {
      await ensureAppServer(endpoint, { codexBin, env: io.env, notice });
      return await runTui(
        { endpoint, workspace, resumeThreadId: values.resume, explicitWorkspace: values.cd !== undefined, extraArgs },
        { codexBin, env: io.env, stateDir, notice },
      );
    } catch (err) {
      if (err instanceof LaunchError) throw new CliError(err.message);
      throw err;
    }
  },
};

function resolveWorkspace(dir: string | undefined): string {
  const target = path.resolve(dir ?? process.cwd());
  try {
    if (!statSync(target).isDirectory()) throw new Error("not a directory");
    return realpathSync(target);
  } catch (err) {
    throw new CliError(`--cd: ${target}: ${(err as Error).message}`, 2);
  }
}
