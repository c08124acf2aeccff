/** `claw-supervisor service`: placeholder wired into the dispatcher; its owner replaces this file. */
import { CliError, type Command } from "./io.js";

/** The `service` command. */
export const serviceCommand: Command = {
  name: "service",
  summary: "run one supervisor service (rpc-gateway, registry) in the foreground",
  usage: "Usage: claw-supervisor service",
  async run() {
    throw new CliError("service is not built yet");
  },
};
