import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startEmbeddedNats } from "./embedded-server.js";
import { BusError } from "./errors.js";
import { processAlive } from "../../test/support/processes.js";

describe("startEmbeddedNats", () => {
  let stateDir: string;
  beforeEach(async () => {
    stateDir = await mkdtemp(join(tmpdir(), "claw-state-"));
  });
  afterEach(async () => {
    await rm(stateDir, { recursive: true, force: true });
  });

  it("starts nats-server with JetStream under <stateDir>/nats on loopback, and stops it", async () => {
    const nats = await startEmbeddedNats({ stateDir });
    try {
      expect(nats.url).toMatch(/^nats:\/\/127\.0\.0\.1:\d+$/);
      expect(nats.url).not.toMatch(/:4222$/);
      expect(nats.storeDir).toBe(join(stateDir, "nats"));
      const nc = await connect({ servers: nats.url });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "PROBE", subjects: ["probe"] });
      await nc.close();
      expect(existsSync(join(stateDir, "nats", "jetstream"))).toBe(true);
    } finally {
      await nats.stop();
    }
    expect(processAlive(nats.pid)).toBe(false);
  });

  it("keeps its JetStream data across restarts on a fixed port", async () => {
    const first = await startEmbeddedNats({ stateDir });
    const port = Number(new URL(first.url).port);
    let nc = await connect({ servers: first.url });
    await (await jetstreamManager(nc)).streams.add({ name: "KEPT", subjects: ["kept"] });
    await nc.close();
    await first.stop();

    const second = await startEmbeddedNats({ stateDir, port });
    try {
      expect(second.url).toBe(first.url);
      nc = await connect({ servers: second.url });
      expect((await (await jetstreamManager(nc)).streams.info("KEPT")).config.name).toBe("KEPT");
      await nc.close();
    } finally {
      await second.stop();
    }
  });

  it("tells the user how to install nats-server when PATH lacks it", async () => {
    const savedPath = process.env.PATH;
    process.env.PATH = join(stateDir, "empty-bin");
    let caught: unknown;
    try {
      await startEmbeddedNats({ stateDir });
    } catch (err) {
      caught = err;
    } finally {
      process.env.PATH = savedPath;
    }
    expect(caught).toBeInstanceOf(BusError);
    expect((caught as BusError).code).toBe("nats_server_not_found");
    expect((caught as BusError).message).toContain("apt-get install nats-server");
    expect((caught as BusError).message).toContain("nats.io");
  });

  it("reports a port it cannot bind with the server's own log", async () => {
    const holder = await startEmbeddedNats({ stateDir: join(stateDir, "a") });
    try {
      const port = Number(new URL(holder.url).port);
      const err = await startEmbeddedNats({ stateDir: join(stateDir, "b"), port }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BusError);
      expect((err as BusError).code).toBe("nats_server_failed");
      expect((err as BusError).message).toMatch(/address already in use/);
    } finally {
      await holder.stop();
    }
  });
});
