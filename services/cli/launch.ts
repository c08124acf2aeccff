/** `claw-supervisor launch`: placeholder wired into the dispatcher; its owner replaces this file. */
import { CliError, type Command } from "./io.js";

/** The `launch` command. */
export const launchCommand: Command = {
  name: "launch",
  summary: "run a Codex TUI attached to the shared daemon, registering the human's presence",
  usage: "Usage: claw-supervisor launch",
  async run() {
    throw new CliError("launch is not built yet");
  },
};
