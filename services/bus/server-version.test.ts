import type { NatsConnection } from "@nats-io/transport-node";
import { beforeAll, describe, expect, it } from "vitest";
import { useBus } from "../../test/support/bus.js";
import { BusError } from "./errors.js";
import {
  assertServerFeature,
  compareServerVersions,
  parseServerVersion,
  requireServerFeature,
  SERVER_FEATURES,
  serverHasFeature,
  type ServerFeature,
} from "./server-version.js";

describe("server version parsing", () => {
  it("parses release and pre-release versions", () => {
    expect(parseServerVersion("2.9.10")).toEqual({ major: 2, minor: 9, patch: 10 });
    expect(parseServerVersion("v2.11.0-RC.1")).toEqual({ major: 2, minor: 11, patch: 0 });
    expect(parseServerVersion("nightly")).toBeUndefined();
  });

  it("compares numerically, not as text", () => {
    const v = (s: string) => parseServerVersion(s)!;
    expect(compareServerVersions(v("2.9.10"), v("2.10.0"))).toBeLessThan(0);
    expect(compareServerVersions(v("2.10.0"), v("2.9.10"))).toBeGreaterThan(0);
    expect(compareServerVersions(v("2.11.0"), v("2.11.0"))).toBe(0);
  });

  it("maps every feature to a parseable minimum version", () => {
    for (const [feature, spec] of Object.entries(SERVER_FEATURES)) {
      expect(parseServerVersion(spec.minVersion), feature).toBeDefined();
    }
    const v2910 = parseServerVersion("2.9.10")!;
    expect(serverHasFeature(v2910, "kv")).toBe(true);
    expect(serverHasFeature(v2910, "subjectTransforms")).toBe(false);
    expect(serverHasFeature(parseServerVersion("2.10.0")!, "subjectTransforms")).toBe(true);
    expect(() => assertServerFeature(parseServerVersion("2.11.3")!, "perMessageTtl")).not.toThrow();
  });
});

describe("requireServerFeature against the local nats-server 2.9.10", () => {
  const bus = useBus();
  let nc: NatsConnection;
  beforeAll(() => void (nc = bus.nc));

  it("refuses a 2.11 feature with a message naming feature, required and actual version", () => {
    let caught: unknown;
    try {
      requireServerFeature(nc, "perMessageTtl");
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(BusError);
    expect((caught as BusError).code).toBe("server_too_old");
    expect((caught as BusError).retryable).toBe(false);
    expect((caught as BusError).message).toBe('nats-server 2.9.10 lacks "per-message TTL" (needs >= 2.11.0)');
  });

  it("refuses a 2.10 feature", () => {
    expect(() => requireServerFeature(nc, "subjectTransforms")).toThrow(
      'nats-server 2.9.10 lacks "subject transforms" (needs >= 2.10.0)',
    );
  });

  it.each<ServerFeature>(["streams", "kv", "duplicateWindow", "directGet"])("accepts the 2.9 feature %s", (feature) => {
    expect(() => requireServerFeature(nc, feature)).not.toThrow();
  });
});
