/**
 * The WebSocket protocol between a host agent and the rpc-gateway (event half). The agent dials out with
 * `Authorization: Bearer <host token>`; every frame is one JSON object, validated on arrival.
 */
import { z } from "zod";
import { SessionEventEnvelopeSchema } from "./bus.js";
import { HostRpcRequest, HostRpcResult } from "./host-rpc.js";

/** Largest frame either side accepts by default, in bytes. */
export const DEFAULT_GATEWAY_MAX_FRAME_BYTES = 1024 * 1024;

const Seq = z.number().int().nonnegative();

/**
 * Events the agent sent on an earlier connection and got no ack for (that connection ended first): the lowest
 * and highest of their seqs, and how long ago (ms) the first of them was first sent. The gateway looks them up
 * in CODEX_EVENTS and names those already stored in its welcome (`stored`), so a heal does not store them again
 * however long the acks were lost (JetStream's duplicate window is only minutes). Absent: nothing is in doubt.
 */
export const UnackedEvents = z.object({ firstSeq: Seq, lastSeq: Seq, ageMs: Seq });
export type UnackedEvents = z.infer<typeof UnackedEvents>;

/** Bounds of the hello's free strings (a frame may be up to 1 MiB): a host id as tokens allow, an event's epoch, a DNS name. */
export const MAX_HELLO_HOST_ID = 128;
export const MAX_HELLO_EPOCH = 64;
export const MAX_HELLO_AGENT_VERSION = 100;
export const MAX_HELLO_HOSTNAME = 255;

/** Bounds of a hello's `runSecret` (the agent sends 43 characters: 32 random bytes in base64url). */
export const MIN_RUN_SECRET = 16;
export const MAX_RUN_SECRET = 128;

/**
 * First frame from the agent: who it is. `hostId` must be the token's host. `epoch` names this run of the agent
 * (new at every start) and `runSecret` proves it: a gateway takes a newer connection whose run id and secret both
 * match the holder's as a reconnect of the same agent (taken over silently), anything else as a second agent
 * claiming the same host id (a conflict). The run id alone proves nothing: every event carries it.
 */
export const HelloFrame = z.object({
  type: z.literal("hello"),
  hostId: z
    .string()
    .min(1, "must not be empty")
    .max(MAX_HELLO_HOST_ID, `must be at most ${MAX_HELLO_HOST_ID} characters`),
  /** As every event's `epoch` carries it (schemas/bus.ts), so the same bounds. */
  epoch: z
    .string()
    .min(1, "must not be empty")
    .max(MAX_HELLO_EPOCH, `must be at most ${MAX_HELLO_EPOCH} characters`)
    .regex(/^[A-Za-z0-9_-]+$/, "must be letters, digits, '-' or '_'"),
  agentVersion: z.string().max(MAX_HELLO_AGENT_VERSION, `must be at most ${MAX_HELLO_AGENT_VERSION} characters`),
  hostname: z.string().max(MAX_HELLO_HOSTNAME, `must be at most ${MAX_HELLO_HOSTNAME} characters`),
  /** The agent understands `acks` frames; without it the gateway sends one `ack` frame per event. */
  batchAcks: z.boolean().optional(),
  /** Sent events whose acks never came (see UnackedEvents); absent from older agents. */
  unacked: UnackedEvents.optional(),
  /**
   * A secret of this agent run: random, made at the agent's start and kept in its memory only. The gateway keeps
   * only a hash of it (in the host lease's note). Absent from older agents: such a hello is a different run from
   * any holder whose lease names a secret.
   */
  runSecret: z
    .string()
    .min(MIN_RUN_SECRET, `must be at least ${MIN_RUN_SECRET} characters`)
    .max(MAX_RUN_SECRET, `must be at most ${MAX_RUN_SECRET} characters`)
    .optional(),
});
/** One session event to store in CODEX_EVENTS. */
export const EventFrame = z.object({ type: z.literal("event"), event: SessionEventEnvelopeSchema });
/** Liveness plus a summary; `atMs` is the agent's clock (unix ms). */
export const HeartbeatFrame = z.object({
  type: z.literal("heartbeat"),
  atMs: z.number().int().nonnegative(),
  threads: z.number().int().nonnegative(),
  appServer: z.enum(["connected", "disconnected"]),
});
/** The answer to an `rpc` frame, matched by `id`. */
export const RpcResultFrame = z.object({
  type: z.literal("rpcResult"),
  id: z.string().min(1).max(200),
  result: HostRpcResult,
});
/** Anything an agent may send. */
export const AgentFrame = z.discriminatedUnion("type", [HelloFrame, EventFrame, HeartbeatFrame, RpcResultFrame]);
export type AgentFrame = z.infer<typeof AgentFrame>;

