/** Session event envelopes for tests that map bus events to machine events. */
import type { SessionEventEnvelope } from "../../schemas/bus.js";

/** An `agent/annotation` envelope of thread `thr-1` on `host-a` carrying `payload`. */
export const annotationEnvelope = (payload: unknown): SessionEventEnvelope => ({
  hostId: "host-a",
  threadId: "thr-1",
  epoch: "e",
  seq: 1,
  emittedAtMs: 9,
  type: "agent/annotation",
  payload,
});
