/**
 * Replay: folds a list of session event envelopes through the same fold the live registry runs (`FleetState`:
 * the machines' pure steppers, the pure notice rules) and returns the records and the fleet notices they
 * produce. Pure: no actor, no timer, no clock, no I/O; nothing here imports the bus or the FLEET publisher.
 * It is the audit replay and the check that the live KV view is what the event log says.
 */
import type { PriceTable } from "../../schemas/budget.js";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import type { FleetEvent } from "../../schemas/fleet.js";
import type { HostRecord, SessionRecord } from "../../schemas/registry.js";
import { FleetState } from "./fleet-state.js";

/** What a replay yields: sessions in registry order (host, session id), hosts by id, notices in order. */
export interface ReplayResult {
  sessions: SessionRecord[];
  hosts: HostRecord[];
  notices: FleetEvent[];
}

const REPLAY_THRESHOLDS = { degradedAfterMs: 1, offlineAfterMs: 1, staleAfterMs: 1 };

/**
 * Folds `envelopes` in order (duplicates by `(epoch, seq)` skipped, exactly as live) into records and notices,
 * usage priced with `prices` (the live registry uses the active policy's; none by default).
 */
export function replayEnvelopes(envelopes: Iterable<SessionEventEnvelope>, prices: PriceTable = {}): ReplayResult {
  // Thresholds only matter to sweeps, which a replay of the event log never runs. Each change is timed by its
  // envelope (the default), which only the live registry's write batching reads.
  const state = new FleetState({ ...REPLAY_THRESHOLDS, prices: { table: prices } });
  const notices: FleetEvent[] = [];
  for (const envelope of envelopes) {
    state.applyEnvelope(envelope);
    notices.push(...state.takeNotices());
  }
  return { sessions: [...state.index.all()], hosts: state.hostRecords(), notices };
}
