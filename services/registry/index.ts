// Public surface of the registry service: start it, ask it, replay its log.
export { startRegistry, RegistryConfig } from "./registry.js";
export type { Registry, RegistryOptions, RegistryStats } from "./registry.js";
export { replayEnvelopes } from "./replay.js";
export type { ReplayResult } from "./replay.js";
export {
  AppliedPosition,
  HostEntry,
  SessionEntry,
  alreadyApplied,
  comparePositions,
  sessionKey,
} from "../../schemas/registry-entry.js";
export {
  DEFAULT_QUERY_TIMEOUT_MS,
  RegistryQueryError,
  getSession,
  listAllSessions,
  listHosts,
  listSessions,
} from "./client.js";
export type { RegistryQueryErrorCode } from "./client.js";
export { REGISTRY_QUEUE_GROUP, answerQuery } from "./queries.js";
export type { RegistryLogger } from "./logger.js";
