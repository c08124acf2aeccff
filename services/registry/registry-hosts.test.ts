/** Host life on a real nats-server: lost → degraded → offline → stale, its sessions stale and kept, then back on a re-sync. */
import { Kvm } from "@nats-io/kv";
import { describe, expect, it } from "vitest";
import { KV_BUCKET_NAMES } from "../bus/index.js";
import { getSession, listHosts, listSessions } from "../clients/registry-queries.js";
import { HostEntry } from "../../schemas/registry-entry.js";
import { startRegistry } from "./registry.js";
import { FakeHost, kvHostRecords, kvSessionRecords, readFleet } from "./test-fleet.js";
import { useBus } from "../../test/support/bus.js";
import { useFixture } from "../../test/support/fixture.js";
import { eventually } from "../../test/support/wait.js";

describe("registry: hosts and staleness", () => {
  const bus = useBus({ ensure: true });
  const registry = useFixture(() =>
    startRegistry({
      nc: bus.nc,
      sweepIntervalMs: 25,
      degradedAfterMs: 150,
      offlineAfterMs: 300,
      staleAfterMs: 300,
      batchWindowMs: 50,
    }),
  );
  const host = new FakeHost(bus, "lost");
  const other = new FakeHost(bus, "steady");

  it("tracks a connected host and its heartbeat", async () => {
    await host.lifecycle("connected");
    await host.lifecycle("heartbeat");
    await host.synced("s1", { status: { type: "active", activeFlags: [] }, activeTurnId: "turn-1" });
    await host.synced("s2");
    await eventually(async () => {
      const [h] = await listHosts(bus.nc);
      expect(h).toMatchObject({
        hostId: "lost",
        status: "online",
        hostname: "lost.example",
        agentVersion: "0.1.0",
        appServer: "connected",
        sessions: 2,
      });
    });
    await eventually(async () =>
      expect((await kvHostRecords(bus.nc))[0]).toMatchObject({ hostId: "lost", status: "online", sessions: 2 }),
    );
  });

  it("a silent host goes degraded, offline, then stale; its sessions go stale with their history kept", async () => {
    // Keep a second host alive the whole time: its sessions must not be touched.
    const beat = setInterval(() => void other.lifecycle("heartbeat"), 50);
    try {
      await other.lifecycle("connected");
      await other.synced("o1");
      // Every status change is written to codex-hosts at once: watching the bucket sees each step.
      const seen: string[] = [];
      const watch = await (await new Kvm(bus.nc).open(KV_BUCKET_NAMES.hosts)).watch({ key: "lost" });
      const watching = (async () => {
        for await (const e of watch) {
          const status = HostEntry.parse(e.json()).record.status;
          if (seen.at(-1) !== status) seen.push(status);
          if (status === "stale") break;
        }
      })();
      await host.lifecycle("heartbeat"); // its last word: from here it is silent
      await watching;
      expect(seen.slice(seen.lastIndexOf("online"))).toEqual(["online", "degraded", "offline", "stale"]);
      const stale = await eventually(async () => {
        const r = await listSessions(bus.nc, { filter: { host: "lost" } });
        expect(r.sessions.map((s) => s.status)).toEqual(["stale", "stale"]);
        return r.sessions;
      });
      // Nothing deleted, nothing forgotten: workspace, preview and the turn survive.
      expect(stale[0]).toMatchObject({
        sessionId: "s1",
        workspace: "/work/s1",
        preview: "task of s1",
        activeTurnId: "turn-1",
      });
      expect((await getSession(bus.nc, { sessionId: "o1" }))!.status).toBe("idle");
      expect((await listHosts(bus.nc)).find((x) => x.hostId === "steady")!.status).toBe("online");
    } finally {
      clearInterval(beat);
    }
    await eventually(async () =>
      expect((await kvSessionRecords(bus.nc)).filter((r) => r.host === "lost").map((r) => r.status)).toEqual([
        "stale",
        "stale",
      ]),
    );
    const fleet = await eventually(async () => {
      const f = (await readFleet(bus.js)).filter((n) => n.hostId === "lost" && n.kind.endsWith("stale"));
      expect(f).toHaveLength(3);
      return f;
    });
    expect(fleet.map((n) => `${n.kind}:${n.sessionId}:${n.priority}`)).toEqual([
      "host-stale:null:high",
      "session-stale:s1:high",
      "session-stale:s2:high",
    ]);
    expect(fleet[1]).toMatchObject({ previousStatus: "active", session: { status: "stale" } });
  });

  it("the host reconnects and re-syncs: its sessions come back", async () => {
    await host.lifecycle("connected");
    await host.lifecycle("heartbeat");
    await host.synced("s1", { status: { type: "idle" } });
    await host.synced("s2", {
      status: { type: "active", activeFlags: ["waitingOnUserInput"] },
      activeTurnId: "turn-9",
    });
    await eventually(async () => {
      const r = await listSessions(bus.nc, { filter: { host: "lost" } });
      expect(r.sessions.map((s) => `${s.sessionId}:${s.status}:${s.waitingOn}`)).toEqual([
        "s1:idle:null",
        "s2:active:userInput",
      ]);
    });
    expect((await listHosts(bus.nc)).find((x) => x.hostId === "lost")!.status).toBe("online");
    await eventually(async () =>
      expect((await readFleet(bus.js)).some((n) => n.kind === "session-waiting-input" && n.sessionId === "s2")).toBe(
        true,
      ),
    );
    await registry.stop();
  });
});
