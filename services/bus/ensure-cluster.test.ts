import { jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNatsCluster, type NatsTestCluster } from "../../test/support/nats-server.js";
import { startCliInProcess } from "../cli/test-cli.js";
import { ensureBus, kvStreamName } from "./ensure.js";
import { JsErrCode, jsApiErrCode } from "./errors.js";
import { KV_BUCKET_NAMES, STREAM_NAMES } from "./topology.js";

const ALL_STREAMS = [...Object.values(STREAM_NAMES), ...Object.values(KV_BUCKET_NAMES).map(kvStreamName)];

/** `name` -> num_replicas of every stream and bucket of the bus that exists. */
async function replicasOf(nc: NatsConnection): Promise<Record<string, number>> {
  const jsm = await jetstreamManager(nc);
  const out: Record<string, number> = {};
  for (const name of ALL_STREAMS) {
    const info = await jsm.streams.info(name).catch((err: unknown) => {
      if (jsApiErrCode(err) === JsErrCode.StreamNotFound) return undefined;
      throw err;
    });
    if (info) out[name] = info.config.num_replicas;
  }
  return out;
}

const allAt = (n: number): Record<string, number> => Object.fromEntries(ALL_STREAMS.map((name) => [name, n]));

const startCli = startCliInProcess;

// One 3-node cluster for the file: starting one takes seconds.
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

describe("ensureBus on a 3-node JetStream cluster", () => {
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

  it("never lowers replicas: asking 1, or nothing, leaves R3 streams and buckets at 3 and says which", async () => {
    const config = { eventsMaxBytes: 64 * 1024 * 1024 };
    await ensureBus(nc, { ...config, replicas: 3 });
    expect(await replicasOf(nc)).toEqual(allAt(3));

    const asked1 = await ensureBus(nc, { ...config, replicas: 1 });
    expect([...asked1.streams, ...asked1.buckets].every((r) => r.action === "unchanged")).toBe(true);
    expect(asked1.kept).toHaveLength(ALL_STREAMS.length);
    expect(asked1.kept.map((k) => k.note)).toContain("kept CODEX_EVENTS at 3 replicas (asked 1)");
    expect(asked1.kept.map((k) => k.note)).toContain("kept bucket codex-sessions at 3 replicas (asked 1)");
    expect(await replicasOf(nc)).toEqual(allAt(3));

    // Nothing asked: existing ones keep theirs; a missing one is created with the default, 1.
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(STREAM_NAMES.fleet);
    const none = await ensureBus(nc, config);
    expect(none.streams.find((s) => s.name === STREAM_NAMES.fleet)?.action).toBe("created");
    expect(none.kept.find((k) => k.name === STREAM_NAMES.events)).toMatchObject({
      replicas: 3,
      asked: null,
      note: "kept CODEX_EVENTS at 3 replicas (none asked)",
    });
    expect(await replicasOf(nc)).toEqual({ ...allAt(3), [STREAM_NAMES.fleet]: 1 });
  });
});

describe("claw-supervisor service --ensure-bus --replicas on a 3-node cluster", () => {
  // The cluster the first suite used, with nothing on it: this suite creates the bus from scratch.
  beforeAll(async () => {
    const jsm = await jetstreamManager(nc);
    for (const name of ALL_STREAMS) await jsm.streams.delete(name).catch(() => undefined);
  });

  it("--replicas 3 creates three replicas of every stream and bucket; a later --ensure-bus without it keeps three", async () => {
    const url = cluster.urls.join(",");
    const first = startCli(["service", "registry", "--nats-url", url, "--ensure-bus", "--replicas", "3", "--json"]);
    await expect.poll(() => first.stdout(), { timeout: 30_000 }).toMatch(/\n$/);
    const ready = JSON.parse(first.stdout());
    expect(ready).toMatchObject({ service: "registry", bus: { kept: [] } });
    expect([...ready.bus.streams, ...ready.bus.buckets].every((r: { action: string }) => r.action === "created")).toBe(
      true,
    );
    expect(await replicasOf(nc)).toEqual(allAt(3));
    const jsm = await jetstreamManager(nc);
    for (const name of ALL_STREAMS) expect((await jsm.streams.info(name)).cluster?.replicas).toHaveLength(2);
    first.stop("SIGTERM");
    expect(await first.exited, first.stderr()).toBe(0);

    const second = startCli(["service", "registry", "--nats-url", url, "--ensure-bus"]);
    await expect.poll(() => second.stdout(), { timeout: 30_000 }).toContain("Press Ctrl-C to stop.");
    expect(second.stdout()).toContain("claw-supervisor service: kept CODEX_EVENTS at 3 replicas (none asked)\n");
    expect(second.stdout()).toContain("kept bucket codex-host-tokens at 3 replicas (none asked)");
    expect(second.stderr()).toContain('"msg":"kept AUDIT at 3 replicas (none asked)"');
    second.stop("SIGTERM");
    expect(await second.exited, second.stderr()).toBe(0);
    expect(await replicasOf(nc)).toEqual(allAt(3));
  });
});
