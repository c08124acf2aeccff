import type { NatsConnection } from "@nats-io/transport-node";
import { BusError } from "./errors.js";

/** A nats-server release as major.minor.patch (pre-release tags are ignored). */
export interface ServerVersion {
  major: number;
  minor: number;
  patch: number;
}

/** Server features the project may depend on, with the first nats-server release that has each. */
export const SERVER_FEATURES = {
  streams: { label: "JetStream streams", minVersion: "2.9.0" },
  kv: { label: "key-value buckets", minVersion: "2.9.0" },
  duplicateWindow: { label: "stream duplicate window", minVersion: "2.9.0" },
  directGet: { label: "direct get", minVersion: "2.9.0" },
  subjectTransforms: { label: "subject transforms", minVersion: "2.10.0" },
  streamMetadata: { label: "stream metadata", minVersion: "2.10.0" },
  streamCompression: { label: "stream compression", minVersion: "2.10.0" },
  consumerLimits: { label: "stream consumer limits", minVersion: "2.10.0" },
  multiFilterConsumers: { label: "consumers with multiple filter subjects", minVersion: "2.10.0" },
  perMessageTtl: { label: "per-message TTL", minVersion: "2.11.0" },
  subjectDeleteMarkers: { label: "subject delete markers", minVersion: "2.11.0" },
  consumerPriorityGroups: { label: "consumer priority groups", minVersion: "2.11.0" },
  atomicBatchPublish: { label: "atomic batch publish", minVersion: "2.12.0" },
  messageCounters: { label: "message counters", minVersion: "2.12.0" },
} as const satisfies Record<string, { label: string; minVersion: string }>;

/** Name of a feature in `SERVER_FEATURES`. */
export type ServerFeature = keyof typeof SERVER_FEATURES;

/** Features the bus itself needs; `ensureBus` checks each before touching JetStream. */
export const BUS_REQUIRED_FEATURES: readonly ServerFeature[] = ["streams", "kv", "duplicateWindow", "directGet"];

/** Parses "2.9.10" or "v2.11.0-RC.1" into a `ServerVersion`; undefined when it is not a version. Pure. */
export function parseServerVersion(text: string): ServerVersion | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(text.trim());
  if (!m) return undefined;
  return { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) };
}

/** Negative, zero or positive as `a` is older than, equal to or newer than `b`. Pure. */
export function compareServerVersions(a: ServerVersion, b: ServerVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/** Formats a version as "major.minor.patch". Pure. */
export function formatServerVersion(v: ServerVersion): string {
  return `${v.major}.${v.minor}.${v.patch}`;
}

function minVersionOf(feature: ServerFeature): ServerVersion {
  const min = parseServerVersion(SERVER_FEATURES[feature].minVersion);
  if (!min) throw new Error(`SERVER_FEATURES.${feature} has an invalid minVersion`);
  return min;
}

/** True when a server of `version` has `feature`. Pure. */
export function serverHasFeature(version: ServerVersion, feature: ServerFeature): boolean {
  return compareServerVersions(version, minVersionOf(feature)) >= 0;
}

/** Throws `BusError("server_too_old")` naming the feature and both versions when `version` lacks `feature`. Pure. */
export function assertServerFeature(version: ServerVersion, feature: ServerFeature): void {
  if (serverHasFeature(version, feature)) return;
  const { label, minVersion } = SERVER_FEATURES[feature];
  throw new BusError(
    "server_too_old",
    `nats-server ${formatServerVersion(version)} lacks "${label}" (needs >= ${minVersion})`,
  );
}

/** The version of the server `nc` is connected to right now; throws `BusError("server_version_unknown")` if unknown. */
export function connectedServerVersion(nc: NatsConnection): ServerVersion {
  const reported = nc.info?.version;
  const version = reported === undefined ? undefined : parseServerVersion(reported);
  if (!version) {
    throw new BusError(
      "server_version_unknown",
      `cannot tell the nats-server version (server reported ${JSON.stringify(reported ?? null)})`,
    );
  }
  return version;
}

/** Throws `BusError("server_too_old")` unless the server `nc` is connected to has `feature`. */
export function requireServerFeature(nc: NatsConnection, feature: ServerFeature): void {
  assertServerFeature(connectedServerVersion(nc), feature);
}
