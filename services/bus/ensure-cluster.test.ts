import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsCluster, type NatsTestCluster } from "../../test/support/nats-server.js";
import { ensureBus, kvStreamName } from "./ensure.js";
import { KV_BUCKET_NAMES, STREAM_NAMES } from "./topology.js";

describe("ensureBus on a 3-node JetStream cluster", () => {
  let cluster: NatsTestCluster;
  let nc: NatsConnection;

  beforeAll(async () => {
    cluster = await startNatsCluster(3);
    nc = await connect({ servers: cluster.urls });
  });
  afterAll(async () => {
    await nc?.close();
    await cluster?.stop();
  });

  it("creates every stream and bucket with 3 replicas, idempotently", async () => {
    const config = { replicas: 3 as const, eventsMaxBytes: 64 * 1024 * 1024 };
    const first = await ensureBus(nc, config);
    expect([...first.streams, ...first.buckets].every((r) => r.action === "created")).toBe(true);
    const second = await ensureBus(nc, config);
    expect([...second.streams, ...second.buckets].every((r) => r.action === "unchanged")).toBe(true);

    const jsm = await jetstreamManager(nc);
    for (const name of Object.values(STREAM_NAMES)) {
      const info = await jsm.streams.info(name);
      expect(info.config.num_replicas).toBe(3);
      expect(info.cluster?.leader).toBeTruthy();
      expect(info.cluster?.replicas).toHaveLength(2);
    }
    for (const bucket of Object.values(KV_BUCKET_NAMES)) {
      const info = await jsm.streams.info(kvStreamName(bucket));
      expect(info.config.num_replicas).toBe(3);
    }
    const leases = await (await new Kvm(nc).open(KV_BUCKET_NAMES.leases)).status();
    expect(leases.replicas).toBe(3);
    expect(leases.ttl).toBe(30_000);
  });

  it("scales an R1 stream to R3 when the configured replicas change", async () => {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(STREAM_NAMES.audit);
    await ensureBus(nc, { replicas: 1, eventsMaxBytes: 64 * 1024 * 1024 });
    expect((await jsm.streams.info(STREAM_NAMES.audit)).config.num_replicas).toBe(1);
    const result = await ensureBus(nc, { replicas: 3, eventsMaxBytes: 64 * 1024 * 1024 });
    expect(result.streams.find((s) => s.name === STREAM_NAMES.audit)?.action).toBe("updated");
    expect((await jsm.streams.info(STREAM_NAMES.audit)).config.num_replicas).toBe(3);
  });
});
