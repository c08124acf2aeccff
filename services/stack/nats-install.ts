/**
 * `up` on a machine without nats-server: where it looks for one, and what it does when there is none. As root
 * with apt-get (a fresh Debian or Ubuntu machine, a container) it installs the distribution's package, saying
 * so first; otherwise it says exactly what to run and starts nothing. {@link natsServerInstallPlan} is the pure
 * decision; {@link ensureNatsServer} carries it out.
 */
import { spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
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

/**
 * The programs root runs, by absolute path: never looked up through `$PATH`, which as root could be anybody's
 * directory (a `sudo -E`, a user's profile).
 */
export const APT_GET = "/usr/bin/apt-get";
export const SYSTEMCTL = "/usr/bin/systemctl";

/**
 * Debian's nats-server package enables and starts `nats-server.service` (/etc/nats-server.conf: 127.0.0.1:4222
 * with no authorization): an open bus for every local user, left behind. `up` only wants the binary.
 */
export const DISABLE_SYSTEM_SERVICE = ["disable", "--now", "nats-server"] as const;

/** What to do about a missing nats-server. */
export type NatsInstallPlan =
  /**
   * Run these commands (as root, no prompt), then `disable` when there is one (the package's system service:
   * its failure is reported, not fatal), then look again.
   */
  | { kind: "install"; commands: string[][]; disable?: string[] }
  /** Tell the person to run `command` (needs root), then start `up` again. */
  | { kind: "instruct"; command: string }
  /** No package manager this code knows: say where to get a release. */
  | { kind: "manual" };

/**
 * What to do when nats-server is missing, given this process's uid (undefined off POSIX) and which commands
 * exist (`apt-get` and `systemctl` meaning the programs at `aptGet` and `systemctl`, {@link APT_GET} and
 * {@link SYSTEMCTL} by default, which the plan runs by those paths). Never plans to run sudo: it could prompt
 * for a password in the middle of `up`'s output. Pure.
 */
export function natsServerInstallPlan(o: {
  uid: number | undefined;
  hasCommand: (name: string) => boolean;
  aptGet?: string;
  systemctl?: string;
}): NatsInstallPlan {
  if (o.uid === undefined || !o.hasCommand("apt-get")) return { kind: "manual" };
  const aptGet = o.aptGet ?? APT_GET;
  if (o.uid === 0)
    return {
      kind: "install",
      // A fresh machine or container has no package lists yet: without the update, install finds nothing.
      commands: [
        [aptGet, "update"],
        [aptGet, "install", "-y", "nats-server"],
      ],
      ...(o.hasCommand("systemctl") ? { disable: [o.systemctl ?? SYSTEMCTL, ...DISABLE_SYSTEM_SERVICE] } : {}),
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

/** Runs `argv` (its program by absolute path) with `env`, output to `out`; resolves with the exit code (-1: not run). */
function run(argv: string[], env: NodeJS.ProcessEnv, out: (text: string) => void): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(argv[0] as string, argv.slice(1), { env, stdio: ["ignore", "pipe", "pipe"] });
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
  /** Where apt-get and systemctl are (default {@link APT_GET}, {@link SYSTEMCTL}); tests put stand-ins here. */
  programs?: { aptGet?: string; systemctl?: string };
}): Promise<string> {
  const searchPath = natsServerSearchPath(o.env);
  const found = findExecutable("nats-server", searchPath);
  if (found) return found;
  const where = o.env[NATS_PATH_ENV] ? `in $${NATS_PATH_ENV} (${searchPath})` : "on PATH (nor in /usr/sbin)";
  const aptGet = o.programs?.aptGet ?? APT_GET;
  const systemctl = o.programs?.systemctl ?? SYSTEMCTL;
  const plan = natsServerInstallPlan({
    uid: o.uid,
    aptGet,
    systemctl,
    hasCommand: (name) =>
      name === "apt-get"
        ? executable(aptGet)
        : name === "systemctl"
          ? executable(systemctl)
          : findExecutable(name, o.env.PATH ?? "") !== undefined,
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
  if (plan.disable) {
    // The package started an open nats-server on 127.0.0.1:4222 as a system service: stop it and keep it off.
    o.say(`stopping the nats-server system service the package started (open, on 4222): ${plan.disable.join(" ")}`);
    const code = await run(plan.disable, aptEnv, o.out);
    if (code !== 0)
      o.say(
        `'${plan.disable.join(" ")}' failed (exit ${code}): the package's nats-server.service may still serve ` +
          "127.0.0.1:4222 without authorization; stop it yourself: systemctl disable --now nats-server",
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

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
