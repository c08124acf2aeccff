/**
 * The gateway's side of one host agent connection as pure steps: each function takes the connection state
 * and an input (a frame, a publish outcome, the end of the socket) and returns the next state plus the
 * actions to perform. No sockets, no NATS, no clocks: the caller passes `nowMs` and executes the actions.
 */
import { createHash } from "node:crypto";
import type { z } from "zod";
import { isPlainSessionEventEnvelope, type SessionEventEnvelope } from "../../schemas/bus.js";
import {
  AgentFrame,
  HOST_CLAIMED_CLOSE_CODE,
  type GatewayFrame,
  type HelloFrame as HelloFrameSchema,
  type HostLifecycle,
  type StoredSeqs,
  type UnackedEvents,
} from "../../schemas/gateway.js";
import type { HostRpcResult } from "../../schemas/host-rpc.js";
import { describeIssues, eventKindProblem } from "./event-kinds.js";
import { inSeqRanges } from "./stored-lookup.js";

type HelloFrame = z.infer<typeof HelloFrameSchema>;

/** WebSocket close codes the gateway uses (RFC 6455 §7.4.1). */
export const CloseCode = {
  /** The gateway is stopping. */
  goingAway: 1001,
  /** The first frame was not a valid hello. */
  protocolError: 1002,
  /** Hello for another host, no hello in time, too many bad frames, token revoked, replaced by a newer connection of the same agent. */
  policyViolation: 1008,
  /** A frame over the size cap. */
  messageTooBig: 1009,
  /** The bus could not store an event or keep the host's lease right now: reconnect (and replay). */
  tryAgainLater: 1013,
  /** Another agent (a different run) claimed this host id and holds it now: do not reconnect. */
  hostClaimed: HOST_CLAIMED_CLOSE_CODE,
} as const;
/** One of the gateway's close codes. */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Limits the protocol enforces per connection. */
export interface ProtocolLimits {
  /** Bad frames (rejects) a connection may send before it is closed; the last one closes it. */
  maxBadFrames: number;
  /** At most one heartbeat per this many ms is published as lifecycle; extra ones are dropped. */
  heartbeatMinIntervalMs: number;
}

/**
 * Who holds (or took) a host's lease: the agent run (its hello epoch) and the hash of that run's secret (`runKey`,
 * null when its hello had none), its host name, the host token it used (`tokenId`, never the token), where it
 * connected from, the gateway, the epoch. Null: not known (a lease written by an older gateway).
 */
export interface LeaseClaimant {
  agentEpoch: string | null;
  runKey: string | null;
  hostname: string | null;
  tokenId: string | null;
  remoteAddress: string | null;
  gatewayId: string | null;
  leaseEpoch: number;
}

/** What the gateway knows about one connection. */
export interface ConnectionState {
  /** The token's host: the connection's identity. */
  hostId: string;
  gatewayId: string;
  /** The accepted hello, null until then; without its `runSecret`, which is kept only as `runKey`. */
  hello: HelloFrame | null;
  /** `runKeyOf` the hello's `runSecret`; null until the hello, and for a hello without one (an older agent). */
  runKey: string | null;
  /** The epoch of the host lease this connection holds; null until taken (the welcome is sent then). */
  leaseEpoch: number | null;
  /**
   * Which of the hello's `unacked` events CODEX_EVENTS already held (named in the welcome): never published
   * again on this connection, whatever the duplicate window. Null when none (or nothing was in doubt).
   */
  stored: StoredSeqs | null;
  badFrames: number;
  lastHeartbeatPublishedAtMs: number | null;
  /** Set once the connection is closing or closed: nothing more is accepted. */
  closing: boolean;
  /** Set once `disconnected` has been published, so it is published at most once. */
  disconnectReported: boolean;
}

