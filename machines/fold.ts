/**
 * A pure stepper over one machine: the initial snapshot for an input, a snapshot restored from its persisted
 * form, and the next snapshot for an event. It gives exactly what XState's `initialTransition()` and
 * `transition()` give (the machine's own `getInitialSnapshot`, `restoreSnapshot` and `transition` with an
 * inert actor scope), and creates no actor, no timer and no I/O. A step takes a verified transition plan
 * when it can (`fold-plans.ts`: XState selects the transition, the plan, checked against XState on its first
 * use, runs its assigns and sets the configuration), about 4x cheaper than a full `transition`; `counts` says
 * how often.
 *
 * Why not call `transition()` per event: it builds a throwaway actor (to make its inert scope) on every call.
 * `bench/fold.ts` measures it at 2.6–2.7x the time of an actor's `send` per session event (about 32 µs), and the
 * registry's CPU is what limits ingest (about 110–140 µs per event), so ingest would be some 20% slower. The
 * stepper makes ONE inert scope per machine (a plain object, not an actor) and reuses it: 0.8–1.0x the actor.
 *
 * `transition()` hands back the executable actions (custom functions, `raise`, `sendTo`, `emit`, `log`, spawn
 * and stop) for the caller to run. Our machines use only `assign` and guards, so there are none;
 * the stepper throws when a machine yields one, instead of silently dropping an effect an actor would have run.
 */
import type {
  ActorScope,
  AnyActorScope,
  AnyStateMachine,
  EventFromLogic,
  ExecutableActionObject,
  InputFrom,
  SnapshotFrom,
} from "xstate";
import { type PlainSnapshot, TransitionPlans, type EventObject } from "./fold-plans.js";

/** Pure steps of one machine; every call is synchronous and returns a new (or the same) snapshot. */
export interface Stepper<M extends AnyStateMachine> {
  /** The initial snapshot for `input` (what `initialTransition(machine, input)` gives). */
  initial(input: InputFrom<M>): SnapshotFrom<M>;
  /** A snapshot restored from its persisted form (what `createActor(machine, { snapshot })` starts from). */
  restore(persisted: unknown): SnapshotFrom<M>;
  /**
   * The snapshot after `event` (what `transition(machine, snapshot, event)[0]` gives); the same object when
   * nothing changed. A snapshot that is no longer active is returned as is, as a stopped actor drops events.
   * Throws what a guard or assigner throws, and when the machine yields an executable action.
   */
  step(snapshot: SnapshotFrom<M>, event: EventFromLogic<M>): SnapshotFrom<M>;
  /** The persisted form of `snapshot` (what `actor.getPersistedSnapshot()` gives), ready for JSON. */
  persisted(snapshot: SnapshotFrom<M>): unknown;
  /**
   * Since creation: steps answered by a transition plan (`fast`, each plan's first use checked against XState),
   * steps run by XState's `transition` (`full`), and plans dropped because XState disagreed (`rejected`: a plan
   * the stepper got wrong; always 0 for a machine plans cover).
   */
  readonly counts: { fast: number; full: number; rejected: number };
}

const noop = (): void => undefined;

/** Thrown when a machine yields an action the stepper would have to run (it runs none). */
export class ExecutableActionError extends Error {
  constructor(
    readonly machineId: string,
    readonly actionTypes: string[],
  ) {
    super(
      `machine ${machineId} yielded executable action(s) ${actionTypes.join(", ")}; the pure stepper runs none (use only assign and guards, or run the actions in the shell)`,
    );
    this.name = "ExecutableActionError";
  }
}

/**
 * The inert scope the stepper reuses: the same members as xstate's `createInertActorScope`, but `self` and
 * `system` are stubs, not an actor and its system. Only `_sendInspectionEvent` is called on them by a machine
 * that uses only `assign` and guards; anything else fails loudly as an undefined member.
 */
function inertScope(machineId: string, executed: ExecutableActionObject[]): AnyActorScope {
  const system = { _sendInspectionEvent: noop };
  const self = { id: machineId, sessionId: "", system };
  const scope: Omit<ActorScope<never, never>, "self" | "system"> & { self: unknown; system: unknown } = {
    self,
    system,
    id: "",
    sessionId: "",
    logger: noop,
    defer: noop,
    emit: noop,
    stopChild: noop,
    // Collects instead of running; checked after each call. An action without `exec` (a name with no
    // implementation) runs nothing in an actor either, so it is not counted.
    actionExecutor: (action) => {
      if (action.exec !== undefined) executed.push(action);
    },
  };
  return scope as unknown as AnyActorScope;
}

/**
 * `snapshot` (fresh from `getInitialSnapshot` or `restoreSnapshot`, so ours to change) with its context copied
 * into an object V8 keeps in fast (non-dictionary) mode. XState builds an initial context from a context
 * function by `Object.assign({}, {}, contextOfTheFunction)`, which adds the properties one by one: past a dozen
 * V8 turns that object into a dictionary, and every `assign` after it (`Object.assign({}, context, update)`)
 * copies the dictionary into a new one. The session machine has 24 context fields; stepping it cost about 6 µs
 * more per event that way, over half of a step. A spread copy has fast properties, and so does every
 * `Object.assign` copy made from it. Same keys, order and values: nothing observable changes.
 */
function withFastContext<S>(snapshot: S): S {
  const s = snapshot as { context?: unknown };
  if (typeof s.context === "object" && s.context !== null) s.context = { ...(s.context as object) };
  return snapshot;
}

/** True for an object with no own enumerable keys. */
function isEmpty(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  for (const _ in value) return false;
  return true;
}

/** Thrown by the `spawn` a context function gets on the fast initial path: XState then makes the snapshot. */
class NeedsXState extends Error {}
const noSpawn = (): never => {
  throw new NeedsXState("spawn");
};

