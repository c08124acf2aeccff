import { z } from "zod";

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
const MIB = 1024 * 1024;

const positiveMs = z.number().int().positive();
const positiveBytes = z.number().int().positive();

/** Connection settings for `connectBus`: servers plus optional user/pass or token credentials (never both). */
export const BusConnectionConfigSchema = z
  .object({
    servers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    name: z.string().min(1),
    user: z.string().min(1).optional(),
    pass: z.string().optional(),
    token: z.string().min(1).optional(),
    reconnectTimeWaitMs: positiveMs.default(1_000),
  })
  .refine((c) => (c.user === undefined) === (c.pass === undefined), {
    message: "user and pass must be given together",
  })
  .refine((c) => !(c.token !== undefined && c.user !== undefined), {
    message: "use either user/pass or token, not both",
  });
/** Parsed connection settings (defaults applied). */
export type BusConnectionConfig = z.infer<typeof BusConnectionConfigSchema>;

/**
 * How many copies of each stream and bucket a JetStream cluster keeps: 1 on a single server, 3 or 5 on a
 * cluster of at least that many nodes. Ensuring the bus raises an existing stream to it but never lowers one.
 */
export const BusReplicas = z.union([z.literal(1), z.literal(3), z.literal(5)], { error: "must be 1, 3 or 5" });
/** A valid replica count. */
export type BusReplicas = z.infer<typeof BusReplicas>;

/** Sizes, ages and replication of the bus streams and KV buckets; all durations in milliseconds. */
export const BusTopologyConfigSchema = z
  .object({
    replicas: BusReplicas.default(1),
    eventsMaxAgeMs: positiveMs.default(7 * DAY_MS),
    eventsMaxBytes: positiveBytes.default(1024 * MIB),
    eventsDuplicateWindowMs: positiveMs.default(2 * MINUTE_MS),
    auditMaxAgeMs: positiveMs.default(90 * DAY_MS),
    auditMaxBytes: positiveBytes.default(1024 * MIB),
    fleetMaxAgeMs: positiveMs.default(7 * DAY_MS),
    fleetMaxBytes: positiveBytes.default(256 * MIB),
    leaseTtlMs: positiveMs.default(30_000),
  })
  .refine((c) => c.eventsDuplicateWindowMs <= c.eventsMaxAgeMs, {
    message: "eventsDuplicateWindowMs must not exceed eventsMaxAgeMs",
    path: ["eventsDuplicateWindowMs"],
  });
/** Parsed topology settings (defaults applied). */
export type BusTopologyConfig = z.infer<typeof BusTopologyConfigSchema>;
/** Topology settings as a caller writes them (every field optional). */
export type BusTopologyConfigInput = z.input<typeof BusTopologyConfigSchema>;

/**
 * One session event as published on `codex.evt.<hostId>.<threadId>`. `epoch` names one run of the host
 * agent (a new one at every start) and `seq` counts that run's events from 0, so `(hostId, epoch, seq)` is
 * never reused, even across agent restarts: it orders a host's events and makes the message id.
 * `type` is the app-server notification method, or an `agent/...` kind the host agent adds;
 * `emittedAtMs` is the app-server's envelope time (or the agent's clock for agent kinds), unix ms.
 */
export const SessionEventEnvelopeSchema = z.object({
  hostId: z.string().min(1),
  threadId: z.string().min(1),
  epoch: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_-]+$/, "epoch must be letters, digits, '-' or '_'"),
  seq: z.number().int().nonnegative(),
  emittedAtMs: z.number().int().nonnegative(),
  type: z.string().min(1),
  payload: z.unknown(),
});
/** A validated session event envelope. */
export type SessionEventEnvelope = z.infer<typeof SessionEventEnvelopeSchema>;

const ENVELOPE_EPOCH = /^[A-Za-z0-9_-]+$/;
const ENVELOPE_FIELDS = new Set(["hostId", "threadId", "epoch", "seq", "emittedAtMs", "type", "payload"]);
const nonEmptyString = (v: unknown): v is string => typeof v === "string" && v.length > 0;
const count = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/**
 * True when `value` certainly passes `SessionEventEnvelopeSchema` unchanged (its seven fields, their types and
 * bounds, no field the schema would strip): the hot paths (the gateway, the registry) check an envelope by hand
 * first and ask the schema only when this says false, which means "ask the schema", not "invalid". Keep it in
 * step with the schema: a test holds the two to agreement (services/registry/envelope.test.ts). Pure.
 */
export function isPlainSessionEventEnvelope(value: unknown): value is SessionEventEnvelope {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const v = value as Record<string, unknown>;
  if (
    !nonEmptyString(v.hostId) ||
    !nonEmptyString(v.threadId) ||
    !nonEmptyString(v.epoch) ||
    v.epoch.length > 64 ||
    !ENVELOPE_EPOCH.test(v.epoch) ||
    !count(v.seq) ||
    !count(v.emittedAtMs) ||
    !nonEmptyString(v.type) ||
    v.payload === undefined
  )
    return false;
  for (const key in v) if (!ENVELOPE_FIELDS.has(key)) return false;
  return true;
}

/**
 * One host token as stored in KV `codex-host-tokens` under its `tokenId`: the SHA-256 of the whole token
 * (hex), never the token itself, and the one host id it is scoped to. Times are unix ms; a revoked token
 * keeps its record with `revokedAtMs` set so `token list` can show it.
 */
export const HostTokenRecordSchema = z.object({
  tokenId: z.string().regex(/^[0-9a-f]{16}$/, "tokenId must be 16 lowercase hex digits"),
  hostId: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, "sha256 must be 64 lowercase hex digits"),
  createdAtMs: z.number().int().nonnegative(),
  revokedAtMs: z.number().int().nonnegative().nullable(),
});
/** A validated host token record. */
export type HostTokenRecord = z.infer<typeof HostTokenRecordSchema>;