/** Something the I/O shell must do. */
export type ProtocolAction =
  | { kind: "send"; frame: GatewayFrame }
  | { kind: "publishEvent"; event: SessionEventEnvelope }
  | { kind: "rpcResult"; id: string; result: HostRpcResult }
  | { kind: "publishLifecycle"; lifecycle: HostLifecycle }
  /** Find which of the hello's `unacked` events are stored already; then `storedLookedUp`. */
  | { kind: "lookupStored"; unacked: UnackedEvents }
  /** Take the host's lease (by force: the newest connection holds the host); then `leaseTaken` or `leaseNotTaken`. */
  | { kind: "takeLease" }
  /** A different agent took this host over: tell the fleet (a host-conflict notice). */
  | { kind: "reportConflict"; holder: LeaseClaimant }
  | { kind: "close"; code: CloseCode; reason: string }
  | { kind: "terminate"; reason: string }
  | { kind: "log"; level: "debug" | "info" | "warn"; msg: string; data?: Record<string, unknown> };

/** The next state and what to do. */
export interface Step {
  state: ConnectionState;
  actions: ProtocolAction[];
}

const MAX_REJECT_REASON = 1_000;
const MAX_CLOSE_REASON_BYTES = 123;

/** `text` cut to fit a WebSocket close reason (at most 123 UTF-8 bytes). Pure. */
export function closeReason(text: string): string {
  if (Buffer.byteLength(text, "utf8") <= MAX_CLOSE_REASON_BYTES) return text;
  let cut = text;
  while (Buffer.byteLength(`${cut}…`, "utf8") > MAX_CLOSE_REASON_BYTES) cut = cut.slice(0, -1);
  return `${cut}…`;
}

/** The state of a connection the token has just authenticated. Pure. */
export function initialConnectionState(hostId: string, gatewayId: string): ConnectionState {
  return {
    hostId,
    gatewayId,
    hello: null,
    runKey: null,
    leaseEpoch: null,
    stored: null,
    badFrames: 0,
    lastHeartbeatPublishedAtMs: null,
    closing: false,
    disconnectReported: false,
  };
}

function lifecycle(
  state: ConnectionState,
  type: HostLifecycle["type"],
  nowMs: number,
  extra: Partial<HostLifecycle> = {},
): HostLifecycle {
  return {
    type,
    hostId: state.hostId,
    gatewayId: state.gatewayId,
    atMs: nowMs,
    hostname: state.hello?.hostname ?? null,
    agentVersion: state.hello?.agentVersion ?? null,
    threads: null,
    appServer: null,
    ...(state.leaseEpoch === null ? {} : { leaseEpoch: state.leaseEpoch }),
    ...extra,
  };
}

function close(state: ConnectionState, code: CloseCode, reason: string, data: Record<string, unknown> = {}): Step {
  return {
    state: { ...state, closing: true },
    actions: [
      {
        kind: "log",
        level: code === CloseCode.goingAway ? "info" : "warn",
        msg: `closing connection: ${reason}`,
        data: { code, ...data },
      },
      { kind: "close", code, reason: closeReason(reason) },
    ],
  };
}

/** `(epoch, seq)` of a frame that claims to carry an event, when they are well-typed; for reject frames. */
function claimedEventId(raw: unknown): { epoch: string | null; seq: number | null } {
  const event = (raw as { event?: { epoch?: unknown; seq?: unknown } } | null)?.event;
  const epoch = typeof event?.epoch === "string" ? event.epoch : null;
  const seq = Number.isSafeInteger(event?.seq) && (event?.seq as number) >= 0 ? (event?.seq as number) : null;
  return { epoch, seq };
}

/** Refuses one frame: a reject frame, a warning, and a close once the connection has sent too many. Pure. */
function refuse(
  state: ConnectionState,
  limits: ProtocolLimits,
  reason: string,
  raw: unknown,
  data: Record<string, unknown> = {},
): Step {
  const { epoch, seq } = claimedEventId(raw);
  const next = { ...state, badFrames: state.badFrames + 1 };
  const actions: ProtocolAction[] = [
    { kind: "log", level: "warn", msg: `rejected frame: ${reason}`, data: { epoch, seq, ...data } },
    { kind: "send", frame: { type: "reject", epoch, seq, reason: reason.slice(0, MAX_REJECT_REASON) } },
  ];
  if (next.badFrames < limits.maxBadFrames) return { state: next, actions };
  const closing = close(next, CloseCode.policyViolation, `too many bad frames (${next.badFrames})`);
  return { state: closing.state, actions: [...actions, ...closing.actions] };
}

