/**
 * How a CLI command reaches the bus: which URL (the flag, NATS_URL, or the running `up` of the state dir, and
 * never a guessed server), one connection with a one-line error naming the URL, a registry query failure worded
 * as a CLI error naming it too, and (for commands that run until Ctrl-C) word on stderr when the bus goes and
 * comes back. Shared by every command that asks the bus.
 */
import type { Authenticator, NatsConnection } from "@nats-io/transport-node";
import { connectBus } from "../bus/connect.js";
import { type BusLogin, loginForUrl } from "../clients/bus-credentials.js";
import { RegistryQueryError } from "../clients/registry-queries.js";
import { defaultStateDir } from "../clients/state-dir.js";
import { findRunningUp } from "../clients/up-file.js";
import { CliError } from "./io.js";

/** What `--nats-url` says in every command's help. */
export const NATS_URL_HELP = "the bus (default $NATS_URL, else the running 'up' of the state dir)";

/** Exit code when no bus is given and no `up` runs on the state dir (the same as any other failure). */
export const NO_BUS_EXIT_CODE = 1;

/**
 * The bus a CLI command uses: `--nats-url`, else `$NATS_URL`, else the bus of the `claw-supervisor up` running
 * on `stateDir` (its `up.json`). With none of them, a CliError (exit {@link NO_BUS_EXIT_CODE}) naming the
 * state dir it looked in and what to do: it never falls back to some server that may be another one.
 */
export function cliBusUrl(
  flag: string | undefined,
  env: NodeJS.ProcessEnv,
  stateDir: string = defaultStateDir(env),
): string {
  if (flag !== undefined && flag !== "") return flag;
  if (env.NATS_URL !== undefined && env.NATS_URL !== "") return env.NATS_URL;
  const found = findRunningUp(stateDir);
  if (found.ok) return found.up.natsUrl;
  throw new CliError(
    `no running 'claw-supervisor up' found in ${stateDir} (${found.why}): start it, or pass --nats-url/NATS_URL`,
    NO_BUS_EXIT_CODE,
  );
}

/** The URL each CLI connection was made to, for messages about failures on it. */
const urls = new WeakMap<NatsConnection, string>();
/** The URL of the latest connection, for failures that do not say which connection they came from. */
let lastUrl: string | undefined;

/** A login asked again at every (re)connect: given only while `url` is still the running `up`'s own server. */
function recheckedLogin(url: string, env: NodeJS.ProcessEnv): Authenticator {
  return () => {
    try {
      const login = loginForUrl(url, "operator", env);
      return login ? { user: login.user, pass: login.pass } : undefined;
    } catch {
      return undefined;
    }
  };
}

/**
 * Connects the CLI to the bus at `url`, or throws a one-line CliError naming it. When `url` is the bus of the
 * `up` running on this state dir, the CLI logs in as its `operator` user (credentials never go to another
 * server). The connection redials by itself when the bus goes away; with `up`'s credentials, each redial checks
 * again that the port is `up`'s own nats-server before sending them (none go to whoever holds it meanwhile).
 */
export async function connectCli(url: string, env: NodeJS.ProcessEnv = process.env): Promise<NatsConnection> {
  let login: BusLogin | undefined;
  try {
    login = loginForUrl(url, "operator", env);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  let nc: NatsConnection;
  try {
    nc = await connectBus({
      servers: url,
      name: "claw-supervisor-cli",
      ...(login ? { authenticator: recheckedLogin(url, env) } : {}),
    });
  } catch (err) {
    const hint = /authori[sz]ation/i.test((err as Error).message)
      ? login
        ? " (the operator credentials of the running 'up' were refused)"
        : " (this bus needs credentials: run the CLI as the user that runs 'claw-supervisor up', or put them in the URL)"
      : "";
    throw new CliError(`cannot connect to NATS at ${shownUrl(url)}: ${(err as Error).message}${hint}`);
  }
  urls.set(nc, url);
  lastUrl = url;
  return nc;
}

/** `url` without credentials in it, for messages. Pure. */
export function shownUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, "//");
}

/** Turns a registry query failure into a one-line CliError naming the bus it asked; rethrows anything else. */
export function queryFailure(err: unknown): never {
  if (err instanceof RegistryQueryError)
    throw new CliError(lastUrl === undefined ? err.message : `${err.message} (asked the bus at ${shownUrl(lastUrl)})`);
  throw err;
}

/** The URL `nc` was connected to by {@link connectCli}, for messages. */
export function urlOf(nc: NatsConnection): string | undefined {
  const url = urls.get(nc);
  return url === undefined ? undefined : shownUrl(url);
}

/**
 * Says on stderr when the bus is lost ("lost the bus at <url>; reconnecting…") and when it is back ("back on
 * the bus at <url>"), once each per outage, for a command that runs until Ctrl-C (`sessions --watch`). The
 * connection redials by itself (forever); `onBack` runs after each return, for what must be set up again.
 * Returns a function that stops the reporting.
 */
export function reportBusStatus(
  nc: NatsConnection,
  stderr: (text: string) => void,
  o: { command: string; onBack?: () => void } = { command: "claw-supervisor" },
): () => void {
  const url = urlOf(nc) ?? nc.getServer();
  const statuses = nc.status();
  let lost = false;
  let stopped = false;
  void (async () => {
    for await (const s of statuses) {
      if (stopped) break;
      if ((s.type === "disconnect" || s.type === "staleConnection") && !lost) {
        lost = true;
        stderr(`${o.command}: lost the bus at ${url}; reconnecting…\n`);
      } else if (s.type === "reconnect" && lost) {
        lost = false;
        stderr(`${o.command}: back on the bus at ${url}\n`);
        o.onBack?.();
      }
    }
  })();
  return () => {
    stopped = true;
    // The iterator also ends when the connection closes; stop it now if it can be.
    (statuses as { stop?: () => void }).stop?.();
  };
}
