/**
 * How a CLI command reaches the bus: the default URL, one connection with a one-line error when the bus is
 * not there, and a registry query failure worded as a CLI error. Shared by every command that asks the bus.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { connectBus } from "../bus/index.js";
import { RegistryQueryError } from "../clients/registry-queries.js";
import { CliError } from "./io.js";

/** NATS URL used when neither `--nats-url` nor `NATS_URL` is given. */
export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";

/** Connects the CLI to the bus at `url`, or throws a one-line CliError. */
export async function connectCli(url: string): Promise<NatsConnection> {
  try {
    return await connectBus({ servers: url, name: "claw-supervisor-cli" });
  } catch (err) {
    throw new CliError(`cannot connect to NATS at ${url}: ${(err as Error).message}`);
  }
}

/** Turns a registry query failure into a one-line CliError; rethrows anything else. */
export function queryFailure(err: unknown): never {
  if (err instanceof RegistryQueryError) throw new CliError(err.message);
  throw err;
}