type Decoded = { ok: true; value: unknown } | { ok: false; reason: string };

// One decoder for every frame (each `decode` call is complete, so none carries state over); making one per
// frame cost more than the decoding.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function decode(data: string | Uint8Array): Decoded {
  let text: string;
  try {
    text = typeof data === "string" ? data : strictUtf8.decode(data);
  } catch {
    return { ok: false, reason: "frame is not valid UTF-8" };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, reason: `malformed JSON: ${(err as Error).message}` };
  }
}

const FRAME_TYPES = ["hello", "event", "heartbeat", "rpcResult"];

/** True for `{ type: "event", event }` with nothing else and an envelope the schema takes as it is. Pure. */
function isPlainEventFrame(value: Record<string, unknown>): boolean {
  let keys = 0;
  for (const key in value) {
    if (key !== "type" && key !== "event") return false;
    keys++;
  }
  return keys === 2 && isPlainSessionEventEnvelope(value.event);
}

/** Parses a decoded value as an AgentFrame, naming what is wrong when it is not one. Pure. */
function parseFrame(value: unknown): { ok: true; frame: AgentFrame } | { ok: false; reason: string } {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return { ok: false, reason: "frame must be a JSON object" };
  const type = (value as { type?: unknown }).type;
  if (typeof type !== "string" || !FRAME_TYPES.includes(type)) {
    return {
      ok: false,
      reason: `unknown frame type ${JSON.stringify(type ?? null)}; expected one of ${FRAME_TYPES.join(", ")}`,
    };
  }
  // The common frame, an event, checked by hand when it certainly passes the schema unchanged; else the schema.
  if (type === "event" && isPlainEventFrame(value as Record<string, unknown>))
    return { ok: true, frame: value as AgentFrame };
  const parsed = AgentFrame.safeParse(value);
  return parsed.success
    ? { ok: true, frame: parsed.data }
    : { ok: false, reason: `invalid ${type} frame: ${describeIssues(parsed.error)}` };
}

/** Handles one frame from the agent. Pure. */
export function receiveFrame(
  state: ConnectionState,
  data: string | Uint8Array,
  nowMs: number,
  limits: ProtocolLimits,
): Step {
  if (state.closing) return { state, actions: [] };
  const decoded = decode(data);
  const parsed = decoded.ok ? parseFrame(decoded.value) : decoded;
  if (state.hello === null) {
    if (!parsed.ok) return close(state, CloseCode.protocolError, `first frame must be a hello: ${parsed.reason}`);
    if (parsed.frame.type !== "hello")
      return close(state, CloseCode.protocolError, `first frame must be a hello, got ${parsed.frame.type}`);
    return acceptHello(state, parsed.frame, nowMs);
  }
  const raw = decoded.ok ? decoded.value : null;
  if (!parsed.ok) return refuse(state, limits, parsed.reason, raw);
  const frame = parsed.frame;
  if (frame.type === "hello") return refuse(state, limits, "hello was already accepted on this connection", raw);
  if (frame.type === "heartbeat") {
    // Before the welcome (the lease is being taken) there is no `connected` yet for a heartbeat to follow.
    if (state.leaseEpoch === null) return { state, actions: [] };
    const due =
      state.lastHeartbeatPublishedAtMs === null ||
      nowMs - state.lastHeartbeatPublishedAtMs >= limits.heartbeatMinIntervalMs;
    if (!due) return { state, actions: [] };
    const extra = { threads: frame.threads, appServer: frame.appServer };
    return {
      state: { ...state, lastHeartbeatPublishedAtMs: nowMs },
      actions: [{ kind: "publishLifecycle", lifecycle: lifecycle(state, "heartbeat", nowMs, extra) }],
    };
  }
  if (frame.type === "rpcResult")
    return { state, actions: [{ kind: "rpcResult", id: frame.id, result: frame.result }] };
  const event = frame.event;
  if (event.hostId !== state.hostId) {
    const reason = `event.hostId ${JSON.stringify(event.hostId)} is not this connection's host ${JSON.stringify(state.hostId)}`;
    return refuse(state, limits, reason, raw, { claimedHostId: event.hostId });
  }
  // An agent run sends only its own events (its buffer lives in memory): another run's epoch on this connection
  // would store events under ids that run, or a later one, may still use, and have its own events dropped as duplicates.
  if (state.hello !== null && event.epoch !== state.hello.epoch) {
    const reason = `event.epoch ${JSON.stringify(event.epoch)} is not this connection's agent run ${JSON.stringify(state.hello.epoch)}`;
    return refuse(state, limits, reason, raw, { claimedEpoch: event.epoch });
  }
  // Already in CODEX_EVENTS (the hello's lookup found it): ack it, and do not store it a second time.
  if (state.stored !== null && event.epoch === state.stored.epoch && inSeqRanges(state.stored.seqs, event.seq))
    return eventStored(state, event, true);
  const problem = eventKindProblem(event);
  if (problem !== null) return refuse(state, limits, problem, raw, { type: event.type });
  return { state, actions: [{ kind: "publishEvent", event }] };
}

