/**
 * How a CLI command reaches the bus: which URL (the flag, NATS_URL, or the running `up` of the state dir, and
 * never a guessed server), one connection with a one-line error naming the URL, a registry query failure worded
 * as a CLI error naming it too, and (for commands that run until Ctrl-C) word on stderr when the bus goes and
 * comes back. Shared by every command that asks the bus.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { connectBus } from "../bus/connect.js";
import { type BusLogin, loginForUrl, upBusLogin } from "../clients/bus-credentials.js";
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

/**
 * Connects the CLI to the bus at `url`, or throws a one-line CliError naming it. When `url` is the bus of the
 * `up` running on this state dir, the CLI logs in as its `operator` user (credentials never go to another
 * server). The connection redials by itself when the bus goes away; with `up`'s credentials, each redial checks
 * again that the port is `up`'s own nats-server before sending them, and when it is not, the connection is
 * closed with an error saying so: neither the password nor the command's traffic goes to whoever holds the
 * port meanwhile (see {@link untilStopOrClosed}).
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
      ...(login ? upBusLogin(url, "operator", defaultStateDir(env)) : {}),
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

/**
 * Waits until Ctrl-C (0) or until the connection is closed under a command that runs until Ctrl-C (1, after
 * saying why on stderr): e.g. its port was taken by a server that is not `up`'s own, so the CLI refused to log
 * in there and closed the connection rather than go on talking to it.
 */
export async function untilStopOrClosed(
  nc: NatsConnection,
  io: { stopRequested: Promise<string>; stderr: (text: string) => void },
  command: string,
): Promise<number> {
  const end = await Promise.race([
    io.stopRequested.then(() => null),
    nc.closed().then((err) => err ?? new Error("the connection to the bus was closed")),
  ]);
  if (end === null) return 0;
  io.stderr(`${command}: ${end.message}; stopped\n`);
  return 1;
}
