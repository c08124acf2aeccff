import { existsSync, statSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  NatsPortInUseError,
  startEmbeddedNats as startWithUsers,
  type EmbeddedNatsOptions,
} from "./embedded-server.js";
import { BusError } from "./errors.js";
import { processAlive } from "../../test/support/processes.js";
import { BUS_USERS, type BusUser } from "./permissions.js";

const users = Object.fromEntries(BUS_USERS.map((u) => [u, `p${u}secret`])) as Record<BusUser, string>;
const startEmbeddedNats = (o: Omit<EmbeddedNatsOptions, "users">) => startWithUsers({ ...o, users });
const asAdmin = { user: "admin", pass: users.admin };

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
      const nc = await connect({ servers: nats.url, ...asAdmin });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "PROBE", subjects: ["probe"] });
      await nc.close();
      expect(existsSync(join(stateDir, "nats", "jetstream"))).toBe(true);
    } finally {
      await nats.stop();
    }
    expect(processAlive(nats.pid)).toBe(false);
  });

  it("accepts only its users: no credentials and a wrong password are refused; the config holding them is 0600", async () => {
    const nats = await startEmbeddedNats({ stateDir });
    try {
      for (const login of [{}, { user: "admin", pass: "wrong" }, { user: "operator", pass: users.admin }]) {
        const err = await connect({ servers: nats.url, ...login, reconnect: false }).catch((e: unknown) => e);
        expect(String(err), JSON.stringify(login)).toMatch(/Authorization Violation/i);
      }
      const nc = await connect({ servers: nats.url, user: "operator", pass: users.operator });
      await nc.close();
      expect(statSync(join(stateDir, "nats-server.conf")).mode & 0o777).toBe(0o600);
      expect(statSync(join(stateDir, "nats")).mode & 0o777).toBe(0o700);
    } finally {
      await nats.stop();
    }
  });

  it("keeps its JetStream data across restarts on a fixed port", async () => {
    const first = await startEmbeddedNats({ stateDir });
    const port = Number(new URL(first.url).port);
    let nc = await connect({ servers: first.url, ...asAdmin });
    await (await jetstreamManager(nc)).streams.add({ name: "KEPT", subjects: ["kept"] });
    await nc.close();
    await first.stop();

    const second = await startEmbeddedNats({ stateDir, port });
    try {
      expect(second.url).toBe(first.url);
      nc = await connect({ servers: second.url, ...asAdmin });
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
    expect((caught as BusError).message).toContain("`sudo apt-get install -y nats-server`");
    expect((caught as BusError).message).toContain("nats.io");
  });

  it("says who holds a port it is asked to use, and starts nothing", async () => {
    const holder = await startEmbeddedNats({ stateDir: join(stateDir, "a") });
    try {
      const port = Number(new URL(holder.url).port);
      const err = await startEmbeddedNats({ stateDir: join(stateDir, "b"), port }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NatsPortInUseError);
      expect((err as NatsPortInUseError).code).toBe("nats_server_failed");
      expect((err as NatsPortInUseError).owner).toMatchObject({ pid: holder.pid });
      expect((err as BusError).message).toMatch(
        new RegExp(`^port ${port} on 127\\.0\\.0\\.1 is taken by pid ${holder.pid} \\(\\S*nats-server .*\\)$`),
      );
      expect(existsSync(join(stateDir, "b", "nats", "nats-server.pid"))).toBe(false);
    } finally {
      await holder.stop();
    }
  });
});
