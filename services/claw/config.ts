/**
 * The plugin's config (`plugins.entries.claw-supervisor.config`), checked with zod after OpenClaw has applied
 * the manifest's JSON Schema. `connect` mode joins a supervisor bus; `embedded` runs the local stack inside
 * the gateway for a single machine.
 */
import { z } from "zod";
import { issuesText } from "../../schemas/commands.js";

const Port = z.number().int().min(0).max(65535);

export const ClawPluginConfig = z.strictObject({
  mode: z.enum(["connect", "embedded"]).default("connect"),
  /** The supervisor's NATS (connect mode); credentials may also be in the URL. */
  natsUrl: z.string().min(1).default("nats://127.0.0.1:4222"),
  natsUser: z.string().min(1).optional(),
  natsPassword: z.string().min(1).optional(),
  natsToken: z.string().min(1).optional(),
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