/**
 * A valid hello: take the host's lease first; the welcome waits for it (`leaseTaken`). When the hello names
 * events in doubt (`unacked`), look them up first (`storedLookedUp` then takes the lease).
 */
function acceptHello(state: ConnectionState, frame: HelloFrame, _nowMs: number): Step {
  if (frame.hostId !== state.hostId) {
    const reason = `hello for host ${JSON.stringify(frame.hostId)}, but the token is for host ${JSON.stringify(state.hostId)}`;
    return close(state, CloseCode.policyViolation, reason, { claimedHostId: frame.hostId });
  }
  // The secret itself goes no further than its hash: never kept, logged or written.
  const { runSecret, ...hello } = frame;
  const keyed = { ...state, runKey: runSecret === undefined ? null : runKeyOf(runSecret) };
  if (hello.unacked)
    return {
      state: { ...keyed, hello },
      actions: [
        { kind: "lookupStored", unacked: hello.unacked },
        {
          kind: "log",
          level: "debug",
          msg: "hello accepted; looking up its unacknowledged events",
          data: { epoch: hello.epoch, unacked: hello.unacked },
        },
      ],
    };
  return {
    state: { ...keyed, hello },
    actions: [
      { kind: "takeLease" },
      { kind: "log", level: "debug", msg: "hello accepted; taking the host lease", data: { epoch: hello.epoch } },
    ],
  };
}

/**
 * The lookup of the hello's `unacked` events ended: `seqs` are those found stored (null: the lookup failed or
 * ran out of time, and the agent sends everything again). Take the host's lease now. Pure.
 */
export function storedLookedUp(state: ConnectionState, seqs: [number, number][] | null): Step {
  if (state.closing || state.hello === null || state.leaseEpoch !== null) return { state, actions: [] };
  const stored = seqs !== null && seqs.length > 0 ? { epoch: state.hello.epoch, seqs } : null;
  return { state: { ...state, stored }, actions: [{ kind: "takeLease" }] };
}

/** The host's lease is this connection's at `leaseEpoch`: welcome the agent and publish `connected`. Pure. */
export function leaseTaken(state: ConnectionState, leaseEpoch: number, nowMs: number): Step {
  if (state.closing || state.hello === null || state.leaseEpoch !== null) return { state, actions: [] };
  const next = { ...state, leaseEpoch };
  const hello = state.hello;
  return {
    state: next,
    actions: [
      {
        kind: "send",
        frame: {
          type: "welcome",
          hostId: state.hostId,
          gatewayId: state.gatewayId,
          leaseEpoch,
          ...(state.stored === null ? {} : { stored: state.stored }),
        },
      },
      { kind: "publishLifecycle", lifecycle: lifecycle(next, "connected", nowMs) },
      {
        kind: "log",
        level: "info",
        msg: "host connected",
        data: { epoch: hello.epoch, hostname: hello.hostname, agentVersion: hello.agentVersion, leaseEpoch },
      },
    ],
  };
}

