import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterAll, describe, expect, it } from "vitest";
import { runningNatsServerPids, startNatsCluster, startNatsServer, type NatsTestServer } from "./nats-server.js";
import { processAlive } from "./processes.js";

describe("startNatsServer", () => {
  const started: NatsTestServer[] = [];
  afterAll(async () => {
    await Promise.all(started.map((s) => s.stop()));
  });

  it("runs nats-server with JetStream on a random loopback port and cleans up on stop", async () => {
    const server = await startNatsServer();
    started.push(server);
    expect(server.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
    expect(server.port).not.toBe(4222);
    expect(processAlive(server.pid)).toBe(true);
    expect(runningNatsServerPids()).toContain(server.pid);

    const nc = await connect({ servers: server.url });
    expect(nc.info?.version).toBe("2.9.10");
    const account = await (await jetstreamManager(nc)).getAccountInfo();
    expect(account.streams).toBe(0);
    await nc.close();

    expect(existsSync(server.storeDir)).toBe(true);
    await server.stop();
    expect(processAlive(server.pid)).toBe(false);
    expect(existsSync(server.storeDir)).toBe(false);
    expect(runningNatsServerPids()).not.toContain(server.pid);
    await server.stop();
  });

  it("gives two servers two different ports", async () => {
    const [a, b] = await Promise.all([startNatsServer(), startNatsServer()]);
    started.push(a, b);
    expect(a.port).not.toBe(b.port);
  });

  it("appends extra config, such as an authorization block", async () => {
    const server = await startNatsServer({
      config: 'authorization {\n  users: [ { user: "claw", password: "s3cret" } ]\n}',
    });
    started.push(server);
    await expect(connect({ servers: server.url, reconnect: false })).rejects.toThrow(/Authorization/i);
    const nc = await connect({ servers: server.url, user: "claw", pass: "s3cret" });
    await nc.close();
  });

  it("keeps a store dir it was given, and can restart on the same port", async () => {
    const storeDir = await mkdtemp(join(tmpdir(), "claw-nats-store-"));
    try {
      const first = await startNatsServer({ storeDir });
      await first.stop();
      expect(existsSync(storeDir)).toBe(true);
      const second = await startNatsServer({ storeDir, port: first.port });
      started.push(second);
      expect(second.port).toBe(first.port);
      await second.stop();
    } finally {
      await rm(storeDir, { recursive: true, force: true });
    }
  });

  it("refuses port 4222 and reports a server that cannot start", async () => {
    await expect(startNatsServer({ port: 4222 })).rejects.toThrow(/4222/);
    await expect(startNatsServer({ config: "this is { not valid" })).rejects.toThrow(/exited during start-up/);
  });
});

describe("startNatsCluster", () => {
  it("starts a 3-node JetStream cluster with a meta leader, and stops every node", async () => {
    const cluster = await startNatsCluster(3);
    try {
      expect(cluster.urls).toHaveLength(3);
      expect(new Set(cluster.servers.map((s) => s.port)).size).toBe(3);
      const nc = await connect({ servers: cluster.urls });
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.add({ name: "PROBE", subjects: ["probe.>"], num_replicas: 3 });
      expect(info.cluster?.replicas).toHaveLength(2);
      await nc.close();
    } finally {
      await cluster.stop();
    }
    for (const s of cluster.servers) expect(processAlive(s.pid)).toBe(false);
  });
});
