/**
 * The host agent's configuration file (JSON) and how command-line flags override it. Validation is zod;
 * every error names the file and the field. Relative paths in a file resolve against the file's folder.
 */
import { readFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { z } from "zod";

const positiveInt = z.number().int("must be a whole number").positive("must be greater than 0");

/** A host id: one NATS subject token of letters, digits, '-' and '_'. */
export const HostId = z
  .string()
  .min(1, "must not be empty")
  .max(128, "must be at most 128 characters")
  .regex(/^[A-Za-z0-9_-]+$/, "must be letters, digits, '-' or '_' (it becomes a NATS subject token)");

/** The gateway's agent endpoint. */
export const GatewayUrl = z
  .string()
  .refine((text) => URL.canParse(text) && /^wss?:$/.test(new URL(text).protocol), "must be a ws:// or wss:// URL");
/** One gateway URL, or several (gateway instances), tried in turn: each reconnect goes to the next. */
export const GatewayUrls = z.union([
  GatewayUrl,
  z.array(GatewayUrl).min(1, "must list at least one URL").max(32, "must list at most 32 URLs"),
]);

/** The JSON config file; every field optional (flags may supply them), unknown fields refused. */
export const HostAgentConfigSchema = z.strictObject({
  hostId: HostId.optional(),
  gatewayUrl: GatewayUrls.optional(),
  /** File holding the host token (mode 0600 recommended). */
  tokenFile: z.string().min(1).optional(),
  /** App-server endpoint; default `unix://` (the Codex daemon's socket). */
  endpoint: z.string().min(1).optional(),
  stateDir: z.string().min(1).optional(),
  heartbeatMs: positiveInt.optional(),
  buffer: z.strictObject({ maxEvents: positiveInt.optional(), maxBytes: positiveInt.optional() }).optional(),
  maxEventBytes: positiveInt.max(900 * 1024, "must be at most 921600 (a gateway frame is at most 1 MiB)").optional(),
  presencePollMs: positiveInt.optional(),
  /** Idle time before the agent unsubscribes from a thread nobody is attached to, so codex can unload it (ms; 0 never). */
  idleUnloadMs: z.number().int("must be a whole number").nonnegative("must be 0 (never) or more").optional(),
  logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).optional(),
});
/** A parsed config file. */
export type HostAgentConfig = z.infer<typeof HostAgentConfigSchema>;

/** The configuration after flags and defaults: what the CLI starts the agent with. */
export interface ResolvedHostAgentConfig
  extends Omit<HostAgentConfig, "hostId" | "gatewayUrl" | "tokenFile" | "endpoint" | "stateDir" | "logLevel"> {
  hostId: string;
  /** One URL, or the list to fail over between (a one-URL list is given as its URL). */
  gatewayUrl: string | string[];
  tokenFile: string;
  endpoint: string;
  stateDir: string;
  logLevel: NonNullable<HostAgentConfig["logLevel"]>;
}

/** A configuration problem; the message names the source and the field. */
export class HostAgentConfigError extends Error {
  override readonly name = "HostAgentConfigError";
}

/** Validates a parsed JSON value as a config file; relative paths resolve against `baseDir`. Pure. */
export function parseHostAgentConfig(value: unknown, source: string, baseDir: string): HostAgentConfig {
  const parsed = HostAgentConfigSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) =>
      i.path.length ? `${i.path.map(String).join(".")}: ${i.message}` : i.message,
    );
    throw new HostAgentConfigError(`${source}: ${issues.join("; ")}`);
  }
  const config = { ...parsed.data };
  if (config.tokenFile) config.tokenFile = path.resolve(baseDir, config.tokenFile);
  if (config.stateDir) config.stateDir = path.resolve(baseDir, config.stateDir);
  return config;
}

/** Reads and validates a config file. */
export async function loadHostAgentConfigFile(file: string): Promise<HostAgentConfig> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    throw new HostAgentConfigError(`cannot read the config file ${file}: ${(err as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new HostAgentConfigError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  return parseHostAgentConfig(value, file, path.dirname(path.resolve(file)));
}

/** This machine's short host name as a host id: the first label, other characters replaced by '-'. */
export function defaultHostId(hostname: string = os.hostname()): string {
  const id = (hostname.split(".")[0] ?? "").replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 128);
  return id || "host";
}

/** Flags layered over the file, then defaults; throws HostAgentConfigError naming what is missing or invalid. Pure. */
export function resolveHostAgentConfig(
  file: HostAgentConfig,
  flags: Partial<Pick<HostAgentConfig, "hostId" | "gatewayUrl" | "tokenFile" | "endpoint" | "stateDir">>,
  defaults: { stateDir: string; hostname?: string },
): ResolvedHostAgentConfig {
  const flagCheck = z.object({ hostId: HostId.optional(), gatewayUrl: GatewayUrls.optional() }).safeParse(flags);
  if (!flagCheck.success) {
    const issue = flagCheck.error.issues[0]!;
    const flag = issue.path[0] === "hostId" ? "--host-id" : "--gateway";
    throw new HostAgentConfigError(`${flag}: ${issue.message}`);
  }
  const merged = {
    ...file,
    ...Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)),
  } as HostAgentConfig;
  const missing = [
    merged.gatewayUrl ? null : 'the gateway URL (--gateway or "gatewayUrl")',
    merged.tokenFile ? null : 'the host token file (--token-file or "tokenFile")',
  ].filter(Boolean);
  if (missing.length) throw new HostAgentConfigError(`missing ${missing.join(" and ")}`);
  return {
    ...merged,
    hostId: merged.hostId ?? defaultHostId(defaults.hostname),
    gatewayUrl: oneOrList(merged.gatewayUrl!),
    tokenFile: path.resolve(merged.tokenFile!),
    endpoint: merged.endpoint ?? "unix://",
    stateDir: path.resolve(merged.stateDir ?? defaults.stateDir),
    logLevel: merged.logLevel ?? "info",
  };
}

/** A one-element list as its element; longer lists as they are. Pure. */
function oneOrList(urls: string | string[]): string | string[] {
  return Array.isArray(urls) && urls.length === 1 ? urls[0]! : urls;
}