/** The host's lease could not be taken in time (the bus is unreachable): close with 1013, nothing published. Pure. */
export function leaseNotTaken(state: ConnectionState, waitedMs: number, lastError: string | null): Step {
  if (state.closing || state.leaseEpoch !== null) return { state, actions: [] };
  return close(state, CloseCode.tryAgainLater, `could not take the host lease within ${waitedMs} ms; reconnect`, {
    error: lastError,
  });
}

/** An agent run (a hello's epoch) as a lease note carries it: one token of at most 64 characters. Pure. */
export function agentRunToken(epoch: string): string {
  return epoch.replace(/\s+/g, "_").slice(0, 64);
}

/** Characters of a run key: 128 bits of the secret's SHA-256, in base64url. */
const RUN_KEY_CHARS = 22;

/**
 * What the gateway keeps of a hello's `runSecret`: a truncated SHA-256 (the secret is random, so a plain hash
 * gives nothing away), short enough for the lease note. Pure.
 */
export function runKeyOf(runSecret: string): string {
  return createHash("sha256").update(runSecret, "utf8").digest("base64url").slice(0, RUN_KEY_CHARS);
}

/**
 * Whether `holder` is the same agent run as this connection's (a reconnect): the same run id and the same run
 * key, the hash of the run's secret. The run id is no secret (every event carries it), so a hello that copies it
 * without the secret is a different run whenever the other side had one; between two older agents (no secret on
 * either side) the run id decides, as before. Pure.
 */
export function sameAgent(state: ConnectionState, holder: LeaseClaimant | null): boolean {
  if (holder === null || holder.agentEpoch === null || state.hello === null) return false;
  return agentRunToken(holder.agentEpoch) === agentRunToken(state.hello.epoch) && holder.runKey === state.runKey;
}

/** How a claimant reads in a close reason or a log line. Pure. */
export function describeClaimant(holder: LeaseClaimant): string {
  const who = holder.hostname ? `agent on ${holder.hostname}` : "agent";
  return `${who} (run ${holder.agentEpoch ?? "?"}) via ${holder.gatewayId ?? "?"}, lease epoch ${holder.leaseEpoch}`;
}

/**
 * The host's lease was taken by a newer connection (`holder`, null when its record could not be read). The
 * newer one holds the host, so this connection publishes no `disconnected`. Of the same agent run (a reconnect
 * after a network blip) it is closed with 1008 and nothing else; of a different run (two agents claim one host
 * id) it is closed with 4409 naming the holder, so that agent stops reconnecting, and a conflict is reported. Pure.
 */
export function leaseTakenOver(state: ConnectionState, holder: LeaseClaimant | null): Step {
  if (state.closing) return { state, actions: [] };
  const quiet = { ...state, disconnectReported: true };
  if (holder === null || sameAgent(state, holder)) {
    const why =
      holder === null ? "another connection took this host's lease" : "replaced by a newer connection of this agent";
    return close(quiet, CloseCode.policyViolation, why, holder ? { holder } : {});
  }
  const closing = close(
    quiet,
    CloseCode.hostClaimed,
    `host ${state.hostId} is held by a newer ${describeClaimant(holder)}`,
    { holder, displacedEpoch: state.hello?.epoch ?? null },
  );
  return { state: closing.state, actions: [{ kind: "reportConflict", holder }, ...closing.actions] };
}

/**
 * This gateway could not renew the host's lease in time (it lost the bus): it may no longer act for the host.
 * Close with 1013 so the agent reconnects, through another gateway if need be; no `disconnected`. Pure.
 */
