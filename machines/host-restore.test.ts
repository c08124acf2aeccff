/** A host actor restored from its persisted snapshot decides like the live one; junk never fails it. */
import { describe, expect, it } from "vitest";
import { createActor } from "xstate";
import { foldHost, hostMachine, type HostMachineEvent } from "./host.js";

const input = { hostId: "host-a", degradedAfterMs: 15_000, offlineAfterMs: 45_000, staleAfterMs: 300_000 };

describe("host restore", () => {
  it("restores a degraded host from JSON and agrees with the live actor and the fold afterwards", () => {
    const before: HostMachineEvent[] = [
      { type: "CONNECTED", atMs: 0, hostname: "h", agentVersion: "1" },
      { type: "SWEEP", nowMs: 20_000 },
    ];
    const after: HostMachineEvent[] = [
      { type: "SWEEP", nowMs: 46_000 },
      { type: "SWEEP", nowMs: 345_001 },
      { type: "HEARTBEAT", atMs: 400_000, threads: 1, appServer: "connected" },
    ];
    const live = createActor(hostMachine, { input }).start();
    for (const e of before) live.send(e);
    const restored = createActor(hostMachine, {
      snapshot: JSON.parse(JSON.stringify(live.getPersistedSnapshot())),
      input,
    }).start();
    expect(restored.getSnapshot().value).toBe("degraded");
    for (const event of after) {
      live.send(event);
      restored.send(event);
      expect(restored.getSnapshot().value).toBe(live.getSnapshot().value);
      expect(restored.getSnapshot().context).toEqual(live.getSnapshot().context);
    }
    expect(restored.getSnapshot().context).toEqual(foldHost([...before, ...after], input).context);
    live.stop();
    restored.stop();
  });

  it("gives a subscribed actor no error for unknown or malformed events", () => {
    const errors: unknown[] = [];
    const actor = createActor(hostMachine, { input });
    actor.subscribe({ error: (err) => errors.push(err) });
    actor.start();
    for (const junk of [
      { type: "REBOOT" },
      { type: "SWEEP" },
      { type: "SWEEP", nowMs: "later" },
      { type: "DISCONNECTED" },
    ]) {
      actor.send(junk as unknown as HostMachineEvent);
    }
    expect(errors).toEqual([]);
    expect(actor.getSnapshot().status).toBe("active");
    actor.stop();
  });
});
