/** `claw-supervisor sessions`: placeholder wired into the dispatcher; its owner replaces this file. */
import { CliError, type Command } from "./io.js";

/** The `sessions` command. */
export const sessionsCommand: Command = {
  name: "sessions",
  summary: "list the fleet's sessions",
  usage: "Usage: claw-supervisor sessions",
  async run() {
    throw new CliError("sessions is not built yet");
  },
};
