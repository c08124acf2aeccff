/**
 * One machine's snapshot, as the registry's fleet holds it: created fresh or restored from a persisted
 * snapshot, stepped by the machine's pure stepper (`machines/fold.ts`: no actor, no timer), each event reporting
 * whether the persisted state changed. A step that throws (a guard or an assigner failing, or an action the
 * stepper will not run) is counted and logged, and the snapshot before the event is kept, as the actor this
 * replaced did by restarting from its state before the event.
 *
 * Change detection compares the state value and the context field by field (the contexts of our machines
 * hold primitives and arrays of them), and the persisted JSON is only built when asked for (a KV write): at
 * ingest rates, serialising every snapshot after every event was a large share of the registry's CPU.
 */
import type { AnyStateMachine, EventFromLogic, InputFrom, SnapshotFrom } from "xstate";
import { createStepper, type Stepper } from "../../machines/fold.js";
import type { RegistryLogger } from "./logger.js";

// One stepper (so one reused inert scope) per machine, shared by every slot of that machine.
const steppers = new WeakMap<AnyStateMachine, Stepper<AnyStateMachine>>();

function stepperOf<M extends AnyStateMachine>(machine: M): Stepper<M> {
  let stepper = steppers.get(machine);
  if (!stepper) {
    stepper = createStepper(machine);
    steppers.set(machine, stepper);
  }
  return stepper as unknown as Stepper<M>;
}

/** A machine's current snapshot plus the JSON of its persisted snapshot, for change detection and KV writes. */
export class MachineSlot<M extends AnyStateMachine> {
  private readonly stepper: Stepper<M>;
  private current: SnapshotFrom<M>;
  /** JSON of the current persisted snapshot, built on demand; undefined after a change. */
  private json: string | undefined;
  /** Events whose step threw (each one left the snapshot as it was before the event). */
  errors = 0;

  constructor(
    machine: M,
    input: InputFrom<M>,
    private readonly logger: RegistryLogger,
    private readonly label: string,
    persisted?: unknown,
  ) {
    this.stepper = stepperOf(machine);
    this.current = persisted === undefined ? this.stepper.initial(input) : this.stepper.restore(persisted);
  }

  /** The current snapshot. */
  get snapshot(): SnapshotFrom<M> {
    return this.current;
  }

  /** The persisted snapshot (what `actor.getPersistedSnapshot()` gives), made afresh. */
  get persisted(): unknown {
    return this.stepper.persisted(this.current);
  }

  /** The persisted snapshot as JSON text (what goes to KV; the same text `actor.getPersistedSnapshot()` gave). */
  get persistedJson(): string {
    this.json ??= JSON.stringify(this.persisted);
    return this.json;
  }

  /** Applies one event; true when the persisted snapshot changed. A step that throws keeps the state before it. */
  send(event: EventFromLogic<M>): boolean {
    const before = this.current;
    let after: SnapshotFrom<M>;
    try {
      after = this.stepper.step(before, event);
    } catch (err) {
      this.errors++;
      // The message is the one the actor-based slot logged; operators may search for it.
      this.logger.error(
        { actor: this.label, event: event.type, err },
        "actor failed on an event; restarting it from its state before that event",
      );
      return false;
    }
    if (after === before) return false;
    this.current = after;
    if (sameState(before as never, after as never)) return false;
    this.json = undefined;
    return true;
  }

  /** Nothing to stop: a slot holds a snapshot, not an actor. Kept so holders need not know. */
  stop(): void {}
}

interface PlainSnapshot {
  status: string;
  value: unknown;
  context: Record<string, unknown>;
}

/** True when two snapshots hold the same status, state value and context. */
function sameState(a: PlainSnapshot, b: PlainSnapshot): boolean {
  if (a.status !== b.status || !sameValue(a.value, b.value)) return false;
  if (a.context === b.context) return true;
  const keys = Object.keys(b.context);
  if (keys.length !== Object.keys(a.context).length) return false;
  for (const key of keys) if (!sameValue(a.context[key], b.context[key])) return false;
  return true;
}

/** Equality of primitives, arrays and plain objects of them (state values, context fields). */
function sameValue(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of kb)
    if (!sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}
