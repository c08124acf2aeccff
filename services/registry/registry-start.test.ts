/** Starting the registry: option and topology errors say what is wrong; KV writes are compare-and-set. */
import { Kvm } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { BusError, JetStreamPublisher, KV_BUCKET_NAMES } from "../bus/index.js";
import { getSession } from "../clients/registry-queries.js";
import { KvTable } from "./kv-view.js";
import { startRegistry } from "./registry.js";
import { FakeHost, readSessionEntries } from "./test-fleet.js";
import { useBus, useNatsServer } from "../../test/support/bus.js";
import { eventually } from "../../test/support/wait.js";

const thresholds = { sweepIntervalMs: 60_000, degradedAfterMs: 60_000, offlineAfterMs: 60_000, staleAfterMs: 60_000 };

describe("registry start-up", () => {
  const bare = useNatsServer({ monitoring: true });
  const bus = useBus({ ensure: true });

  it("refuses invalid options, naming the field", async () => {
    const err = await startRegistry({ servers: bare.url, ...thresholds, staleAfterMs: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BusError);
    expect((err as BusError).message).toBe(
      "invalid registry options: staleAfterMs: Too small: expected number to be >0",
    );
    const noBus = await startRegistry({ ...thresholds }).catch((e: unknown) => e);
    expect((noBus as Error).message).toBe("startRegistry needs nc or servers");
  });

  it("says to create the bus first when its streams are missing, and closes the connection it opened", async () => {
    const err = await startRegistry({ servers: bare.url, ...thresholds }).catch((e: unknown) => e);
    expect((err as Error).message).toBe(
      "registry: stream CODEX_EVENTS does not exist; create the bus first (ensureBus, or 'claw-supervisor up')",
    );
    const connz = async () =>
      ((await (await fetch(`${bare.monitorUrl}/connz`)).json()) as { num_connections: number }).num_connections;
    await eventually(async () => expect(await connz()).toBe(0));
  });

  it("retries a KV write whose revision someone else moved, and its own value wins", async () => {
    const kv = await new Kvm(bus.nc).open(KV_BUCKET_NAMES.hosts);
    const publisher = new JetStreamPublisher(bus.nc);
    const table = new KvTable(kv, KV_BUCKET_NAMES.hosts, publisher);
    const r1 = await table.write("cas-test", '"mine-1"');
    await kv.put("cas-test", '"theirs"');
    const r2 = await table.write("cas-test", '"mine-2"');
    expect(r2).toBeGreaterThan(r1 + 1);
    expect(table.stats).toEqual({ writes: 2, conflicts: 1 });
    expect((await kv.get("cas-test"))!.string()).toBe('"mine-2"');
    const fresh = new KvTable(kv, KV_BUCKET_NAMES.hosts, publisher); // never read the key: its create() conflicts, then updates
    await fresh.write("cas-test", '"fresh"');
    expect(fresh.stats).toEqual({ writes: 1, conflicts: 1 });
    await kv.delete("cas-test");
    const afterDelete = new KvTable(kv, KV_BUCKET_NAMES.hosts, publisher); // the delete marker is the revision to expect
    await afterDelete.write("cas-test", '"reborn"');
    expect(afterDelete.stats).toEqual({ writes: 1, conflicts: 1 });
    expect((await kv.get("cas-test"))!.string()).toBe('"reborn"');
    await kv.delete("cas-test");
    publisher.close();
  });

  it("runs on its own connection (servers), overwrites an outside edit of a session by CAS, and closes on stop", async () => {
    const registry = await startRegistry({ servers: bus.server.url, ...thresholds });
    const host = new FakeHost(bus, "own");
    await host.synced("t1");
    await eventually(async () => expect((await readSessionEntries(bus.nc)).has("own.t1")).toBe(true));
    const kv = await new Kvm(bus.nc).open(KV_BUCKET_NAMES.sessions);
    await kv.put("own.t1", JSON.stringify({ tampered: true }));
    await host.status("t1", { type: "active", activeFlags: [] });
    await eventually(async () =>
      expect((await readSessionEntries(bus.nc)).get("own.t1")!.record.status).toBe("active"),
    );
    expect(registry.stats().kvConflicts).toBe(1);
    expect(await getSession(bus.nc, { sessionId: "t1" })).toMatchObject({ status: "active" });
    await registry.stop();
    await expect(getSession(bus.nc, { sessionId: "t1" }, 500)).rejects.toThrow(/no registry is answering/);
  });

  it("stores session snapshots compact by default or whole when told, and restores from either form", async () => {
    const host = new FakeHost(bus, "form");
    const entry = async (key: string) => (await readSessionEntries(bus.nc)).get(key);
    const marked = async (key: string) => (await entry(key))?.snapshot as { fromRecord?: boolean } | undefined;
    const whole = await startRegistry({ nc: bus.nc, ...thresholds, sessionSnapshots: "whole" });
    await host.synced("t1");
    await eventually(async () => expect(await entry("form.t1")).toBeDefined());
    expect(await marked("form.t1")).not.toHaveProperty("fromRecord");
    const preview = (await entry("form.t1"))!.record.preview;
    expect(preview).not.toBeNull();
    await whole.stop();
    // A registry on the compact form takes over from whole entries, and writes compact ones.
    const compact = await startRegistry({ nc: bus.nc, ...thresholds });
    await host.status("t1", { type: "active", activeFlags: [] });
    await eventually(async () => expect((await entry("form.t1"))!.record.status).toBe("active"));
    expect(await marked("form.t1")).toMatchObject({ fromRecord: true });
    await compact.stop();
    // And one on the whole form takes over from compact entries: the record keeps what the restore put back.
    const again = await startRegistry({ nc: bus.nc, ...thresholds, sessionSnapshots: "whole" });
    await host.status("t1", { type: "idle" });
    await eventually(async () => expect((await entry("form.t1"))!.record.status).toBe("idle"));
    expect(await marked("form.t1")).not.toHaveProperty("fromRecord");
    expect((await entry("form.t1"))!.record).toMatchObject({ preview, sessionId: "t1", host: "form" });
    await again.stop();
  });
});
