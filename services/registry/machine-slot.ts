/**
 * One live actor of a pure machine, as the registry holds it: created fresh or restored from a persisted
 * snapshot, its errors subscribed (an actor error is logged and the actor restarted from its last good state,
 * never thrown), and each event reporting whether the persisted state changed.
 */
import { createActor, type Actor, type AnyStateMachine, type EventFromLogic, type InputFrom, type SnapshotFrom } from "xstate";
import type { RegistryLogger } from "./logger.js";

/** A machine's actor plus the JSON of its persisted snapshot, for change detection and KV writes. */
export class MachineSlot<M extends AnyStateMachine> {
  private actor: Actor<M>;
  /** JSON of the current persisted snapshot. */
  private json: string;
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
    this.json = JSON.stringify(this.actor.getPersistedSnapshot());
  }

  /** The current snapshot. */
  get snapshot(): SnapshotFrom<M> {
    return this.actor.getSnapshot() as SnapshotFrom<M>;
  }

  /** The persisted snapshot as JSON text (what goes to KV). */
  get persistedJson(): string {
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
      this.logger.error({ actor: this.label, event: event.type, err: after.error }, "actor failed on an event; restarting it from its state before that event");
      this.actor.stop();
      this.actor = this.spawn(this.machine.getPersistedSnapshot(before));
      return false;
    }
    const json = JSON.stringify(this.actor.getPersistedSnapshot());
    if (json === this.json) return false;
    this.json = json;
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
