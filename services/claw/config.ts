/**
 * The plugin's config (`plugins.entries.claw-supervisor.config`), checked with zod after OpenClaw has applied
 * the manifest's JSON Schema. `connect` mode joins a supervisor bus; `embedded` runs the local stack inside
 * the gateway for a single machine.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { issuesText } from "../../schemas/commands.js";
import type { Authenticator } from "@nats-io/transport-node";
import { BusCredentialsFile, readBusLogin, stateDirOfCredentialsFile, upBusLogin } from "../clients/bus-credentials.js";
import { findRunningUp } from "../clients/up-file.js";

const Port = z.number().int().min(0).max(65535);

export const ClawPluginConfig = z.strictObject({
  mode: z.enum(["connect", "embedded"]).default("connect"),
  /**
   * The supervisor's NATS (connect mode); credentials may also be in the URL. Unset: with
   * `natsCredentialsFile`, the bus of that state dir's `up`; else {@link DEFAULT_NATS_URL} (see `pluginNatsUrl`).
   */
  natsUrl: z.string().min(1).optional(),
  natsUser: z.string().min(1).optional(),
  natsPassword: z.string().min(1).optional(),
  natsToken: z.string().min(1).optional(),
  /**
   * A credentials file `{ "user": ..., "password": ... }`, e.g. `<up's state dir>/credentials/claw.json`:
   * `claw-supervisor up` writes one per bus user, readable only by the user that runs it.
   */
  natsCredentialsFile: z.string().min(1).optional(),
  /** This Claw's identity: the caller id of its commands and the name of its durable FLEET consumers. */
  clawId: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, "clawId: letters, digits, '-' and '_' only (at most 64)")
    .default("claw"),
  /** The OpenClaw session fleet events are put into. */
  sessionKey: z.string().min(1).default("agent:main:main"),
  /** How long high-priority events are gathered before they are put into context, ms. */
  coalesceMs: z.number().int().min(0).max(60_000).default(500),
  /** Longest heartbeat summary, in characters. */
  summaryMaxChars: z.number().int().min(200).max(8_000).default(1_200),
  /** Embedded mode: where the local stack keeps its state (default `<OpenClaw state>/claw-supervisor`), and its ports. */
  embedded: z
    .strictObject({
      stateDir: z.string().min(1).optional(),
      gatewayPort: Port.default(7410),
      mcpPort: Port.default(7411),
      endpoint: z.string().min(1).default("unix://"),
      hostId: z.string().min(1).optional(),
    })
    .default({ gatewayPort: 7410, mcpPort: 7411, endpoint: "unix://" }),
});
export type ClawPluginConfig = z.infer<typeof ClawPluginConfig>;

/** The config, or an Error naming every bad field. Pure. */
export function parsePluginConfig(input: unknown): ClawPluginConfig {
  const parsed = ClawPluginConfig.safeParse(input ?? {});
  if (!parsed.success)
    throw new Error(
      `claw-supervisor: invalid plugin config (plugins.entries.claw-supervisor.config): ${issuesText(parsed.error)}`,
    );
  return parsed.data;
}

/** `<stateDir>/ports.json` as `up` keeps it (services/stack/ports-file.ts; the stack is not imported here). */
const KeptPorts = z.object({ nats: Port.min(1) });

/** The plugin's bus when neither `natsUrl` nor `natsCredentialsFile` is set. */
export const DEFAULT_NATS_URL = "nats://127.0.0.1:4222";

/**
 * The bus connect mode joins: `natsUrl`; else, with a `natsCredentialsFile` of a state dir
 * (`<stateDir>/credentials/<user>.json`), that state dir's `up` bus (`natsUrl` of its running up.json, else its
 * kept port in ports.json), never the default 4222 (where a Debian nats-server or anyone else may listen);
 * else {@link DEFAULT_NATS_URL}. Throws an Error naming what to set when the credentials file says no bus.
 */
export function pluginNatsUrl(config: ClawPluginConfig): string {
  if (config.natsUrl !== undefined) return config.natsUrl;
  const file = config.natsCredentialsFile;
  if (file === undefined) return DEFAULT_NATS_URL;
  const stateDir = stateDirOfCredentialsFile(file);
  const fix = "set natsUrl to the URL on the 'plugin:' line 'claw-supervisor up' prints";
  if (stateDir === undefined)
    throw new Error(`claw-supervisor: natsCredentialsFile ${file} is not in a state dir's credentials/: ${fix}`);
  const up = findRunningUp(stateDir);
  if (up.ok) return up.up.natsUrl;
  try {
    const kept = KeptPorts.safeParse(JSON.parse(readFileSync(path.join(stateDir, "ports.json"), "utf8")));
    if (kept.success) return `nats://127.0.0.1:${kept.data.nats}`;
  } catch {
    // No ports.json: said below.
  }
  throw new Error(
    `claw-supervisor: natsCredentialsFile is set but natsUrl is not, and ${stateDir} names no bus (${up.why}, ` +
      `no ports.json): start 'claw-supervisor up' there, or ${fix}`,
  );
}

/**
 * The bus login the plugin uses: `user`/`pass` or `token` for `connectBus`, an `authenticator` that gives a
 * state dir's credentials only to that state dir's `up` (asked at every redial), or nothing.
 */
export type PluginLogin =
  | { user: string; pass: string }
  | { token: string }
  | { authenticator: Authenticator; dialWhen: () => boolean }
  | Record<string, never>;

/** Embedded mode's state dir: `embedded.stateDir`, else `<OpenClaw state>/claw-supervisor`. Pure. */
export function embeddedStateDir(config: ClawPluginConfig, openclawStateDir: string): string {
  return config.embedded.stateDir ?? path.join(openclawStateDir, "claw-supervisor");
}

/**
 * How the plugin logs in: embedded mode as the stack's `claw` user (from its state dir: a client's rights and its
 * own leases, for Claw groups); connect mode from
 * `natsCredentialsFile`, else `natsUser`/`natsPassword` or `natsToken`. A `natsCredentialsFile` that lies in a
 * state dir (`<stateDir>/credentials/<user>.json`, where `up` writes it) is given only to that state dir's
 * `up`'s own nats-server, checked at every (re)connect (`upBusAuthenticator`): while `up` is stopped, whoever
 * takes its port gets no password, and the connection closes instead. Throws an Error naming a bad file.
 */
export function pluginLogin(config: ClawPluginConfig, openclawStateDir: string): PluginLogin {
  if (config.mode === "embedded") return readBusLogin(embeddedStateDir(config, openclawStateDir), "claw") ?? {};
  if (config.natsCredentialsFile) {
    const file = config.natsCredentialsFile;
    let parsed: ReturnType<typeof BusCredentialsFile.safeParse>;
    try {
      parsed = BusCredentialsFile.safeParse(JSON.parse(readFileSync(file, "utf8")));
    } catch (err) {
      throw new Error(`claw-supervisor: natsCredentialsFile ${file}: ${(err as Error).message}`);
    }
    if (!parsed.success)
      throw new Error(
        `claw-supervisor: natsCredentialsFile ${file}: not a credentials file (${issuesText(parsed.error)})`,
      );
    const upStateDir = stateDirOfCredentialsFile(file);
    if (upStateDir !== undefined && path.basename(file) === `${parsed.data.user}.json`)
      return upBusLogin(pluginNatsUrl(config), parsed.data.user, upStateDir);
    return { user: parsed.data.user, pass: parsed.data.password };
  }
  if (config.natsUser) return { user: config.natsUser, pass: config.natsPassword ?? "" };
  if (config.natsToken) return { token: config.natsToken };
  return {};
}
