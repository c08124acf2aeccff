import { describe, expect, it } from "vitest";
import { streamConfigFor } from "./ensure.js";
import { BusError } from "./errors.js";
import { busTopology, defaultDuplicateWindowMs } from "./topology.js";

// Every StreamConfig field nats-server 2.9 understands that the bus may send.
const FIELDS_KNOWN_TO_2_9 = new Set([
  "name",
  "description",
  "subjects",
  "retention",
  "storage",
  "max_age",
  "max_bytes",
  "max_msgs",
  "max_msgs_per_subject",
  "max_msg_size",
  "discard",
  "duplicate_window",
  "num_replicas",
  "allow_direct",
  "allow_rollup_hdrs",
  "deny_delete",
  "deny_purge",
  "placement",
  "mirror",
  "sources",
  "sealed",
  "no_ack",
]);

describe("busTopology", () => {
  it("declares the three streams and nine buckets with explicit limits", () => {
    const t = busTopology();
    expect(t.streams.map((s) => [s.name, s.subjects])).toEqual([
      ["CODEX_EVENTS", ["codex.evt.>"]],
      ["AUDIT", ["codex.audit.>"]],
      ["FLEET", ["codex.fleet.>"]],
    ]);
    for (const s of t.streams) {
      expect(s.maxAgeMs).toBeGreaterThan(0);
      expect(s.maxBytes).toBeGreaterThan(0);
      expect(s.duplicateWindowMs).toBeLessThanOrEqual(s.maxAgeMs);
      expect(s.replicas).toBe(1);
    }
    expect(t.buckets.map((b) => b.bucket)).toEqual([
      "codex-sessions",
      "codex-hosts",
      "codex-policy",
      "codex-leases",
      "codex-commands",
      "codex-host-tokens",
      "codex-mcp-revocations",
      "codex-operators",
      "codex-policy-state",
    ]);
    expect(t.buckets.find((b) => b.bucket === "codex-leases")?.ttlMs).toBe(30_000);
  });

  it("applies configured replicas to every stream and bucket", () => {
    const t = busTopology({ replicas: 3 });
    expect([...t.streams, ...t.buckets].every((x) => x.replicas === 3)).toBe(true);
  });

  it("rejects replicas other than 1, 3 or 5 with a typed error", () => {
    expect(() => busTopology({ replicas: 2 as 1 })).toThrow(BusError);
  });

  it("caps the default duplicate window at the max age", () => {
    expect(defaultDuplicateWindowMs(undefined)).toBe(120_000);
    expect(defaultDuplicateWindowMs(30_000)).toBe(30_000);
  });

  it("builds stream configs that a 2.9 server understands, with no 2.10+ fields", () => {
    for (const spec of busTopology({ replicas: 3 }).streams) {
      const fields = Object.keys(streamConfigFor(spec));
      expect(
        fields.filter((f) => !FIELDS_KNOWN_TO_2_9.has(f)),
        spec.name,
      ).toEqual([]);
    }
  });
});
