/** The registry refuses what is not a session event of the subject's session: a warning with the reason, then on. */
import { describe, expect, it } from "vitest";
import { STREAM_NAMES, consumerBacklog } from "../bus/index.js";
import { getSession } from "../clients/registry-queries.js";
import type { RegistryLogger } from "./logger.js";
import { startRegistry } from "./registry.js";
import { FakeHost } from "./test-fleet.js";
import { useBus } from "../../test/support/bus.js";
import { useFixture } from "../../test/support/fixture.js";
import { eventually } from "../../test/support/wait.js";

const warnings: Record<string, unknown>[] = [];
const logger: RegistryLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (obj, msg) => void warnings.push({ ...obj, msg }),
  error: () => undefined,
};

describe("registry: invalid session events", () => {
  const bus = useBus({ ensure: true });
  const registry = useFixture(() => startRegistry({ nc: bus.nc, logger, batchWindowMs: 200 }));
  const h1 = new FakeHost(bus, "h1");

  it("skips each with its reason, acks it, and applies the good events around it", async () => {
    await h1.synced("t1", { workspace: "/w" });
    const good = h1.envelope("t1", "thread/status/changed", {
      threadId: "t1",
      status: { type: "active", activeFlags: [] },
    });
    const bad: [string, string][] = [
      ["codex.evt.h1.t1", "{not json"],
      ["codex.evt.h1.t1", JSON.stringify({ ...good, seq: -1 })],
      ["codex.evt.h1.t1", JSON.stringify({ ...good, epoch: "has.a.dot" })],
      ["codex.evt.h1.t1", JSON.stringify({ ...good, payload: undefined })],
      // A valid envelope of another session, on this session's subject.
      ["codex.evt.h1.t1", JSON.stringify({ ...good, threadId: "t2" })],
    ];
    for (const [subject, body] of bad) await bus.js.publish(subject, body);
    await h1.publish(good);
    await eventually(async () =>
      expect(await getSession(bus.nc, { host: "h1", sessionId: "t1" })).toMatchObject({ status: "active" }),
    );
    await eventually(async () => expect(await consumerBacklog(bus.nc, STREAM_NAMES.events, "registry")).toBe(0));
    const skipped = warnings.filter((w) => w.msg === "registry: skipped an invalid session event");
    expect(skipped.map((w) => w.reason)).toEqual([
      "not JSON",
      expect.stringMatching(/^not a session event envelope: seq: /),
      expect.stringMatching(/^not a session event envelope: epoch: epoch must be letters/),
      expect.stringMatching(/^not a session event envelope: payload: /),
      "the subject is not codex.evt.<hostId>.<threadId> of the envelope",
    ]);
    expect(skipped.every((w) => w.subject === "codex.evt.h1.t1" && typeof w.seq === "number")).toBe(true);
    expect(registry.stats().eventsApplied).toBe(2);
  });
});
