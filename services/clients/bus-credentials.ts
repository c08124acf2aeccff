/**
 * The bus credentials of a local stack: `claw-supervisor up` generates one password per bus user once, into
 * `<stateDir>/credentials/<user>.json` (directory 0700, files 0600), and its nats-server accepts only them.
 * Whoever can read the state directory is the operator; every other user of the machine has nothing. The CLI
 * reads `operator`, the plugin and the stdio MCP edge `client`, and `up` itself all of them.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, readFileSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { splitUrlCredentials } from "../bus/connect.js";
import { BUS_USERS, type BusUser } from "../bus/permissions.js";
import { natsServerRunsOn } from "../bus/orphan-server.js";
import { ensurePrivateStateDir } from "./private-state-dir.js";
import { readUpFile } from "./up-file.js";
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

/**
 * The login to use for `url`: none when the URL carries its own credentials; `user`'s from the state
 * directory only when `url` is the bus of the running `up` there and that `up` runs its own nats-server
 * (`up.json`: `embedded`, `natsPid`) which still runs, as a nats-server on this state dir's store. So the
 * password never goes to another server: not to a `--nats-url` one (whatever credentials files an earlier
 * embedded run left), and not to whoever bound the loopback port after up's nats-server died (while it runs,
 * it holds the port).
 */
export function loginForUrl(
  url: string,
  user: BusUser,
  env: NodeJS.ProcessEnv,
  stateDir: string = defaultStateDir(env),
): BusLogin | undefined {
  if (splitUrlCredentials(url).credentials) return undefined;
  const up = readUpFile(stateDir);
  if (!up?.embedded || up.natsPid === undefined || hostPort(up.natsUrl) !== hostPort(url)) return undefined;
  if (!natsServerRunsOn(up.natsPid, path.join(stateDir, "nats"))) return undefined;
  return readBusLogin(stateDir, user);
}