export function leaseExpired(state: ConnectionState): Step {
  if (state.closing) return { state, actions: [] };
  return close(
    { ...state, disconnectReported: true },
    CloseCode.tryAgainLater,
    "this gateway lost the host lease; reconnect",
  );
}

/** The event is in CODEX_EVENTS (now or already: `duplicate`): acknowledge it. Pure. */
export function eventStored(state: ConnectionState, event: SessionEventEnvelope, duplicate: boolean): Step {
  return { state, actions: [{ kind: "send", frame: { type: "ack", epoch: event.epoch, seq: event.seq, duplicate } }] };
}

/**
 * Storing the event failed. A `permanent` failure (the bus refuses this event as such) is a reject: the
 * agent drops it. Anything else may pass: close with 1013 so the agent reconnects and replays its buffer,
 * which the message id makes safe. Pure.
 */
export function eventStoreFailed(
  state: ConnectionState,
  event: SessionEventEnvelope,
  failure: { permanent: boolean; message: string },
  limits: ProtocolLimits,
): Step {
  if (failure.permanent) return refuse(state, limits, `not stored: ${failure.message}`, { event });
  if (state.closing) return { state, actions: [] };
  return close(state, CloseCode.tryAgainLater, "event store unavailable, reconnect and replay", {
    epoch: event.epoch,
    seq: event.seq,
    error: failure.message,
  });
}

/** A frame over the cap arrived (the socket layer saw its length): close with 1009 and say the cap. Pure. */
export function frameTooBig(state: ConnectionState, maxFrameBytes: number): Step {
  if (state.closing) return { state, actions: [] };
  return close(state, CloseCode.messageTooBig, `frame exceeds the ${maxFrameBytes}-byte cap`);
}

/** The peer did not answer a ping within one interval: drop the socket without a close handshake. Pure. */
export function peerUnresponsive(state: ConnectionState, pingIntervalMs: number): Step {
  const reason = `no pong within ${pingIntervalMs} ms`;
  return {
    state: { ...state, closing: true },
    actions: [
      { kind: "log", level: "warn", msg: `terminating connection: ${reason}` },
      { kind: "terminate", reason },
    ],
  };
}

/** No hello arrived in time after the upgrade. Pure. */
export function helloTimedOut(state: ConnectionState, helloTimeoutMs: number): Step {
  if (state.hello !== null || state.closing) return { state, actions: [] };
  return close(state, CloseCode.policyViolation, `no hello within ${helloTimeoutMs} ms`);
}

/** The gateway is stopping: report the host gone, then close with 1001. Pure. */
export function gatewayStopping(state: ConnectionState, nowMs: number): Step {
  return endWith(state, nowMs, CloseCode.goingAway, "gateway stopping");
}

/** The token of this connection was revoked (or deleted): report the host gone and close with 1008. Pure. */
export function tokenRevoked(state: ConnectionState, nowMs: number): Step {
  return endWith(state, nowMs, CloseCode.policyViolation, "host token revoked");
}

function endWith(state: ConnectionState, nowMs: number, code: CloseCode, reason: string): Step {
  const gone = connectionClosed(state, nowMs, reason);
  const closing = close(gone.state, code, reason);
  return { state: closing.state, actions: [...gone.actions, ...closing.actions] };
}

/**
 * The socket is gone (closed, terminated, or the gateway or a revocation ends it): publish `disconnected` once,
 * if the agent was welcomed (the lease taken) and the lease was not taken over. Pure.
 */
export function connectionClosed(state: ConnectionState, nowMs: number, why: string): Step {
  const next = { ...state, closing: true, disconnectReported: true };
  if (state.disconnectReported || state.leaseEpoch === null) return { state: next, actions: [] };
  return {
    state: next,
    actions: [
      { kind: "publishLifecycle", lifecycle: lifecycle(state, "disconnected", nowMs) },
      { kind: "log", level: "info", msg: "host disconnected", data: { why } },
    ],
  };
}
