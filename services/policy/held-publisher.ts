/**
 * The policy service's JetStream publisher: the pipelined one (services/bus/js-publisher.ts), plus a hold for the
 * rest of a tick. A command's first writes (its request record, its idempotency claim, its rate-limit takes) are
 * made while its handler may already be asking the host (a read, which changes nothing, does not wait for them):
 * held, they go out just after that request, in the same write to nats-server, so the host's request is routed
 * before the server stores the records instead of behind them. Nothing else changes: every publish still goes
 * out, in the order it was made, before the tick's own flush to the socket.
 */
import { JetStreamPublisher, type PublishAck, type PublishOptions } from "../bus/index.js";

/** A JetStreamPublisher whose publishes can be held until the end of the current tick (`holdForTick`). */
export class HeldPublisher extends JetStreamPublisher {
  private held: (() => void)[] | undefined;

  /**
   * Holds the publishes made from now on until the microtasks queued so far have run, then makes them in order:
   * core messages published on the connection meanwhile (a request to a host) go out first, in the same write.
   */
  holdForTick(): void {
    if (this.held) return;
    const held: (() => void)[] = [];
    this.held = held;
    queueMicrotask(() => {
      this.held = undefined;
      for (const publish of held) publish();
    });
  }

  override publish(subject: string, data: string | Uint8Array, opts: PublishOptions = {}): Promise<PublishAck> {
    const held = this.held;
    if (!held) return super.publish(subject, data, opts);
    return new Promise<PublishAck>((resolve, reject) =>
      held.push(() => super.publish(subject, data, opts).then(resolve, reject)),
    );
  }
}
