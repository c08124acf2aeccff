/**
 * The bus credentials of a local stack: `claw-supervisor up` generates one password per bus user once, into
 * `<stateDir>/credentials/<user>.json` (directory 0700, files 0600), and its nats-server accepts only them.
 * Whoever can read the state directory is the operator; every other user of the machine has nothing. The CLI
 * reads `operator`, the plugin and the stdio MCP edge `client`, and `up` itself all of them.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, readdirSync, readFileSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { Authenticator } from "@nats-io/transport-node";
import { z } from "zod";
import { splitUrlCredentials } from "../bus/connect.js";
import { BUS_USERS, type BusUser } from "../bus/permissions.js";
import { natsPidFile, natsServerRunsOn } from "../bus/orphan-server.js";
import { ensurePrivateStateDir } from "./private-state-dir.js";
import { findRunningUp } from "./up-file.js";
import { defaultStateDir } from "./state-dir.js";

/** A user name and password, as `connectBus` takes them. */
export interface BusLogin {
  user: BusUser;
  pass: string;
}

/** Letters and digits starting with a letter: a quoted config string needs no escaping and env files keep it. */
const Password = z.string().regex(/^p[0-9a-f]{48}$/, "must be 'p' and 48 hex digits");
/** What one credentials file holds. */
export const BusCredentialsFile = z.strictObject({ user: z.enum(BUS_USERS), password: Password });

/** `<stateDir>/credentials`. */
export const credentialsDir = (stateDir: string): string => path.join(stateDir, "credentials");
/** `<stateDir>/credentials/<user>.json`. */
export const credentialsFile = (stateDir: string, user: BusUser): string =>
  path.join(credentialsDir(stateDir), `${user}.json`);

/** A new password: `p` and 24 random bytes in hex. */
export function newBusPassword(): string {
  return `p${randomBytes(24).toString("hex")}`;
}

/** Thrown when a credentials file exists but cannot be used; the message names the file and what is wrong. */
export class BusCredentialsError extends Error {
  override readonly name = "BusCredentialsError";
}

function parseFile(file: string, text: string, user: BusUser): string {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new BusCredentialsError(`${file} is not JSON; delete it and restart 'claw-supervisor up' to make a new one`);
  }
  const parsed = BusCredentialsFile.safeParse(json);
  if (!parsed.success || parsed.data.user !== user) {
    const why = parsed.success ? `names user '${parsed.data.user}'` : (parsed.error.issues[0]?.message ?? "invalid");
    throw new BusCredentialsError(`${file}: ${why}; delete it and restart 'claw-supervisor up' to make a new one`);
  }
  return parsed.data.password;
}

/**
 * Makes the state directory private (0700, refusing a directory that is not a state dir and others can read:
 * see private-state-dir.ts) and every user's credentials file (0600), keeping the passwords
 * already there so connected clients and other processes stay valid across restarts. Returns every password.
 */
export async function ensureBusCredentials(stateDir: string): Promise<Record<BusUser, string>> {
  await ensurePrivateStateDir(stateDir);
  const dir = credentialsDir(stateDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const out = {} as Record<BusUser, string>;
  for (const user of BUS_USERS) {
    const file = credentialsFile(stateDir, user);
    const text = await readFile(file, "utf8").catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return undefined;
      throw new BusCredentialsError(`cannot read ${file}: ${err.message}`);
    });
    if (text === undefined) {
      const password = newBusPassword();
      await writeFile(file, `${JSON.stringify({ user, password })}\n`, { mode: 0o600, flag: "wx" });
      out[user] = password;
    } else {
      await chmod(file, 0o600);
      out[user] = parseFile(file, text, user);
    }
  }
  return out;
}

/** One user's login from the state directory, or undefined when there is no such file. Throws when it is bad. */
export function readBusLogin(stateDir: string, user: BusUser): BusLogin | undefined {
  const file = credentialsFile(stateDir, user);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return undefined;
    if (code === "EACCES")
      throw new BusCredentialsError(`cannot read ${file}: permission denied (it belongs to whoever ran 'up')`);
    throw new BusCredentialsError(`cannot read ${file}: ${(err as Error).message}`);
  }
  return { user, pass: parseFile(file, text, user) };
}

/** Tightens a file written before this version to 0600; best effort (used on files `up` owns). */
export function makePrivate(file: string): void {
  try {
    chmodSync(file, 0o600);
  } catch {
    // Not there, or not ours.
  }
}

const hostPort = (url: string): string | undefined => {
  try {
    const u = new URL(url.includes("://") ? url : `nats://${url}`);
    return `${u.hostname}:${u.port || "4222"}`;
  } catch {
    return undefined;
  }
};

/** Whether `url` is the bus of the running `up` of `stateDir` with its own nats-server, or why not (a few words). */
export type UpBusCheck = { ok: true } | { ok: false; why: string };

/**
 * Whether `url` is the bus of the running `up` on `stateDir` and that `up` runs its own nats-server
 * (`up.json`: `embedded`, `natsPid`) which still runs, as a nats-server on this state dir's store; else why not.
 * While that nats-server runs it holds the port, so nobody else is listening there. While `up` starts (no
 * up.json yet), its nats-server counts once it serves `url` (see `startingUpServer`).
 */
