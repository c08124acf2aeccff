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
  return changes;
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

  it("refuses a machine whose entry actions must run", () => {
    const machine = setup({}).createMachine({ entry: () => undefined });
    expect(() => createStepper(machine).initial(undefined as never)).toThrow(ExecutableActionError);
  });
});
