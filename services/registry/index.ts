// Public surface of the registry service: start it, replay its log (ask it with services/clients/registry-queries.ts).
export { startRegistry, RegistryConfig } from "./registry.js";
export type {
  Registry,
  RegistryLeaseStatus,
  RegistryOptions,
  RegistryStats,
  RegistryTestHooks,
} from "./registry.js";
export { replayEnvelopes } from "./replay.js";
export type { ReplayResult } from "./replay.js";
export { REGISTRY_QUEUE_GROUP, answerQuery } from "./queries.js";
export { partitionOf } from "./partition.js";
export type { RegistryLogger } from "./logger.js";
