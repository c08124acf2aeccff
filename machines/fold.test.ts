/**
 * The stepper against XState's own pure functions and actors: over every golden log it gives exactly the
 * snapshots `transition()` gives, persists byte for byte what an actor persists, restores what
 * `createActor(..., { snapshot })` restores, creates no actor, and refuses a machine with executable actions.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { Actor, assign, createActor, initialTransition, raise, setup, transition, type AnyStateMachine } from "xstate";
import type { SessionEventEnvelope } from "../schemas/bus.js";
import { FIXTURE_HOST_ID, readSessionLog, sessionLogNames } from "../test/fixtures/session-logs.js";
import { createStepper, ExecutableActionError } from "./fold.js";
import { sessionEventsOf } from "./from-bus.js";
import { hostMachine, type HostMachineEvent } from "./host.js";
import { sessionMachine, type SessionMachineEvent } from "./session.js";

interface AnySnapshot {
  status: string;
  value: unknown;
  context: unknown;
  historyValue: unknown;
  children: unknown;
  _nodes: { id: string }[];
}

/** Everything a snapshot holds but its machine reference: state, context, history, children and node set. */
const view = (snapshot: unknown) => {
  const s = snapshot as AnySnapshot;
  return {
    status: s.status,
    value: s.value,
    context: s.context,
    historyValue: s.historyValue,
    children: s.children,
    nodes: s._nodes.map((n) => n.id),
  };
};

const eventsOf = (log: SessionEventEnvelope[]): SessionMachineEvent[] => log.flatMap(sessionEventsOf);
const inputOf = (log: SessionEventEnvelope[]) => ({ hostId: FIXTURE_HOST_ID, threadId: log[0]!.threadId });

const hostInput = { hostId: "h", degradedAfterMs: 100, offlineAfterMs: 200, staleAfterMs: 300 };
const hostEvents: HostMachineEvent[] = [
  { type: "CONNECTED", atMs: 10, hostname: "box", agentVersion: "1" },
  { type: "HEARTBEAT", atMs: 20, threads: 2, appServer: "connected" },
  { type: "SWEEP", nowMs: 50 },
  { type: "SWEEP", nowMs: 150 },
  { type: "SWEEP", nowMs: 250 },
  { type: "SWEEP", nowMs: 260 },
  { type: "SWEEP", nowMs: 900 },
  { type: "DISCONNECTED", atMs: 950 },
  { type: "CONNECTED", atMs: 1_000, hostname: "box", agentVersion: "2" },
];

/** Folds `events` with `transition()`, the stepper and a live actor side by side and compares every step. */
function compareAll<M extends AnyStateMachine>(machine: M, input: unknown, events: unknown[]): number {
  const stepper = createStepper(machine);
  let [pure] = initialTransition(machine, input as never);
  let stepped = stepper.initial(input as never);
  const actor = createActor(machine, { input } as never).start();
  expect(view(stepped)).toEqual(view(pure));
  let changes = 0;
  for (const event of events) {
    const before = stepped;
    [pure] = transition(machine, pure, event as never);
    stepped = stepper.step(stepped, event as never);
    actor.send(event as never);
    expect(view(stepped)).toEqual(view(pure));
    expect(JSON.stringify(stepper.persisted(stepped))).toBe(JSON.stringify(actor.getPersistedSnapshot()));
    if (stepped !== before) changes++;
  }
  actor.stop();
  // Most steps take a verified plan; XState runs each plan's first use and what plans leave to it.
  expect(stepper.counts.fast + stepper.counts.full).toBe(events.length);
  expect(stepper.counts.rejected).toBe(0);
  if (events.length >= 20) expect(stepper.counts.fast).toBeGreaterThan(events.length / 2);
  return changes;
}

/** A seeded pseudo-random source (mulberry32), so a failing sequence can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Steps `events` with the stepper and with `transition()`, comparing every snapshot and persisted form. */
function compareSteps<M extends AnyStateMachine>(machine: M, input: unknown, events: unknown[]) {
  const stepper = createStepper(machine);
  let [pure] = initialTransition(machine, input as never);
  let stepped = stepper.initial(input as never);
  events.forEach((event, i) => {
    const before = stepped;
    const pureBefore = pure;
    [pure] = transition(machine, pure, event as never);
    stepped = stepper.step(stepped, event as never);
    const where = `step ${i}: ${JSON.stringify(event)}`;
    expect(view(stepped), where).toEqual(view(pure));
    expect(JSON.stringify(stepper.persisted(stepped)), where).toBe(
      JSON.stringify(machine.getPersistedSnapshot(pure as never)),
    );
    // The same snapshot back exactly when XState hands the same one back.
    expect(stepped === before, where).toBe(pure === pureBefore);
  });
  expect(stepper.counts.rejected).toBe(0);
  return stepper.counts;
}

