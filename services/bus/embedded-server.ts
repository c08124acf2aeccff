import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { BusError } from "./errors.js";
import { natsPidFile, stopOrphanNatsServer } from "./orphan-server.js";
import { type BusUser, literalPassword, renderAuthorization } from "./permissions.js";
import { describePortOwner, portIsFree, portOwner, type PortOwner } from "./port-owner.js";
import {
  findExecutable,
  hostPortOf,
  spawnNatsServer,
  stopNatsServer,
  waitForNatsInfo,
  waitForPortsFile,
} from "./server-process.js";

const LOOPBACK = "127.0.0.1";

/** Options for `startEmbeddedNats`; `port` omitted lets the OS pick a free one. */
export interface EmbeddedNatsOptions {
  /** The supervisor's state directory; JetStream data lives under `<stateDir>/nats`. */
  stateDir: string;
  /** The port on 127.0.0.1; when another process holds it, start fails with a {@link NatsPortInUseError}. */
  port?: number;
  /** Where to look for `nats-server` (default `$PATH`). */
  searchPath?: string;
  /** How long to wait for the server to accept connections, in milliseconds (default 15000). */
  startTimeoutMs?: number;
  /**
   * Every bus user's password: the server then accepts only these users, each with its permissions
   * (services/bus/permissions.ts). Its config, holding them, is written 0600 to `<stateDir>/nats-server.conf`.
   */
  users: Record<BusUser, string>;
  /** Told when a nats-server an earlier run left on this store is stopped (see orphan-server.ts). */
  log?: (message: string) => void;
}

/** A nats-server started by `claw-supervisor up`; `stop()` terminates it and waits for it to exit. */
export interface EmbeddedNats {
  url: string;
  pid: number;
  storeDir: string;
  /** Settles when the server has exited, whether `stop()` stopped it or it died (never rejects). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
}

/** Message shown when nats-server is not installed: how to install it. */
export const NATS_SERVER_INSTALL_HINT =
  "nats-server was not found on PATH. Install it with `sudo apt-get install -y nats-server` on Debian/Ubuntu, " +
  "or download a release from https://nats.io/download/ and put the nats-server binary on PATH.";

/** The port asked for is held by another process (`owner`, when /proc tells); nothing was started. */
export class NatsPortInUseError extends BusError {
  constructor(
    readonly port: number,
    readonly owner: PortOwner | undefined,
  ) {
    super("nats_server_failed", `port ${port} on ${LOOPBACK} is taken by ${describePortOwner(owner)}`);
  }
}

/**
 * Whether the port is free, or becomes free within a few seconds: a nats-server just stopped (an orphan of a
 * killed `up`) has left /proc but may hold its listening socket a moment longer. A port really taken costs the wait.
 */
async function portFreeSoon(host: string, port: number, waitMs = 3_000): Promise<boolean> {
  const until = Date.now() + waitMs;
  for (;;) {
    if (await portIsFree(host, port)) return true;
    if (Date.now() >= until) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts nats-server with JetStream on 127.0.0.1, store under `<stateDir>/nats`; resolves once it accepts clients. */
export async function startEmbeddedNats(opts: EmbeddedNatsOptions): Promise<EmbeddedNats> {
  const binary = findExecutable("nats-server", opts.searchPath);
  if (!binary) throw new BusError("nats_server_not_found", NATS_SERVER_INSTALL_HINT);
  const storeDir = join(opts.stateDir, "nats");
  await mkdir(storeDir, { recursive: true });
  await chmod(storeDir, 0o700);
  const timeoutMs = opts.startTimeoutMs ?? 15_000;
  const configFile = join(opts.stateDir, "nats-server.conf");
  await writeFile(configFile, serverConfig(opts.users), { mode: 0o600 });
  await chmod(configFile, 0o600);
  // An `up` killed with SIGKILL leaves its nats-server running on this store: stop it before starting ours.
  await stopOrphanNatsServer(storeDir, opts.log);
  // A port asked for by number must be free: say who holds it rather than let nats-server exit on the bind.
  if (opts.port !== undefined && !(await portFreeSoon(LOOPBACK, opts.port)))
    throw new NatsPortInUseError(opts.port, portOwner(opts.port));
  const proc = spawnNatsServer(binary, [
    "--config",
    configFile,
    "--addr",
    LOOPBACK,
    "--port",
    String(opts.port ?? -1),
    "--jetstream",
    "--store_dir",
    storeDir,
    "--ports_file_dir",
    storeDir,
    "--pid",
    natsPidFile(storeDir),
    "--server_name",
    "claw-supervisor",
  ]);
  const stop = (): Promise<void> => stopNatsServer(proc);
  try {
    const ports = await waitForPortsFile(proc, storeDir, timeoutMs);
    const url = ports.nats[0] as string;
    const { host, port } = hostPortOf(url);
    await waitForNatsInfo(proc, host, port, timeoutMs);
    return { url, pid: proc.pid, storeDir, exited: proc.exited, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The embedded server's config: the users and their permissions; listen address and store come as flags. */
function serverConfig(users: Record<BusUser, string>): string {
  return `# Written by claw-supervisor up on every start; holds the bus passwords: keep it private (0600).\n${renderAuthorization(literalPassword(users))}`;
}
