/**
 * `claw-supervisor up`: runs the local stack on one machine until Ctrl-C. So far that is the bus: an embedded
 * nats-server (unless NATS_URL names one) with the supervisor's streams and buckets, plus a look at the
 * local Codex daemon.
 */
import os from "node:os";
import path from "node:path";
import { z } from "zod";
import { BusError, connectBus, ensureBus, startEmbeddedNats, type EmbeddedNats, type EnsureBusResult } from "../bus/index.js";
import { daemonSocketPath, parseEndpoint } from "../codex-rpc/index.js";
import { optionValue, parseCommandArgs } from "./args.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { probeEndpoint, type ProbeReport } from "./probe.js";

const usage = `Usage: claw-supervisor up [--state-dir DIR] [--nats-url URL] [--nats-port PORT] [--json]

Runs the supervisor's local stack on this machine until Ctrl-C (or SIGTERM), then stops it cleanly.
Without a NATS URL it starts its own nats-server (from PATH) with JetStream data under the state directory.

--state-dir DIR   where state is kept (default $CLAW_SUPERVISOR_STATE_DIR, else
                  $XDG_STATE_HOME/claw-supervisor, else ~/.local/state/claw-supervisor)
--nats-url URL    use this NATS server instead of starting one (default $NATS_URL)
--nats-port PORT  port for the embedded nats-server on 127.0.0.1 (default: a free port)
--json            print one JSON line when ready instead of text`;

const Port = z.coerce
  .number({ error: "must be a port number" })
  .int("must be a whole number")
  .min(1, "must be between 1 and 65535")
  .max(65535, "must be between 1 and 65535");

/** The state directory `up` uses when none is given. */
export function defaultStateDir(env: NodeJS.ProcessEnv): string {
  if (env.CLAW_SUPERVISOR_STATE_DIR) return path.resolve(env.CLAW_SUPERVISOR_STATE_DIR);
  const base = env.XDG_STATE_HOME || path.join(env.HOME || os.homedir(), ".local", "state");
  return path.join(base, "claw-supervisor");
}

/** What `up --json` prints once everything is running. */
export interface UpReport {
  stateDir: string;
  nats: { url: string; embedded: boolean; pid?: number; storeDir?: string };
  bus: EnsureBusResult;
  codexDaemon: { endpoint: string; reachable: boolean; loadedThreads?: number; reason?: string };
}

async function lookAtDaemon(env: NodeJS.ProcessEnv): Promise<UpReport["codexDaemon"]> {
  const endpoint = `unix://${daemonSocketPath(env)}`;
  try {
    const report: ProbeReport = await probeEndpoint(parseEndpoint(endpoint), 2_000);
    return { endpoint, reachable: true, loadedThreads: report.threads.filter((t) => !t.ephemeral).length };
  } catch (err) {
    return { endpoint, reachable: false, reason: (err as Error).message };
  }
}

function formatReport(r: UpReport): string {
  const nats = r.nats.embedded
    ? `started nats-server (pid ${r.nats.pid}) at ${r.nats.url}, JetStream data in ${r.nats.storeDir}`
    : `using NATS at ${r.nats.url}`;
  const streams = r.bus.streams.map((s) => `${s.name} (${s.action})`).join(", ");
  const buckets = r.bus.buckets.map((b) => `${b.bucket} (${b.action})`).join(", ");
  const daemon = r.codexDaemon.reachable
    ? `Codex daemon at ${r.codexDaemon.endpoint}: ${r.codexDaemon.loadedThreads} loaded thread(s)`
    : `no Codex daemon answers at ${r.codexDaemon.endpoint}; start one with 'codex app-server daemon start'`;
  return [
    "claw-supervisor up: running",
    `  state:   ${r.stateDir}`,
    `  bus:     ${nats}`,
    `  streams: ${streams}`,
    `  buckets: ${buckets}`,
    `  codex:   ${daemon}`,
    "  Attach a Codex TUI to the daemon with: codex --remote unix://",
    "Press Ctrl-C to stop.",
    "",
  ].join("\n");
}

/** The `up` command. */
export const upCommand: Command = {
  name: "up",
  summary: "run the supervisor's local stack on this machine (embedded nats-server)",
  usage,
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("up", argv, {
      "state-dir": { type: "string" },
      "nats-url": { type: "string" },
      "nats-port": { type: "string" },
      json: { type: "boolean" },
    });
    if (values.help) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    if (positionals.length) throw new CliError(`up takes no arguments, got '${positionals[0]}'. See 'claw-supervisor up --help'.`, 2);
    const stateDir = values["state-dir"] ? path.resolve(values["state-dir"]) : defaultStateDir(io.env);
    const natsUrl = values["nats-url"] ?? io.env.NATS_URL;
    const port = values["nats-port"] === undefined ? undefined : optionValue("nats-port", Port, values["nats-port"]);
    if (natsUrl && port !== undefined) throw new CliError("--nats-port applies to the embedded server; drop it or --nats-url/NATS_URL", 2);

    let embedded: EmbeddedNats | undefined;
    if (!natsUrl) {
      if (!values.json) io.stdout(`claw-supervisor up: starting nats-server, data under ${stateDir}\n`);
      try {
        embedded = await startEmbeddedNats({ stateDir, ...(port === undefined ? {} : { port }) });
      } catch (err) {
        throw new CliError(err instanceof BusError ? err.message : `cannot start nats-server: ${(err as Error).message}`);
      }
    }
    const url = natsUrl ?? embedded!.url;
    try {
      let nc;
      try {
        nc = await connectBus({ servers: url, name: "claw-supervisor-up" });
      } catch (err) {
        throw new CliError(`cannot connect to NATS at ${url}: ${(err as Error).message}`);
      }
      try {
        const bus = await ensureBus(nc).catch((err: unknown) => {
          throw new CliError(`cannot set up the bus on ${url}: ${(err as Error).message}`);
        });
        const report: UpReport = {
          stateDir,
          nats: embedded ? { url, embedded: true, pid: embedded.pid, storeDir: embedded.storeDir } : { url, embedded: false },
          bus,
          codexDaemon: await lookAtDaemon(io.env),
        };
        io.stdout(values.json ? `${JSON.stringify(report)}\n` : formatReport(report));
        const signal = await io.stopRequested;
        if (!values.json) io.stdout(`claw-supervisor up: ${signal}, stopping\n`);
      } finally {
        await nc.drain().catch(() => nc.close());
      }
    } finally {
      await embedded?.stop();
    }
    if (!values.json) io.stdout("claw-supervisor up: stopped\n");
    return 0;
  },
};