/** A host lease's epoch (the `codex-leases` revision of the write that took `host.<hostId>`): a fencing token. */
const LeaseEpoch = z.number().int().positive();
/** Most ranges a welcome's `stored` carries; seqs beyond them are simply sent again. */
export const MAX_STORED_RANGES = 4_096;
/**
 * Seqs of the agent run `epoch` that CODEX_EVENTS already holds, among the hello's `unacked`: inclusive
 * `[first, last]` ranges in ascending order. The agent drops them from its buffer as if acked.
 */
export const StoredSeqs = z.object({
  epoch: z.string(),
  seqs: z.array(z.tuple([Seq, Seq])).max(MAX_STORED_RANGES),
});
export type StoredSeqs = z.infer<typeof StoredSeqs>;
/**
 * The gateway accepted the hello and holds the host's lease at `leaseEpoch`; `stored`: which of the hello's
 * `unacked` events are already stored (both absent from older gateways).
 */
export const WelcomeFrame = z.object({
  type: z.literal("welcome"),
  hostId: z.string(),
  gatewayId: z.string(),
  leaseEpoch: LeaseEpoch.optional(),
  stored: StoredSeqs.optional(),
});
/** The event `(epoch, seq)` is stored (or was already: `duplicate`); the agent may drop it from its buffer. */
export const AckFrame = z.object({
  type: z.literal("ack"),
  epoch: z.string(),
  seq: z.number().int().nonnegative(),
  duplicate: z.boolean(),
});
/** Most seqs one `acks` frame carries. */
export const MAX_ACKS_PER_FRAME = 1_000;
/**
 * Several events of `epoch` stored at once (sent instead of `ack` to agents whose hello set `batchAcks`): the
 * gateway gathers the acks that complete together, so a burst costs one frame, not one per event.
 */
export const AcksFrame = z.object({
  type: z.literal("acks"),
  epoch: z.string(),
  seqs: z.array(z.number().int().nonnegative()).min(1).max(MAX_ACKS_PER_FRAME),
  /** How many of `seqs` were already stored (duplicates). */
  duplicates: z.number().int().nonnegative(),
});
/** The event was refused and will never be stored; `reason` says why. The agent drops it. */
export const RejectFrame = z.object({
  type: z.literal("reject"),
  epoch: z.string().nullable(),
  seq: z.number().int().nonnegative().nullable(),
  reason: z.string(),
});
/**
 * A command the policy service approved, for the agent to execute on its app-server within `timeoutMs`.
 * `leaseEpoch` is the host lease the sending gateway holds: the agent refuses a frame whose epoch is below the
 * highest it has been welcomed with (a deposed gateway's command).
 */
export const RpcFrame = z.object({
  type: z.literal("rpc"),
  id: z.string().min(1).max(200),
  request: HostRpcRequest,
  timeoutMs: z.number().int().positive(),
  leaseEpoch: LeaseEpoch.optional(),
});
/** Anything the gateway may send. */
export const GatewayFrame = z.discriminatedUnion("type", [WelcomeFrame, AckFrame, AcksFrame, RejectFrame, RpcFrame]);
export type GatewayFrame = z.infer<typeof GatewayFrame>;

/** What the gateway publishes on `codex.host.<hostId>` (core NATS): a host's connection life. */
export const HostLifecycle = z.object({
  type: z.enum(["connected", "heartbeat", "disconnected"]),
  hostId: z.string(),
  gatewayId: z.string(),
  /** The gateway's clock when it saw this, unix ms. */
  atMs: z.number().int().nonnegative(),
  hostname: z.string().nullable(),
  agentVersion: z.string().nullable(),
  threads: z.number().int().nonnegative().nullable(),
  appServer: z.enum(["connected", "disconnected"]).nullable(),
  /**
   * The host lease the publishing gateway holds the connection under (absent from older gateways): of two
   * messages from different gateways, the one with the lower epoch is the older connection's. A gateway whose
   * lease was taken publishes no `disconnected`.
   */
  leaseEpoch: LeaseEpoch.optional(),
});
export type HostLifecycle = z.infer<typeof HostLifecycle>;

/**
 * Close code (private range) of a connection displaced by a different agent claiming the same host id: the
 * newer connection holds the host, the reason names it, and the displaced agent stops reconnecting.
 */
export const HOST_CLAIMED_CLOSE_CODE = 4409;