export function checkUpBus(url: string, stateDir: string): UpBusCheck {
  const found = findRunningUp(stateDir);
  if (!found.ok) return startingUpServer(url, stateDir) ? { ok: true } : { ok: false, why: found.why };
  const up = found.up;
  const file = path.join(stateDir, "up.json");
  if (!up.embedded || up.natsPid === undefined)
    return { ok: false, why: `${file} does not say up runs its own nats-server` };
  if (hostPort(up.natsUrl) !== hostPort(url)) return { ok: false, why: `${file} names the bus ${up.natsUrl}` };
  if (!natsServerRunsOn(up.natsPid, path.join(stateDir, "nats")))
    return { ok: false, why: `${file} names nats-server pid ${up.natsPid}, which is not up's nats-server any more` };
  return { ok: true };
}

/**
 * True while `up` is starting on `stateDir` (no up.json yet) and its nats-server already serves `url`: the pid
 * in `<stateDir>/nats/nats-server.pid` (a private dir: only `up` writes there) is a running nats-server on this
 * store, and the ports file it wrote once its listener was bound (`nats-server_<pid>.ports`) names `url`'s host
 * and port. So a client redialling through a restart of `up` gets back on as soon as the server listens.
 */
function startingUpServer(url: string, stateDir: string): boolean {
  const store = path.join(stateDir, "nats");
  try {
    const pid = Number(readFileSync(natsPidFile(store), "utf8").trim());
    if (!Number.isInteger(pid) || pid <= 0 || !natsServerRunsOn(pid, store)) return false;
    const name = readdirSync(store).find((f) => f.endsWith(`_${pid}.ports`));
    if (!name) return false;
    const ports = JSON.parse(readFileSync(path.join(store, name), "utf8")) as { nats?: unknown };
    const want = hostPort(url);
    return (
      want !== undefined &&
      Array.isArray(ports.nats) &&
      ports.nats.some((u) => typeof u === "string" && hostPort(u) === want) &&
      natsServerRunsOn(pid, store)
    );
  } catch {
    return false;
  }
}

/**
 * The login to use for `url`: none when the URL carries its own credentials; `user`'s from the state
 * directory only when `url` is the bus of the running `up` there and that `up` runs its own nats-server
 * ({@link checkUpBus}). So the password never goes to another server: not to a `--nats-url` one (whatever
 * credentials files an earlier embedded run left), and not to whoever bound the loopback port after up's
 * nats-server died (while it runs, it holds the port).
 */
export function loginForUrl(
  url: string,
  user: BusUser,
  env: NodeJS.ProcessEnv,
  stateDir: string = defaultStateDir(env),
): BusLogin | undefined {
  if (splitUrlCredentials(url).credentials) return undefined;
  if (!checkUpBus(url, stateDir).ok) return undefined;
  return readBusLogin(stateDir, user);
}

/** Thrown by {@link upBusAuthenticator} when the port is no longer `up`'s: nats.js then closes the connection. */
export class NotUpsBusError extends Error {
  override readonly name = "NotUpsBusError";
}

/**
 * The credentials for `url` as a nats.js authenticator, asked again at every (re)connect: `user`'s password of
 * `stateDir` only while {@link checkUpBus} says `url` is still that state dir's running `up`'s own nats-server.
 * Otherwise it throws a {@link NotUpsBusError} saying so ("the bus at <url> is no longer claw-supervisor up's
 * (...); not sending credentials"): nats.js closes the connection with that error (a throwing authenticator
 * ends it), so neither the password nor, without it, the client's traffic goes to whoever holds the port while
 * `up` is stopped. A bad or unreadable credentials file throws too.
 */
export function upBusAuthenticator(url: string, user: BusUser, stateDir: string): Authenticator {
  const shown = url.replace(/\/\/[^@/]*@/, "//");
  return () => {
    const check = checkUpBus(url, stateDir);
    if (!check.ok)
      throw new NotUpsBusError(
        `the bus at ${shown} is no longer claw-supervisor up's (${check.why}); not sending credentials`,
      );
    const login = readBusLogin(stateDir, user);
    if (!login) throw new NotUpsBusError(`no ${credentialsFile(stateDir, user)}; not sending credentials to ${shown}`);
    return { user: login.user, pass: login.pass };
  };
}

/**
 * The connection options that log in to `up`'s bus as `user`: {@link upBusAuthenticator}, and a `dialWhen`
 * that holds each dial back a moment while {@link checkUpBus} does not yet pass (an `up` restarting: its
 * nats-server listens before it writes the files the check reads), so a redial during a restart is not refused.
 */
export function upBusLogin(
  url: string,
  user: BusUser,
  stateDir: string,
): { authenticator: Authenticator; dialWhen: () => boolean } {
  return { authenticator: upBusAuthenticator(url, user, stateDir), dialWhen: () => checkUpBus(url, stateDir).ok };
}

/**
 * The state dir a credentials file belongs to when it lies where {@link ensureBusCredentials} puts it,
 * `<stateDir>/credentials/<user>.json`: that is two levels up. Undefined for a file elsewhere. Pure.
 */
export function stateDirOfCredentialsFile(file: string): string | undefined {
  const abs = path.resolve(file);
  const dir = path.dirname(abs);
  if (path.basename(dir) !== "credentials") return undefined;
  if (!BUS_USERS.some((u) => path.basename(abs) === `${u}.json`)) return undefined;
  return path.dirname(dir);
}