/**
 * Initial snapshots without XState's initial microstep, for a machine plans cover whose context is a function of
 * the input and whose initial configuration runs no action (no entry action on any state entered, no action on
 * an initial transition): there, XState's initial snapshot is its initial configuration (the same whatever the
 * input) with the context the function returns (`getInitialSnapshot` assigns it, then enters the initial states,
 * which only sets the configuration). The configuration is learnt from XState's first initial snapshot, and kept
 * only when the context function gives the same context for that input again. After that, an initial snapshot
 * is the function's context (copied into a fast object, as `withFastContext` does) in that configuration: the
 * same fields XState builds, at a fraction of the cost (a registry creates one per new session).
 */
function initialTemplate(machine: AnyStateMachine, scope: AnyActorScope) {
  const contextOf = (machine.config as { context?: unknown }).context;
  if (typeof contextOf !== "function") return undefined;
  let template: PlainSnapshot | undefined;
  let settled = false;
  const context = (input: unknown): Record<string, unknown> =>
    (contextOf as (args: unknown) => Record<string, unknown>)({ spawn: noSpawn, input, self: scope.self });
  return {
    /** The initial snapshot for `input`, or undefined when XState must make it. */
    initial(input: unknown): PlainSnapshot | undefined {
      if (template === undefined) return undefined;
      let fresh: Record<string, unknown>;
      try {
        fresh = context(input);
      } catch {
        return undefined; // XState runs it again and reports what it throws as its own error
      }
      if (typeof fresh !== "object" || fresh === null) return undefined;
      const t = template;
      return {
        status: t.status,
        output: t.output,
        error: t.error,
        machine: t.machine,
        context: { ...fresh },
        _nodes: t._nodes,
        value: t.value,
        tags: t.tags,
        children: t.children,
        historyValue: t.historyValue,
        matches: t.matches,
        hasTag: t.hasTag,
        can: t.can,
        getMeta: t.getMeta,
        toJSON: t.toJSON,
      };
    },
    /** XState's initial snapshot for `input`: becomes the template when it qualifies (checked once). */
    learn(snapshot: PlainSnapshot, input: unknown): void {
      if (settled) return;
      settled = true;
      const quiet = snapshot._nodes.every(
        (n) =>
          n.entry.length === 0 &&
          (n.type !== "compound" || (n.initial?.actions as unknown[] | undefined)?.length === 0),
      );
      if (!quiet || snapshot.status !== "active" || !isEmpty(snapshot.children) || !isEmpty(snapshot.historyValue))
        return;
      let again: Record<string, unknown>;
      try {
        again = context(input);
      } catch {
        return;
      }
      if (JSON.stringify(again) !== JSON.stringify(snapshot.context)) return;
      template = snapshot;
    },
  };
}

/** Makes the stepper of `machine`, with its one reused inert scope. */
export function createStepper<M extends AnyStateMachine>(machine: M): Stepper<M> {
  const executed: ExecutableActionObject[] = [];
  const scope = inertScope(machine.id, executed);
  const checked = <T>(result: T): T => {
    if (executed.length > 0) {
      const types = executed.map((a) => a.type);
      executed.length = 0;
      throw new ExecutableActionError(machine.id, types);
    }
    return result;
  };
  const run = <T>(call: () => T): T => {
    executed.length = 0;
    let result: T;
    try {
      result = call();
    } catch (err) {
      executed.length = 0;
      throw err;
    }
    return checked(result);
  };
  const full = (snapshot: SnapshotFrom<M>, event: EventFromLogic<M>): SnapshotFrom<M> =>
    run(() => machine.transition(snapshot as never, event, scope) as SnapshotFrom<M>);
  const counts = { fast: 0, full: 0, rejected: 0 };
  const plans = TransitionPlans.for(
    machine,
    scope,
    (snapshot, event) =>
      full(snapshot as unknown as SnapshotFrom<M>, event as EventFromLogic<M>) as unknown as PlainSnapshot,
    counts,
  );
  const initials = plans === undefined ? undefined : initialTemplate(machine, scope);
  return {
    initial(input) {
      const fast = initials?.initial(input);
      if (fast !== undefined) return fast as SnapshotFrom<M>;
      const snapshot = run(() => machine.getInitialSnapshot(scope, input) as SnapshotFrom<M>);
      const { status, error } = snapshot as { status: string; error?: unknown };
      if (status === "error") throw error;
      initials?.learn(snapshot as unknown as PlainSnapshot, input);
      return withFastContext(snapshot);
    },
    restore(persisted) {
      return withFastContext(run(() => machine.restoreSnapshot(persisted as never, scope) as SnapshotFrom<M>));
    },
    step(snapshot, event) {
      if ((snapshot as { status: string }).status !== "active") return snapshot;
      const fast = plans?.step(snapshot as unknown as PlainSnapshot, event as EventObject);
      if (fast !== undefined) {
        counts.fast++;
        return fast as unknown as SnapshotFrom<M>;
      }
      counts.full++;
      return full(snapshot, event);
    },
    persisted(snapshot) {
      const s = snapshot as unknown as PlainSnapshot;
      // A machine plans cover has no history states and, with no children, no actor in its context: its
      // persisted form is the snapshot's JSON fields as they are, in getPersistedSnapshot's order.
      if (plans !== undefined && isEmpty(s.children) && isEmpty(s.historyValue))
        return {
          status: s.status,
          output: s.output,
          error: s.error,
          value: s.value,
          historyValue: {},
          context: s.context,
          children: {},
        };
      return machine.getPersistedSnapshot(snapshot as never);
    },
    counts,
  };
}
