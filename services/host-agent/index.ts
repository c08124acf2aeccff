/** Public surface of the host agent: start it, and the pieces `claw-supervisor launch` and tests share. */
export { startHostAgent, DEFAULT_MAX_EVENT_BYTES } from "./agent.js";
export type { HostAgent, HostAgentOptions, HostAgentStatus } from "./agent.js";
export { AppServerWatcher } from "./watcher.js";
export type { AppServerWatcherOptions, WatcherListener } from "./watcher.js";
export { GatewayClient, HOST_ID_HEADER } from "./gateway-client.js";
export type { GatewayClientOptions, GatewayState } from "./gateway-client.js";
export { EventBuffer, DEFAULT_BUFFER_LIMITS, mergeGaps } from "./event-buffer.js";
export type { BufferedEvent, EventBufferLimits, EventBufferStats } from "./event-buffer.js";
export { redact, redactString, redactionMarker, isSecretKey } from "../../schemas/redact.js";
export { limitPayload } from "./payload-limit.js";
export { newEpoch } from "./epoch.js";
export { readGitInfo, GitInfoCache } from "./git-info.js";
export type { GitInfo } from "./git-info.js";
export {
  PresenceRecordSchema,
  presenceDir,
  presenceFile,
  writePresenceRecord,
  removePresenceRecord,
} from "./presence-record.js";
export type { PresenceRecord } from "./presence-record.js";
export { PresenceMonitor, pidAlive } from "./presence-monitor.js";
export { PresenceBinder } from "./presence-binding.js";
export {
  HostAgentConfigSchema,
  HostAgentConfigError,
  loadHostAgentConfigFile,
  parseHostAgentConfig,
  resolveHostAgentConfig,
  defaultHostId,
} from "./config.js";
export type { HostAgentConfig, ResolvedHostAgentConfig } from "./config.js";
export { ensureAppServer, runTui, tuiArgs, probeAppServer, isDaemonEndpoint, LaunchError } from "./launcher.js";
export type { TuiLaunch } from "./launcher.js";
