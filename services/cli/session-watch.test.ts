/**
 * `sessions --watch` across a restart of the bus: a real nats-server (file store) stopped and started again on
 * its port, with the registry on a reconnecting connection. The watch says it lost the bus and is back, and
 * the next change after the restart is printed as one line.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { afterAll, describe, expect, it } from "vitest";
import { startNatsServer, type NatsTestServer } from "../../test/support/nats-server.js";
import { TEST_BUS_CONFIG } from "../../test/support/bus.js";
import { eventually } from "../../test/support/wait.js";
import { connectBus, ensureBus } from "../bus/index.js";
import { startRegistry } from "../registry/registry.js";
import { listAllSessions } from "../clients/registry-queries.js";
import { FakeHost } from "../registry/test-fleet.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { changeText, sessionChanges } from "./session-watch.js";
import { sessionRecord } from "../registry/test-records.js";
import { startCliInProcess } from "./test-cli.js";

const S1 = "0195aaaa-1111-7000-8000-00000000aaaa";

describe("what a watch line says changed", () => {
  it("names the shown fields that changed, and nothing for activity alone", () => {
    const before: SessionRecord = sessionRecord({ host: "h1", sessionId: "s1" });
    expect(sessionChanges(before, { ...before, lastSeenAt: 99_999, activeTurnId: "t9" })).toEqual([]);
    const after: SessionRecord = { ...before, status: "active", waitingOn: "approval", owner: "erin" };
    const changes = sessionChanges(before, after);
    expect(changes).toEqual([
      { field: "status", from: "idle", to: "active" },
      { field: "needs", from: "-", to: "approval" },
      { field: "owner", from: "-", to: "erin" },
    ]);
    expect(changeText("changed", changes)).toBe("status idle→active, needs -→approval, owner -→erin");
    expect(changeText("left", [{ field: "owner", from: "erin", to: "-" }])).toBe("owner erin→-, left the filter");
    expect(changeText("added", [])).toBe("new");
    expect(changeText("changed", [{ field: "summary", from: "-", to: "tests pass" }])).toBe("summary: tests pass");
  });
});

describe("claw-supervisor sessions --watch across a bus restart", () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  });

  it("says it lost the bus and is back, and prints the next change", async () => {
    const storeDir = await mkdtemp(join(tmpdir(), "claw-watch-"));
    cleanup.push(() => rm(storeDir, { recursive: true, force: true }));
    let server: NatsTestServer = await startNatsServer({ storeDir });
    cleanup.push(() => server.stop());
    const nc = await connectBus({ servers: server.url, name: "watch-test", reconnectTimeWaitMs: 100 });
    cleanup.push(() => nc.close());
    await ensureBus(nc, TEST_BUS_CONFIG);
    const registry = await startRegistry({ nc, sweepIntervalMs: 60_000 });
    cleanup.push(() => registry.stop());
    const host = new FakeHost({ nc, js: jetstream(nc) }, "devbox");
    host.nowMs = Date.now();
    await host.synced(S1, { workspace: "/home/me/claw" });
    // The watch's first table is the registry's answer: wait until the registry has applied the session.
    await eventually(async () => expect((await listAllSessions(nc, {})).sessions).toHaveLength(1));

    const watching = startCliInProcess(["sessions", "--watch", "--nats-url", server.url]);
    cleanup.push(async () => {
      watching.stop();
      await watching.exited;
    });
    await eventually(() =>
      expect(watching.stdout()).toMatch(/^HOST .*\ndevbox\s+00000000\s+\/home\/me\/claw\s+idle\s/),
    );
    const table = watching.stdout();

    await server.stop();
    server = await startNatsServer({ storeDir, port: server.port });
    await eventually(() => expect(watching.stderr()).toMatch(/back on the bus/), 20_000);
    // Until JetStream is back after the restart, a publish may time out: the message id stores it once.
    const env = host.envelope(S1, "thread/status/changed", {
      threadId: S1,
      status: { type: "active", activeFlags: ["waitingOnUserInput"] },
    });
    await eventually(() => host.publish(env), 20_000);
    await eventually(
      () =>
        expect(watching.stdout().slice(table.length)).toMatch(
          /^devbox\s+00000000\s+\/home\/me\/claw\s+active\s+input\s+.*\(status idle→active, needs -→input\)\n$/,
        ),
      20_000,
    );
    expect(watching.stderr()).toMatch(
      /^claw-supervisor sessions: lost the bus at .*\nclaw-supervisor sessions: back on the bus at /,
    );
    watching.stop();
    expect(await watching.exited).toBe(0);
  }, 60_000);
});
