/**
 * The dashboard's cookie-signing secret: `$CLAW_DASHBOARD_COOKIE_SECRET`, or a key file (`up` keeps it in
 * `<stateDir>/dashboard-cookie.key`, mode 0600) minted once with 32 random bytes, so sign-ins survive a restart.
 * Whoever holds it can forge a session cookie (the token status is still checked on every request).
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

/** The environment variable a container passes the secret in. */
export const COOKIE_SECRET_ENV = "CLAW_DASHBOARD_COOKIE_SECRET";
/** Shortest secret accepted. */
export const MIN_COOKIE_SECRET_LENGTH = 32;

/** `<stateDir>/dashboard-cookie.key`. */
export function defaultCookieKeyFile(stateDir: string): string {
  return path.join(stateDir, "dashboard-cookie.key");
}

/** Reads the secret from `file`, minting it (0600, its directory 0700) when the file is missing. */
export async function ensureCookieKey(file: string): Promise<string> {
  const read = async () => (await readFile(file, "utf8").catch(() => "")).trim();
  const existing = await read();
  if (existing) return checkCookieSecret(existing, file);
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${randomBytes(32).toString("base64url")}\n`, { mode: 0o600, flag: "wx" }).catch(
    (err: NodeJS.ErrnoException) => {
      if (err.code !== "EEXIST") throw err;
    },
  );
  return checkCookieSecret(await read(), file);
}

/** The secret if it is long enough; else throws an Error naming where it came from. */
export function checkCookieSecret(secret: string, from: string): string {
  if (secret.length < MIN_COOKIE_SECRET_LENGTH)
    throw new Error(`the dashboard cookie secret from ${from} is shorter than ${MIN_COOKIE_SECRET_LENGTH} characters`);
  return secret;
}
