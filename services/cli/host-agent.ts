/** `claw-supervisor host-agent`: placeholder wired into the dispatcher; its owner replaces this file. */
import { CliError, type Command } from "./io.js";

/** The `host-agent` command. */
export const hostAgentCommand: Command = {
  name: "host-agent",
  summary: "run the host agent that connects this host's Codex app-server to the gateway",
  usage: "Usage: claw-supervisor host-agent",
  async run() {
    throw new CliError("host-agent is not built yet");
  },
};
