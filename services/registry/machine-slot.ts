/**
 * One live actor of a pure machine, as the registry holds it: created fresh or restored from a persisted
 * snapshot, its errors subscribed (an actor error is logged and the actor restarted from its last good state,
 * never thrown), and each event reporting whether the persisted state changed.
 *
 * Change detection compares the state value and the context field by field (the contexts of our machines
 * hold primitives and arrays of them), and the persisted JSON is only built when asked for (a KV write): at
 * ingest rates, serialising every snapshot after every event was a large share of the registry's CPU.
 */
import {
  createActor,
  type Actor,
  type AnyStateMachine,
  type EventFromLogic,
  type InputFrom,
  type SnapshotFrom,
} from "xstate";
import type { RegistryLogger } from "./logger.js";

/** A machine's actor plus the JSON of its persisted snapshot, for change detection and KV writes. */
export class MachineSlot<M extends AnyStateMachine> {
  private actor: Actor<M>;
  /** JSON of the current persisted snapshot, built on demand; undefined after a change. */
  private json: string | undefined;
  /** Errors this slot's actors reported (each one restarted the actor). */
  errors = 0;

  constructor(
    private readonly machine: M,
    private readonly input: InputFrom<M>,
    private readonly logger: RegistryLogger,
    private readonly label: string,
    persisted?: unknown,
  ) {
    this.actor = this.spawn(persisted);
  }

  /** The current snapshot. */
  get snapshot(): SnapshotFrom<M> {
    return this.actor.getSnapshot() as SnapshotFrom<M>;
  }

  /** The persisted snapshot as JSON text (what goes to KV). */
  get persistedJson(): string {
    this.json ??= JSON.stringify(this.actor.getPersistedSnapshot());
    return this.json;
  }

  /** Sends one event; true when the persisted snapshot changed. An actor error restores the state before it. */
  send(event: EventFromLogic<M>): boolean {
    const before = this.actor.getSnapshot();
    this.actor.send(event);
    const after = this.actor.getSnapshot() as { status: string; error?: unknown };
    if (after === before) return false;
    if (after.status === "error") {
      this.errors++;
      this.logger.error(
        { actor: this.label, event: event.type, err: after.error },
        "actor failed on an event; restarting it from its state before that event",
      );
      this.actor.stop();
      this.actor = this.spawn(this.machine.getPersistedSnapshot(before));
      return false;
    }
    if (sameState(before as never, after as never)) return false;
    this.json = undefined;
    return true;
  }

  /** Stops the actor. */
  stop(): void {
    this.actor.stop();
  }

  private spawn(persisted: unknown): Actor<M> {
    const actor = createActor(this.machine, {
      input: this.input,
      ...(persisted === undefined ? {} : { snapshot: persisted as SnapshotFrom<M> }),
    } as never) as Actor<M>;
    actor.subscribe({
      error: (err) => this.logger.error({ actor: this.label, err }, "actor error"),
    });
    actor.start();
    return actor;
  }
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
