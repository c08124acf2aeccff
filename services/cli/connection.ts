/**
 * How a CLI command reaches the bus: the default URL, one connection with a one-line error when the bus is
 * not there, and a registry query failure worded as a CLI error. Shared by every command that asks the bus.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { connectBus } from "../bus/index.js";
import { type BusLogin, loginForUrl } from "../clients/bus-credentials.js";
import { RegistryQueryError } from "../clients/registry-queries.js";
import { CliError } from "./io.js";

/** NATS URL used when neither `--nats-url` nor `NATS_URL` is given. */
export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";

/**
 * Connects the CLI to the bus at `url`, or throws a one-line CliError. When `url` is the bus of the `up`
 * running on this state dir, the CLI logs in as its `operator` user (credentials never go to another server).
 */
export async function connectCli(url: string, env: NodeJS.ProcessEnv = process.env): Promise<NatsConnection> {
  let login: BusLogin | undefined;
  try {
    login = loginForUrl(url, "operator", env);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  try {
    return await connectBus({ servers: url, name: "claw-supervisor-cli", ...login });
  } catch (err) {
    const hint = /authori[sz]ation/i.test((err as Error).message)
      ? login
        ? " (the operator credentials of the running 'up' were refused)"
        : " (this bus needs credentials: run the CLI as the user that runs 'claw-supervisor up', or put them in the URL)"
      : "";
    throw new CliError(`cannot connect to NATS at ${url}: ${(err as Error).message}${hint}`);
  }
}

/** Turns a registry query failure into a one-line CliError; rethrows anything else. */
export function queryFailure(err: unknown): never {
  if (err instanceof RegistryQueryError) throw new CliError(err.message);
  throw err;
}
