// The session log and the audit trail cannot be edited: ensureBus creates CODEX_EVENTS and AUDIT with
// deny_delete and deny_purge, and turns them on for streams made before it did (a state dir from an older
// version), against a real nats-server.
import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect, it } from "vitest";
import { useBus } from "../../test/support/bus.js";
import { ensureBus } from "./ensure.js";
import { STREAM_NAMES, busTopology } from "./topology.js";

describe("protected streams", () => {
  const bus = useBus();

  it("adds deny_delete and deny_purge to existing AUDIT and CODEX_EVENTS streams, and then no message can be deleted", async () => {
    const jsm = await jetstreamManager(bus.nc);
    for (const s of busTopology().streams.filter((s) => s.protected)) {
      await jsm.streams.add({ name: s.name, subjects: s.subjects });
    }
    const stored = await bus.js.publish("codex.audit.request", '{"before":"upgrade"}');

    const result = await ensureBus(bus.nc);
    expect(result.streams).toEqual(
      expect.arrayContaining([
        { name: STREAM_NAMES.events, action: "updated" },
        { name: STREAM_NAMES.audit, action: "updated" },
      ]),
    );
    for (const name of [STREAM_NAMES.events, STREAM_NAMES.audit]) {
      expect((await jsm.streams.info(name)).config).toMatchObject({ deny_delete: true, deny_purge: true });
    }
    expect((await jsm.streams.info(STREAM_NAMES.fleet)).config.deny_delete).toBeFalsy();

    const deleted = await jsm.streams.deleteMessage(STREAM_NAMES.audit, stored.seq).catch((e: unknown) => e);
    expect(String(deleted)).toMatch(/delete/i);
    const purged = await jsm.streams.purge(STREAM_NAMES.audit).catch((e: unknown) => e);
    expect(String(purged)).toMatch(/purge/i);
    expect((await jsm.streams.getMessage(STREAM_NAMES.audit, { seq: stored.seq }))?.string()).toBe(
      '{"before":"upgrade"}',
    );
    // A second run has nothing left to change.
    expect((await ensureBus(bus.nc)).streams.every((s) => s.action === "unchanged")).toBe(true);
  });
});
