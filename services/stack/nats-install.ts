/**
 * `up` on a machine without nats-server: where it looks for one, and what it does when there is none. As root
 * with apt-get (a fresh Debian or Ubuntu machine, a container) it installs the distribution's package, saying
 * so first; otherwise it says exactly what to run and starts nothing. {@link natsServerInstallPlan} is the pure
 * decision; {@link ensureNatsServer} carries it out.
 */
import { spawn } from "node:child_process";
import { delimiter } from "node:path";
import { findExecutable } from "../bus/server-process.js";

/**
 * Where nats-server is looked for after `$PATH`: Debian installs it in /usr/sbin, which is not on a normal
 * user's PATH there, so a user who ran `sudo apt-get install -y nats-server` would otherwise not find it.
 */
export const NATS_SERVER_EXTRA_DIRS = ["/usr/local/sbin", "/usr/sbin", "/sbin"] as const;

/** The env variable that replaces the whole search ({@link natsServerSearchPath}). */
export const NATS_PATH_ENV = "CLAW_SUPERVISOR_NATS_PATH";

/** Directories (`:`-separated) to look in for nats-server: `$CLAW_SUPERVISOR_NATS_PATH`, else `$PATH` then the sbin dirs. Pure. */
export function natsServerSearchPath(env: NodeJS.ProcessEnv): string {
  const own = env[NATS_PATH_ENV];
  if (own !== undefined && own !== "") return own;
  return [...(env.PATH ?? "").split(delimiter).filter(Boolean), ...NATS_SERVER_EXTRA_DIRS].join(delimiter);
}

/** The one command a person runs to install nats-server on Debian or Ubuntu without being root. */
export const SUDO_INSTALL_COMMAND = "sudo apt-get install -y nats-server";

/** What to do about a missing nats-server. */
export type NatsInstallPlan =
  /** Run these commands (as root, no prompt), then look again. */
  | { kind: "install"; commands: string[][] }
  /** Tell the person to run `command` (needs root), then start `up` again. */
  | { kind: "instruct"; command: string }
  /** No package manager this code knows: say where to get a release. */
  | { kind: "manual" };

/**
 * What to do when nats-server is missing, given this process's uid (undefined off POSIX) and which commands
 * exist. Never plans to run sudo: it could prompt for a password in the middle of `up`'s output. Pure.
 */
export function natsServerInstallPlan(o: {
  uid: number | undefined;
  hasCommand: (name: string) => boolean;
}): NatsInstallPlan {
  if (o.uid === undefined || !o.hasCommand("apt-get")) return { kind: "manual" };
  if (o.uid === 0)
    return {
      kind: "install",
      // A fresh machine or container has no package lists yet: without the update, install finds nothing.
      commands: [
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "nats-server"],
      ],
    };
  return {
    kind: "instruct",
    command: o.hasCommand("sudo") ? SUDO_INSTALL_COMMAND : "su -c 'apt-get install -y nats-server'",
  };
}

/** Why nats-server could not be had; `message` says what to run, in a few lines. */
export class NatsServerMissingError extends Error {
  override readonly name = "NatsServerMissingError";
}

const DOWNLOAD =
  "download a release from https://nats.io/download/ and put the nats-server binary on PATH (or in " +
  `$${NATS_PATH_ENV})`;

/** Runs `argv` with `env`, its output (stdout and stderr) to `out`; resolves with the exit code (-1: not run). */
function run(argv: string[], env: NodeJS.ProcessEnv, out: (text: string) => void): Promise<number> {
  return new Promise((resolve) => {
    const program = findExecutable(argv[0] as string, env.PATH ?? "") ?? (argv[0] as string);
    const child = spawn(program, argv.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (c: Buffer) => out(c.toString("utf8")));
    child.stderr.on("data", (c: Buffer) => out(c.toString("utf8")));
    child.once("error", (err) => {
      out(`${argv[0]}: ${err.message}\n`);
      resolve(-1);
    });
    child.once("close", (code) => resolve(code ?? -1));
  });
}

/**
 * The nats-server binary to start: found on {@link natsServerSearchPath}, or installed first when
 * {@link natsServerInstallPlan} says so (telling `say` what it runs; the package manager's output goes to
 * `out`). Throws a {@link NatsServerMissingError} saying what to run when it can do neither.
 */
export async function ensureNatsServer(o: {
  env: NodeJS.ProcessEnv;
  uid: number | undefined;
  say: (line: string) => void;
  out: (text: string) => void;
}): Promise<string> {
  const searchPath = natsServerSearchPath(o.env);
  const found = findExecutable("nats-server", searchPath);
  if (found) return found;
  const where = o.env[NATS_PATH_ENV] ? `in $${NATS_PATH_ENV} (${searchPath})` : "on PATH (nor in /usr/sbin)";
  const plan = natsServerInstallPlan({
    uid: o.uid,
    hasCommand: (name) => findExecutable(name, o.env.PATH ?? "") !== undefined,
  });
  if (plan.kind === "manual")
    throw new NatsServerMissingError(`nats-server was not found ${where}, and there is no apt-get here: ${DOWNLOAD}.`);
  if (plan.kind === "instruct")
    throw new NatsServerMissingError(
      `nats-server was not found ${where}. Install it (Debian/Ubuntu), then start 'claw-supervisor up' again:\n` +
        `    ${plan.command}`,
    );
  const shown = plan.commands.map((c) => c.join(" ")).join(" && ");
  o.say(`nats-server was not found ${where}; installing it: ${shown}`);
  const aptEnv = { ...o.env, DEBIAN_FRONTEND: "noninteractive" };
  for (const argv of plan.commands) {
    const code = await run(argv, aptEnv, o.out);
    if (code !== 0)
      throw new NatsServerMissingError(
        `'${argv.join(" ")}' failed (exit ${code}): install nats-server yourself (${plan.commands.at(-1)!.join(" ")}, ` +
          `or ${DOWNLOAD}), then start 'claw-supervisor up' again`,
      );
  }
  const installed = findExecutable("nats-server", searchPath);
  if (!installed)
    throw new NatsServerMissingError(
      `installed the nats-server package, but still found no nats-server ${where}: put its directory on PATH`,
    );
  o.say(`installed ${installed}`);
  return installed;
}
