import { BusTopologyConfigSchema, type BusTopologyConfig, type BusTopologyConfigInput } from "../../schemas/bus.js";
import { BusError } from "./errors.js";
import { subjects } from "./subjects.js";

const DAY_MS = 24 * 60 * 60 * 1000;

/** Names of the bus streams. */
export const STREAM_NAMES = {
  events: "CODEX_EVENTS",
  audit: "AUDIT",
  fleet: "FLEET",
} as const;

/** Names of the bus KV buckets. */
export const KV_BUCKET_NAMES = {
  sessions: "codex-sessions",
  hosts: "codex-hosts",
  policy: "codex-policy",
  leases: "codex-leases",
  hostTokens: "codex-host-tokens",
  commands: "codex-commands",
  mcpRevocations: "codex-mcp-revocations",
  operators: "codex-operators",
  policyState: "codex-policy-state",
} as const;

/** One bus stream as data: file storage, limits retention, discard old; durations in milliseconds. */
export interface BusStreamSpec {
  name: string;
  description: string;
  subjects: string[];
  maxAgeMs: number;
  maxBytes: number;
  /** Window in which a repeated `Nats-Msg-Id` is stored once; never longer than `maxAgeMs`. */
  duplicateWindowMs: number;
  replicas: number;
  /**
   * Created with `deny_delete` and `deny_purge`: no user, admin included, can delete a message or purge the
   * stream (the session log and the audit trail); retention by age and size only.
   */
  protected: boolean;
}

/** One bus KV bucket as data; `ttlMs` is the bucket-wide entry TTL (undefined = entries never expire). */
export interface BusKvSpec {
  bucket: string;
  description: string;
  history: number;
  ttlMs: number | undefined;
  replicas: number;
}

/** The server's own default duplicate window: 2 minutes, capped at the max age. Pure. */
export function defaultDuplicateWindowMs(maxAgeMs: number | undefined): number {
  const twoMinutes = 120_000;
  return maxAgeMs === undefined ? twoMinutes : Math.min(twoMinutes, maxAgeMs);
}

/** Everything `ensureBus` creates, as data. */
export interface BusTopology {
  streams: BusStreamSpec[];
  buckets: BusKvSpec[];
}

/** Parses topology settings, applying defaults; throws `BusError("invalid_config")` when they are invalid. Pure. */
export function parseTopologyConfig(input: BusTopologyConfigInput = {}): BusTopologyConfig {
  const parsed = BusTopologyConfigSchema.safeParse(input);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "config"}: ${i.message}`).join("; ");
    throw new BusError("invalid_config", `invalid bus topology config: ${detail}`, { cause: parsed.error });
  }
  return parsed.data;
}

/** The streams and buckets of the bus for the given settings. Pure. */
export function busTopology(input: BusTopologyConfigInput = {}): BusTopology {
  const c = parseTopologyConfig(input);
  return {
    streams: [
      {
        name: STREAM_NAMES.events,
        description: "Codex session events, one subject per host and thread",
        subjects: [subjects.allSessionEvents()],
        maxAgeMs: c.eventsMaxAgeMs,
        maxBytes: c.eventsMaxBytes,
        duplicateWindowMs: c.eventsDuplicateWindowMs,
        replicas: c.replicas,
        protected: true,
      },
      {
        name: STREAM_NAMES.audit,
        description: "Redacted audit trail of commands, decisions, results and policy changes",
        subjects: [subjects.allAudit()],
        maxAgeMs: c.auditMaxAgeMs,
        maxBytes: c.auditMaxBytes,
        duplicateWindowMs: defaultDuplicateWindowMs(c.auditMaxAgeMs),
        replicas: c.replicas,
        protected: true,
      },
      {
        name: STREAM_NAMES.fleet,
        description: "Fleet notices each Claw reads through its own durable consumer",
        subjects: [subjects.allFleet()],
        maxAgeMs: c.fleetMaxAgeMs,
        maxBytes: c.fleetMaxBytes,
        duplicateWindowMs: defaultDuplicateWindowMs(c.fleetMaxAgeMs),
        replicas: c.replicas,
        protected: false,
      },
    ],
    buckets: [
      {
        bucket: KV_BUCKET_NAMES.sessions,
        description: "Session registry view, updated with compare-and-set on revision",
        history: 5,
        ttlMs: undefined,
        replicas: c.replicas,
      },
      {
        bucket: KV_BUCKET_NAMES.hosts,
        description: "Known host agents",
        history: 1,
        ttlMs: undefined,
        replicas: c.replicas,
      },
      {
        bucket: KV_BUCKET_NAMES.policy,
        description: "Policy documents watched by the policy service",
        history: 10,
        ttlMs: undefined,
        replicas: c.replicas,
      },
      {
        bucket: KV_BUCKET_NAMES.leases,
        description: "Multi-Claw session ownership leases; an unrenewed lease expires with the bucket TTL",
        history: 1,
        ttlMs: c.leaseTtlMs,
        replicas: c.replicas,
      },
      {
        bucket: KV_BUCKET_NAMES.commands,
        description:
          "Commands by caller and idempotency key: claimed before they run, their result once done; expire after a day",
        history: 1,
        ttlMs: DAY_MS,
        replicas: c.replicas,
      },
      {
        bucket: KV_BUCKET_NAMES.hostTokens,
        description:
          "Host tokens by token id: SHA-256 of the secret, host id, created and revoked times; never a secret",
        history: 5,
        ttlMs: undefined,
        replicas: c.replicas,
      },
      {
        bucket: KV_BUCKET_NAMES.mcpRevocations,
        description:
          "MCP token revocations by session (key: the session id, base64url): MCP tokens of that session issued before revokedAt are refused",
        history: 5,
        ttlMs: undefined,
        replicas: c.replicas,
      },
      {
        bucket: KV_BUCKET_NAMES.operators,
        description:
          "Dashboard operator tokens by token id: name, role, SHA-256 of the token, created and revoked times; never a secret",
        history: 5,
        ttlMs: undefined,
        replicas: c.replicas,
      },
      {
        bucket: KV_BUCKET_NAMES.policyState,
        description:
          "What the policy service's instances remember together: rate-limit token buckets (compare-and-set) and agent-to-agent deliveries; expire after a day",
        history: 1,
        ttlMs: DAY_MS,
        replicas: c.replicas,
      },
    ],
  };
}
