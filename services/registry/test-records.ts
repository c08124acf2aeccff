/** Record builders for registry tests (imported by tests only). */
import type { HostRecord, SessionRecord } from "../../schemas/registry.js";

/** A session record with every field filled; `over` replaces any of them. */
export function sessionRecord(over: Partial<SessionRecord> & Pick<SessionRecord, "host" | "sessionId">): SessionRecord {
  return {
    endpointId: over.host,
    workspace: "/work/repo",
    repo: "repo",
    branch: "main",
    source: "cli",
    status: "idle",
    waitingOn: null,
    humanAttached: false,
    autonomous: false,
    activeTurnId: null,
    lastSeenAt: 1_000,
    summary: null,
    preview: "do the thing",
    group: null,
    disposition: null,
    owner: null,
    handoff: null,
    progress: null,
    ask: null,
    approval: null,
    escalation: null,
    model: null,
    usage: null,
    budget: null,
    ...over,
  };
}

/** A host record; `over` replaces any field. */
export function hostRecord(over: Partial<HostRecord> & Pick<HostRecord, "hostId">): HostRecord {
  return {
    status: "online",
    hostname: `${over.hostId}.local`,
    agentVersion: "0.1.0",
    appServer: "connected",
    lastHeartbeatAt: 1_000,
    connectedAt: 500,
    sessions: 0,
    ...over,
  };
}
