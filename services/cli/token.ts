/** `claw-supervisor token`: placeholder wired into the dispatcher; its owner replaces this file. */
import { CliError, type Command } from "./io.js";

/** The `token` command. */
export const tokenCommand: Command = {
  name: "token",
  summary: "create or revoke a host token",
  usage: "Usage: claw-supervisor token",
  async run() {
    throw new CliError("token is not built yet");
  },
};
