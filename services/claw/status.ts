/**
 * The plugin's control surfaces: the gateway method `clawSupervisor.status`, the CLI
 * `openclaw claw-supervisor status`, and the fleet summary added to heartbeat turns (bounded).
 */
import type { SessionRecord } from "../../schemas/registry.js";
import { consumerBacklog, STREAM_NAMES, connectBus } from "../bus/index.js";
import { readUpFile } from "../clients/up-file.js";
import { listHosts, listSessions } from "../clients/registry-queries.js";
import type { ClawCaller } from "./claw-caller.js";
import { type ClawPluginConfig, embeddedStateDir, pluginLogin, pluginNatsUrl } from "./config.js";
import { consumerNames } from "./fleet-consumers.js";
import type { FleetService, FleetServiceStatus } from "./fleet-service.js";
import { summarizeSessions } from "./summary.js";

/** One status line per field, for the CLI. Pure. */
export function formatStatus(s: FleetServiceStatus): string {
  return [
    `claw-supervisor: ${s.state} (${s.mode} mode)${s.natsUrl ? ` to ${s.natsUrl}` : ""}`,
    `  claw:      ${s.clawId}, events into ${s.sessionKey}`,
    `  consumers: ${s.consumers.wake}, ${s.consumers.inbox} (stream FLEET)`,
    `  notices:   ${s.counts.noticesRead} read, ${s.counts.highPriority} high priority, ${s.counts.systemEvents} system events, ${s.counts.duplicatesDropped} dropped as repeats`,
    `  last:      ${s.lastEvent ? `${s.lastEvent.kind} ${s.lastEvent.hostId}/${s.lastEvent.sessionId ?? "-"} at ${new Date(s.lastEvent.atMs).toISOString()}` : "none yet"}`,
    ...(s.ownership?.configured
      ? [
          `  group:     ${s.ownership.group ?? "none (this Claw is in no group: it owns no session)"}, ${s.ownership.acting ? "acting" : "NOT acting (its liveness lease is not held)"}, lease TTL ${s.ownership.leaseTtlMs} ms, live: ${s.ownership.liveClaws.join(", ") || "-"}`,
          `  sessions:  ${s.ownership.sessionsOwned} owned, ${s.ownership.sessionsPending} being taken, ${s.ownership.adoptions} adopted since start`,
          `  routing:   ${s.ownership.noticesSkipped} notices skipped (other Claws' sessions), ${s.ownership.noticesHeld} held for a session nobody owned yet`,
        ]
      : s.ownership?.configured === false
        ? ["  group:     no Claw groups configured: this Claw drives every session"]
        : []),
    ...(s.embedded
      ? [`  embedded:  state ${s.embedded.stateDir}, host gateway ${s.embedded.gatewayUrl}, MCP ${s.embedded.mcpUrl}`]
      : []),
    ...(s.lastError ? [`  error:     ${s.lastError}`] : []),
  ].join("\n");
}

/** The heartbeat text: the fleet's counts and the sessions needing attention, at most `maxChars`; null with no sessions. */
export async function heartbeatSummary(caller: ClawCaller, maxChars: number): Promise<string | null> {
  const page = (await caller.command("list", { filter: {}, limit: 200 })) as {
    sessions: SessionRecord[];
    nextCursor: string | null;
  };
  if (page.sessions.length === 0) return null;
  const title = `Codex fleet (claw-supervisor${page.nextCursor ? ", first 200" : ""}; fleet_sessions and fleet_events for more):`;
  return summarizeSessions(page.sessions, { maxChars, maxSessions: 10, title }).text;
}

/** The gateway method's payload. */
export function statusPayload(service: FleetService | null): FleetServiceStatus | { state: "stopped"; reason: string } {
  return service
    ? service.status()
    : { state: "stopped", reason: "the claw-supervisor service has not started in this process" };
}

/** What `openclaw claw-supervisor status` prints: the bus it would use, and what the bus holds for this Claw. */
export async function cliStatus(config: ClawPluginConfig, openclawStateDir: string): Promise<string> {
  const url =
    config.mode === "embedded"
      ? readUpFile(embeddedStateDir(config, openclawStateDir))?.natsUrl
      : pluginNatsUrl(config);
  const shown = url?.replace(/\/\/[^@/]*@/, "//");
  if (!url)
    return "claw-supervisor: embedded mode, and the gateway's stack is not running (start the gateway: 'openclaw gateway run')";
  const nc = await connectBus({
    servers: url,
    name: "openclaw-claw-supervisor-status",
    ...pluginLogin(config, openclawStateDir),
  }).catch((err: Error) => {
    throw new Error(`claw-supervisor: cannot reach NATS at ${shown}: ${err.message}`);
  });
  try {
    const names = consumerNames(config.clawId);
    const pending = async (name: string) => {
      const backlog = await consumerBacklog(nc, STREAM_NAMES.fleet, name);
      return backlog === null ? "not created yet" : `${backlog} pending`;
    };
    const [sessions, hosts] = await Promise.all([listSessions(nc, { filter: {}, limit: 1 }), listHosts(nc)]);
    return [
      `claw-supervisor: bus ${shown} reachable (${config.mode} mode, claw ${config.clawId})`,
      `  fleet:     ${sessions.total} sessions on ${hosts.length} hosts (${hosts.filter((h) => h.status === "online").length} online)`,
      `  wake:      ${names.wake}: ${await pending(names.wake)}`,
      `  inbox:     ${names.inbox}: ${await pending(names.inbox)}`,
    ].join("\n");
  } finally {
    await nc.close();
  }
}
