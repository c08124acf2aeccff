/**
 * The Claw's durable consumers on stream FLEET (explicit acks, deliver all, nats-server 2.9 fields only):
 * `<clawId>-wake`, which the service reads continuously to put high-priority notices into context, and
 * `<clawId>-inbox`, which `fleet_events` pulls from and acknowledges. Both resume where they were after
 * downtime: nothing published while the gateway was down is lost.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { FleetEvent } from "../../schemas/fleet.js";
import {
  STREAM_NAMES,
  ensureDurableConsumer,
  openDurableConsumer,
  subjects,
  type MessageFeed,
  type StreamMsg,
} from "../bus/index.js";

/** The two consumer names of one Claw. Pure. */
export function consumerNames(clawId: string): { wake: string; inbox: string } {
  return { wake: `claw-${clawId}-wake`, inbox: `claw-${clawId}-inbox` };
}

/** Creates the durable consumer unless it exists. */
export async function ensureFleetConsumer(nc: NatsConnection, name: string, ackWaitMs: number): Promise<void> {
  await ensureDurableConsumer(nc, {
    stream: STREAM_NAMES.fleet,
    name,
    filterSubject: subjects.allFleet(),
    ackWaitMs,
    maxAckPending: 1_000,
    missingStream: `stream ${STREAM_NAMES.fleet} does not exist: is the supervisor running ('claw-supervisor up')?`,
  });
}

/** A notice and the message to ack; `event` is null when the message is not a valid notice (acked and skipped). */
export interface FleetDelivery {
  event: FleetEvent | null;
  msg: StreamMsg;
}

function parse(msg: StreamMsg): FleetDelivery {
  try {
    const parsed = FleetEvent.safeParse(msg.json());
    return { event: parsed.success ? parsed.data : null, msg };
  } catch {
    return { event: null, msg };
  }
}

/** Pulls up to `max` notices from the inbox consumer, waiting at most `expiresMs` for the first. */
export async function pullInbox(
  nc: NatsConnection,
  name: string,
  max: number,
  expiresMs = 1_000,
): Promise<FleetDelivery[]> {
  await ensureFleetConsumer(nc, name, 60_000);
  const consumer = await openDurableConsumer(nc, STREAM_NAMES.fleet, name);
  const out: FleetDelivery[] = [];
  const batch = await consumer.fetch(max, expiresMs);
  for await (const msg of batch) out.push(parse(msg));
  return out;
}

/** A running wake loop; `stop()` ends it. */
export interface WakeLoop {
  stop(): Promise<void>;
  readonly done: Promise<void>;
}

/** Reads the wake consumer forever, handing each delivery to `onDelivery` (which acks); retries after errors. */
export function startWakeLoop(
  nc: NatsConnection,
  name: string,
  onDelivery: (d: FleetDelivery) => void,
  onError: (err: Error) => void,
): WakeLoop {
  let stopping = false;
  let current: MessageFeed | undefined;
  const done = (async () => {
    while (!stopping) {
      try {
        await ensureFleetConsumer(nc, name, 30_000);
        const consumer = await openDurableConsumer(nc, STREAM_NAMES.fleet, name);
        current = await consumer.consume(100);
        if (stopping) current.stop();
        for await (const msg of current) onDelivery(parse(msg));
      } catch (err) {
        if (stopping || nc.isClosed()) break;
        onError(err as Error);
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  })();
  return {
    done,
    async stop() {
      stopping = true;
      current?.stop();
      await done;
    },
  };
}
