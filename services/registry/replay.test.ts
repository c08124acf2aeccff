/**
 * Replay is a pure fold: with no bus at all it creates no actor and no timer, its module graph reaches neither
 * NATS nor the FLEET publisher nor any I/O module, and it yields what the live registry's fleet yields for the
 * same envelopes (and what XState's own `transition()` gives for each session).
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it, vi } from "vitest";
import { Actor, createActor } from "xstate";
import { sessionEventsOf } from "../../machines/from-bus.js";
import { foldSession, sessionMachine, sessionRecordOf } from "../../machines/session.js";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import { readSessionLog, sessionLogNames } from "../../test/fixtures/session-logs.js";
import { FleetState } from "./fleet-state.js";
import { replayEnvelopes } from "./replay.js";

/** The golden logs of two hosts, interleaved round-robin, with some envelopes delivered twice. */
function fleetLog(): SessionEventEnvelope[] {
  const logs = sessionLogNames.flatMap((name) => {
    const log = readSessionLog(name);
    return [log, log.map((e) => ({ ...e, hostId: "second-host" }))];
  });
  const out: SessionEventEnvelope[] = [];
  for (let i = 0; logs.some((log) => i < log.length); i++) {
    for (const log of logs) {
      const e = log[i];
      if (e === undefined) continue;
      out.push(e);
      if (i % 5 === 3) out.push({ ...e }); // a redelivery
    }
  }
  return out;
}

afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe("replayEnvelopes", () => {
  it("creates no actor and no timer, with no bus at all", () => {
    const envelopes = fleetLog();
    vi.useFakeTimers();
    const timers = [
      vi.spyOn(globalThis, "setTimeout"),
      vi.spyOn(globalThis, "setInterval"),
      vi.spyOn(globalThis, "setImmediate"),
    ];
    // Every actor, including the throwaway one inside xstate's transition(), initialises its state when built.
    const actorsBuilt = vi.spyOn(Actor.prototype as unknown as { _initState: () => void }, "_initState");
    const result = replayEnvelopes(envelopes);
    expect(vi.getTimerCount()).toBe(0);
    for (const spy of timers) expect(spy).not.toHaveBeenCalled();
    expect(actorsBuilt).not.toHaveBeenCalled();
    expect(result.sessions).toHaveLength(8);
    expect(result.hosts.map((h) => h.hostId)).toEqual(["fixture-host", "second-host"]);

    createActor(sessionMachine, { input: { hostId: "h", threadId: "t" } }); // the probe does see an actor
    expect(actorsBuilt).toHaveBeenCalled();
  });

  it("reaches neither NATS, the bus, the FLEET publisher nor any I/O module through its imports", () => {
    const here = dirname(fileURLToPath(import.meta.url));
    const files = new Set<string>();
    const packages = new Set<string>();
    const visit = (file: string): void => {
      if (files.has(file)) return;
      files.add(file);
      const source = readFileSync(file, "utf8");
      for (const [, spec] of source.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"/g)) {
        if (spec!.startsWith(".")) visit(resolve(dirname(file), spec!.replace(/\.js$/, ".ts")));
        else packages.add(spec!);
      }
    };
    visit(resolve(here, "replay.ts"));
    const local = [...files].map((f) => f.slice(resolve(here, "../..").length + 1));
    expect(local).toContain("services/registry/fleet-state.ts");
    expect(local).toContain("machines/fold.ts");
    expect(local.filter((f) => f.startsWith("services/bus/") || f === "services/registry/fleet.ts")).toEqual([]);
    expect([...packages].filter((p) => p !== "xstate" && p !== "zod")).toEqual([]);
  });

  it("yields what the live registry's fleet yields for the same envelopes", () => {
    const envelopes = fleetLog();
    const live = new FleetState({ degradedAfterMs: 35_000, offlineAfterMs: 60_000, staleAfterMs: 300_000 });
    for (const envelope of envelopes) live.applyEnvelope(envelope, Date.now()); // as registry.ts drives it
    const replayed = replayEnvelopes(envelopes);
    expect(replayed.sessions).toEqual([...live.index.all()]);
    expect(replayed.hosts).toEqual(live.hostRecords());
    expect(replayed.notices).toEqual(live.takeNotices());
    expect(replayed.notices.filter((n) => n.kind === "session-new")).toHaveLength(8);
  });

  it("gives each session the record XState's transition() folds from that session's events", () => {
    const replayed = replayEnvelopes(fleetLog());
    for (const hostId of ["fixture-host", "second-host"]) {
      for (const name of sessionLogNames) {
        const log = readSessionLog(name).map((e) => ({ ...e, hostId }));
        const threadId = log[0]!.threadId;
        const expected = sessionRecordOf(foldSession(log.flatMap(sessionEventsOf), { hostId, threadId }));
        expect(replayed.sessions.find((s) => s.host === hostId && s.sessionId === threadId)).toEqual(expected);
      }
    }
  });
});
