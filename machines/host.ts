/**
 * The host machine: one host agent's connection as the registry sees it, `connecting → online → degraded →
 * offline → stale`. Pure XState v5 with no timers: the sweeper's clock arrives as `SWEEP { nowMs }`, so a
 * restored actor and a fold over a log decide exactly like a live one.
 */
import { assign, initialTransition, setup, transition, type SnapshotFrom } from "xstate";
import type { HostLifecycle } from "../schemas/gateway.js";
import type { HostRecord, HostStatus } from "../schemas/registry.js";

/** Which host, and its thresholds in ms: degraded and offline count from the last contact, stale from going offline. */
export interface HostInput {
  hostId: string;
  degradedAfterMs: number;
  offlineAfterMs: number;
  staleAfterMs: number;
}

/** The host record's facts plus the clocks the sweeper compares against (unix ms). */
export interface HostContext extends HostInput {
  hostname: string | null;
  agentVersion: string | null;
  appServer: HostRecord["appServer"];
  threads: number | null;
  lastHeartbeatAt: number | null;
  connectedAt: number | null;
  /** The later of the last CONNECTED and the last HEARTBEAT; what `degraded` and `offline` count from. */
  lastContactAt: number | null;
  /** When the host went offline: the DISCONNECTED time, or last contact + offlineAfterMs when a sweep found it silent. */
  offlineSince: number | null;
}

/** Everything a host actor accepts; all times are unix ms. */
export type HostMachineEvent =
  | { type: "CONNECTED"; atMs: number; hostname: string | null; agentVersion: string | null }
  | { type: "HEARTBEAT"; atMs: number; threads: number | null; appServer: HostRecord["appServer"] }
  | { type: "DISCONNECTED"; atMs: number }
  | { type: "SWEEP"; nowMs: number };

type Sweep = Extract<HostMachineEvent, { type: "SWEEP" }>;
const silentFor = (context: HostContext, event: Sweep): number =>
  context.lastContactAt === null ? 0 : event.nowMs - context.lastContactAt;
const later = (a: number | null, b: number): number => (a === null ? b : Math.max(a, b));

/** The host machine; input {@link HostInput}, starts in `connecting`. */
export const hostMachine = setup({
  types: {} as { context: HostContext; events: HostMachineEvent; input: HostInput },
  guards: {
    silentPastStale: ({ context, event }) =>
      event.type === "SWEEP" && silentFor(context, event) > context.offlineAfterMs + context.staleAfterMs,
    silentPastOffline: ({ context, event }) =>
      event.type === "SWEEP" && silentFor(context, event) > context.offlineAfterMs,
    silentPastDegraded: ({ context, event }) =>
      event.type === "SWEEP" && silentFor(context, event) > context.degradedAfterMs,
    offlinePastStale: ({ context, event }) =>
      event.type === "SWEEP" &&
      context.offlineSince !== null &&
      event.nowMs - context.offlineSince > context.staleAfterMs,
  },
  actions: {
    connected: assign(({ context, event }) =>
      event.type === "CONNECTED"
        ? {
            hostname: event.hostname,
            agentVersion: event.agentVersion,
            connectedAt: event.atMs,
            lastContactAt: later(context.lastContactAt, event.atMs),
            offlineSince: null,
          }
        : {},
    ),
    heartbeat: assign(({ context, event }) =>
      event.type === "HEARTBEAT"
        ? {
            threads: event.threads,
            appServer: event.appServer,
            lastHeartbeatAt: later(context.lastHeartbeatAt, event.atMs),
            lastContactAt: later(context.lastContactAt, event.atMs),
            offlineSince: null,
          }
        : {},
    ),
    disconnected: assign(({ event }) =>
      event.type === "DISCONNECTED" ? { offlineSince: event.atMs, appServer: null } : {},
    ),
    wentSilent: assign(({ context }) => ({
      offlineSince: context.lastContactAt === null ? null : context.lastContactAt + context.offlineAfterMs,
      appServer: null,
    })),
  },
}).createMachine({
  id: "host",
  initial: "connecting",
  context: ({ input }) => ({
    ...input,
    hostname: null,
    agentVersion: null,
    appServer: null,
    threads: null,
    lastHeartbeatAt: null,
    connectedAt: null,
    lastContactAt: null,
    offlineSince: null,
  }),
  on: {
    CONNECTED: { target: ".online", actions: "connected" },
    HEARTBEAT: { target: ".online", actions: "heartbeat" },
    DISCONNECTED: { target: ".offline", actions: "disconnected" },
  },
  states: {
    connecting: {},
    online: {
      on: {
        SWEEP: [
          { guard: "silentPastStale", target: "stale", actions: "wentSilent" },
          { guard: "silentPastOffline", target: "offline", actions: "wentSilent" },
          { guard: "silentPastDegraded", target: "degraded" },
        ],
      },
    },
    degraded: {
      on: {
        SWEEP: [
          { guard: "silentPastStale", target: "stale", actions: "wentSilent" },
          { guard: "silentPastOffline", target: "offline", actions: "wentSilent" },
        ],
      },
    },
    offline: {
      on: {
        DISCONNECTED: {},
        SWEEP: { guard: "offlinePastStale", target: "stale" },
      },
    },
    stale: {
      on: { DISCONNECTED: {} },
    },
  },
});

/** A snapshot of the host machine (live, folded, or restored). */
export type HostSnapshot = SnapshotFrom<typeof hostMachine>;

/** The record the registry writes to KV `codex-hosts`; `sessions` is the registry's count of the host's sessions. */
export function hostRecordOf(snapshot: HostSnapshot, sessions: number): HostRecord {
  const c = snapshot.context;
  return {
    hostId: c.hostId,
    status: snapshot.value as HostStatus,
    hostname: c.hostname,
    agentVersion: c.agentVersion,
    appServer: c.appServer,
    lastHeartbeatAt: c.lastHeartbeatAt,
    connectedAt: c.connectedAt,
    sessions,
  };
}

/** The host event a gateway `codex.host.<hostId>` message means (connected, heartbeat, disconnected). */
export function hostLifecycleEvent(msg: HostLifecycle): HostMachineEvent {
  switch (msg.type) {
    case "connected":
      return { type: "CONNECTED", atMs: msg.atMs, hostname: msg.hostname, agentVersion: msg.agentVersion };
    case "heartbeat":
      return { type: "HEARTBEAT", atMs: msg.atMs, threads: msg.threads, appServer: msg.appServer };
    case "disconnected":
      return { type: "DISCONNECTED", atMs: msg.atMs };
  }
}

/** Pure fold of `events` from the initial state for `input`; `visit` sees each snapshot after its event. */
export function foldHost(
  events: Iterable<HostMachineEvent>,
  input: HostInput,
  visit?: (snapshot: HostSnapshot, event: HostMachineEvent) => void,
): HostSnapshot {
  let [snapshot] = initialTransition(hostMachine, input);
  for (const event of events) {
    [snapshot] = transition(hostMachine, snapshot, event);
    visit?.(snapshot, event);
  }
  return snapshot;
}
