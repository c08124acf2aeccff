/** `claw-supervisor hosts`: placeholder wired into the dispatcher; its owner replaces this file. */
import { CliError, type Command } from "./io.js";

/** The `hosts` command. */
export const hostsCommand: Command = {
  name: "hosts",
  summary: "list the fleet's hosts",
  usage: "Usage: claw-supervisor hosts",
  async run() {
    throw new CliError("hosts is not built yet");
  },
};