/** Restores halfway from an actor's persisted JSON, with the stepper and with `createActor`, and runs on both. */
function compareRestore<M extends AnyStateMachine>(machine: M, input: unknown, events: unknown[]): void {
  const stepper = createStepper(machine);
  const half = Math.floor(events.length / 2);
  const live = createActor(machine, { input } as never).start();
  for (const event of events.slice(0, half)) live.send(event as never);
  const json = JSON.stringify(live.getPersistedSnapshot());
  live.stop();
  const restoredActor = createActor(machine, { input, snapshot: JSON.parse(json) } as never).start();
  let restored = stepper.restore(JSON.parse(json));
  expect(view(restored)).toEqual(view(restoredActor.getSnapshot()));
  expect(JSON.stringify(stepper.persisted(restored))).toBe(json);
  for (const event of events.slice(half)) {
    restored = stepper.step(restored, event as never);
    restoredActor.send(event as never);
    expect(view(restored)).toEqual(view(restoredActor.getSnapshot()));
    expect(JSON.stringify(stepper.persisted(restored))).toBe(JSON.stringify(restoredActor.getPersistedSnapshot()));
  }
  restoredActor.stop();
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each(sessionLogNames)("the session stepper over golden log %s", (name) => {
  const log = readSessionLog(name);

  it("gives exactly the snapshots transition() gives, and persists what an actor persists", () => {
    expect(compareAll(sessionMachine, inputOf(log), eventsOf(log))).toBeGreaterThan(0);
  });

  it("restores from persisted JSON exactly as createActor(..., { snapshot }) does, and steps on alike", () => {
    compareRestore(sessionMachine, inputOf(log), eventsOf(log));
  });
});

describe("the host stepper", () => {
  it("gives exactly the snapshots transition() gives through connect, sweeps, staleness and a reconnect", () => {
    expect(compareAll(hostMachine, hostInput, hostEvents)).toBeGreaterThan(0);
  });

  it("restores as createActor does", () => {
    compareRestore(hostMachine, hostInput, hostEvents);
  });
});

describe("the stepper's plans against transition(), on random event sequences", () => {
  const golden = sessionLogNames.flatMap((name) => eventsOf(readSessionLog(name)));
  const turns = ["turn-a", "turn-b"];
  const synthetic: SessionMachineEvent[] = [
    ...["idle", "notLoaded", "systemError"].map((type) => ({
      type: "STATUS" as const,
      status: { type } as never,
      atMs: 1,
    })),
    ...[[], ["waitingOnApproval"], ["waitingOnUserInput"]].map((activeFlags) => ({
      type: "STATUS" as const,
      status: { type: "active", activeFlags } as never,
      atMs: 2,
    })),
    ...turns.flatMap((turnId) => [
      { type: "TURN_STARTED" as const, turnId, atMs: 3 },
      { type: "TURN_COMPLETED" as const, turnId, status: "completed" as const, atMs: 4 },
      { type: "TURN_COMPLETED" as const, turnId, status: "interrupted" as const, atMs: 4 },
      { type: "STEER_SENT" as const, turnId, atMs: 5 },
      { type: "ITEM" as const, turnId, itemType: "userMessage", atMs: 6 },
      { type: "ITEM" as const, turnId, itemType: "agentMessage", atMs: 6 },
    ]),
    { type: "STALE", atMs: 7 },
    { type: "APP_SERVER_LOST", atMs: 8 },
    { type: "CLOSED", atMs: 9 },
    { type: "ACTIVITY", atMs: 10 },
    { type: "PRESENCE", humanAttached: true, atMs: 11 },
    { type: "MARK", disposition: "done" },
    { type: "ASSIGN", group: "g", owner: null },
    { type: "ASK_ANSWERED", correlationId: "c" },
    {
      type: "ESCALATE",
      escalation: {
        id: "e1",
        fromGroup: "web",
        toGroup: "leads",
        reason: "stuck",
        question: null,
        by: "claw:w1",
        atMs: 1,
        acceptedBy: null,
        acceptedAtMs: null,
      },
    },
    { type: "ESCALATION_ACCEPTED", id: "e1", by: "boss", atMs: 13 },
    { type: "APPROVAL_DONE", requestId: "r", atMs: 12 },
    { type: "STATUS", status: { type: "idle" }, atMs: 1, model: "gpt-5" },
    ...[
      [100, 20],
      [300, 60],
      [40, 10], // a restarted count
    ].map(([input, output]) => ({
      type: "TOKEN_USAGE" as const,
      total: { input: input!, cachedInput: input! / 2, output: output!, reasoning: 5, total: input! + output! },
      atMs: 14,
    })),
    { type: "TOKEN_USAGE", total: { input: -1 } as never, atMs: 15 },
    ...(["warned", "stopped", "lifted"] as const).flatMap((state) =>
      ["d:2026-11-25:h.s", "t:total:h.s"].map((id) => ({
        type: "BUDGET" as const,
        budget: { state, id, limitId: id.slice(0, 1), periodKey: "total", reason: state, by: "policy", atMs: 16 },
      })),
    ),
  ];
  const pool = [...golden, ...synthetic];

  it.each([1, 2, 3, 4, 5, 6, 7, 8])("session machine, seed %i: every step as transition() gives it", (seed) => {
    const next = random(seed);
    let atMs = 1_700_000_000_000;
    const events = Array.from({ length: 300 }, () => {
      const e = pool[Math.floor(next() * pool.length)]!;
      atMs += 1 + Math.floor(next() * 1_000);
      return "atMs" in e ? { ...e, atMs } : e;
    });
    const counts = compareSteps(sessionMachine, { hostId: FIXTURE_HOST_ID, threadId: "t-random" }, events);
    expect(counts.fast).toBeGreaterThan(events.length / 2);
  });

  it("host machine: random connects, heartbeats and sweeps", () => {
    const next = random(42);
    const events = Array.from({ length: 300 }, () => hostEvents[Math.floor(next() * hostEvents.length)]!).map((e, i) =>
      "atMs" in e ? { ...e, atMs: i * 40 } : { ...e, nowMs: i * 40 },
    );
    const counts = compareSteps(hostMachine, hostInput, events);
    expect(counts.fast).toBeGreaterThan(events.length / 2);
  });

  // A machine with what plans must get right beyond ours: nested compound states entered by their initial
  // transition (with its own actions), entry and exit assigns in document order, params (static and computed),
  // self transitions with and without reentry, a child targeting its parent, targetless transitions.
  const log = (entry: string) =>
    assign(({ context }: { context: { trail: string[] } }) => ({
      trail: [...context.trail, entry].slice(-12),
    })) as never;
  const nested = setup({
    types: {} as {
      context: { trail: string[]; n: number };
      events: { type: "A" } | { type: "B" } | { type: "C" } | { type: "D" } | { type: "E" } | { type: "F"; by: number };
    },
    actions: {
      bump: assign(({ context }, params: { by: number }) => ({ n: context.n + params.by })),
      mark: assign({ n: ({ context }) => context.n * 2 }),
    },
    guards: { even: ({ context }) => context.n % 2 === 0 },
  }).createMachine({
    context: { trail: [], n: 1 },
    initial: "outer",
    entry: log("enter root"),
    states: {
      outer: {
        initial: { target: "inner", actions: log("initial outer") } as never,
        entry: log("enter outer"),
        exit: log("exit outer"),
        states: {
          inner: {
            initial: "leaf1",
            entry: log("enter inner"),
            exit: log("exit inner"),
            states: {
              leaf1: {
                entry: log("enter leaf1"),
                exit: log("exit leaf1"),
                on: { A: "leaf2", E: { target: "#nested.outer", reenter: true } },
              },
              leaf2: {
                entry: log("enter leaf2"),
                exit: log("exit leaf2"),
                on: { A: { target: "leaf2", reenter: true, actions: log("re leaf2") } },
              },
            },
            on: { B: { target: "inner", actions: log("B inner") }, C: { target: "inner", reenter: true } },
          },
        },
        on: {
          D: [
            { guard: "even", target: "#nested.other", actions: "mark" },
            { actions: { type: "bump", params: { by: 1 } } },
          ],
        },
      },
      other: {
        entry: log("enter other"),
        exit: log("exit other"),
        on: {
          D: "outer",
          F: { actions: { type: "bump", params: ({ event }) => ({ by: (event as { by: number }).by }) } },
        },
      },
    },
    id: "nested",
  });

  it.each([11, 12, 13, 14])("a nested machine, seed %i: every step as transition() gives it", (seed) => {
    const next = random(seed);
    const types = ["A", "B", "C", "D", "E", "F"] as const;
    const events = Array.from({ length: 200 }, () => {
      const type = types[Math.floor(next() * types.length)]!;
      return type === "F" ? { type, by: Math.floor(next() * 5) } : { type };
    });
    const counts = compareSteps(nested, undefined, events);
    expect(counts.fast).toBeGreaterThan(events.length / 2);
  });
});

describe("the stepper itself", () => {
  it("creates no actor, whatever it is asked to do", () => {
    // Every actor, including the throwaway one inside transition(), initialises its state in its constructor.
    const made = vi.spyOn(Actor.prototype as unknown as { _initState: () => void }, "_initState");
    const log = readSessionLog("approval-wait");
    const stepper = createStepper(sessionMachine);
    let snapshot = stepper.initial(inputOf(log));
    for (const event of eventsOf(log)) snapshot = stepper.step(snapshot, event);
    stepper.restore(JSON.parse(JSON.stringify(stepper.persisted(snapshot))));
    expect(made).not.toHaveBeenCalled();
    transition(sessionMachine, snapshot, eventsOf(log)[0]!); // the probe sees transition()'s throwaway actor
    expect(made).toHaveBeenCalled();
  });

  it("returns the same snapshot when an event changes nothing", () => {
    const stepper = createStepper(hostMachine);
    const online = stepper.step(stepper.initial(hostInput), hostEvents[0]!);
    expect(stepper.step(online, { type: "SWEEP", nowMs: 11 })).toBe(online);
  });

  it("throws when a machine yields an action it would otherwise drop, and what a guard throws", () => {
    const machine = setup({
      types: {} as { context: { n: number }; events: { type: "ADD" } | { type: "CALL" } | { type: "RAISE" } },
    }).createMachine({
      context: { n: 0 },
      on: {
        ADD: { actions: assign(({ context }) => ({ n: context.n + 1 })) },
        CALL: { actions: () => undefined },
        RAISE: { actions: raise({ type: "ADD" }) },
      },
    });
    const stepper = createStepper(machine);
    const start = stepper.initial(undefined as never);
    const one = stepper.step(start, { type: "ADD" });
    expect(one.context.n).toBe(1);
    expect(() => stepper.step(one, { type: "CALL" })).toThrow(ExecutableActionError);
    expect(() => stepper.step(one, { type: "RAISE" })).toThrow(/xstate\.raise/);
    expect(stepper.step(one, { type: "ADD" }).context.n).toBe(2); // a refused action leaves nothing behind

    const guarded = setup({
      types: {} as { events: { type: "GO" } },
      guards: {
        broken: () => {
          throw new Error("guard broke");
        },
      },
    }).createMachine({ initial: "a", states: { a: { on: { GO: { guard: "broken", target: "b" } } }, b: {} } });
    const g = createStepper(guarded);
    expect(() => g.step(g.initial(undefined as never), { type: "GO" })).toThrow("guard broke");
  });

  it("makes every initial snapshot after the first as initialTransition() makes it, and steps on alike", () => {
    const session = createStepper(sessionMachine);
    const host = createStepper(hostMachine);
    for (let i = 0; i < 5; i++) {
      const input = { hostId: `h-${i}`, threadId: `t-${i}` };
      const [pure] = initialTransition(sessionMachine, input);
      const stepped = session.initial(input);
      expect(view(stepped)).toEqual(view(pure));
      expect(JSON.stringify(session.persisted(stepped))).toBe(
        JSON.stringify(createActor(sessionMachine, { input }).getPersistedSnapshot()),
      );
      const event: SessionMachineEvent = { type: "STATUS", status: { type: "active", activeFlags: [] }, atMs: 5 };
      expect(view(session.step(stepped, event))).toEqual(view(transition(sessionMachine, pure, event)[0]));
      const hostIn = { ...hostInput, hostId: `h-${i}`, staleAfterMs: 300 + i };
      expect(view(host.initial(hostIn))).toEqual(view(initialTransition(hostMachine, hostIn)[0]));
    }
    // An initial state whose entry assigns: every initial snapshot is XState's, with the entry's context.
    const entering = setup({
      types: {} as { context: { n: number; id: string }; input: { id: string } },
    }).createMachine({
      context: ({ input }) => ({ n: 0, id: input.id }),
      initial: "a",
      states: { a: { entry: assign({ n: ({ context }) => context.n + 1 }) } },
    });
    const stepper = createStepper(entering);
    for (const id of ["x", "y", "z"])
      expect(view(stepper.initial({ id }))).toEqual(view(initialTransition(entering, { id })[0]));
  });

  it("refuses a machine whose entry actions must run", () => {
    const machine = setup({}).createMachine({ entry: () => undefined });
    expect(() => createStepper(machine).initial(undefined as never)).toThrow(ExecutableActionError);
  });
});
