/**
 * The pure stepper (machines/fold.ts) against the two ways XState steps a machine: a live actor's `send` (the
 * baseline: what the registry did before it held plain snapshots) and the public pure `transition()`, which
 * builds a throwaway actor per call. Each folds the same session events, from every golden log recorded from the
 * real codex in test/fixtures/, repeated; they alternate, and each prints µs per event and its ratio to the actor.
 *
 * Run: `npm run build:bench && node dist-bench/bench/fold.js` (BENCH_FOLD_ROUNDS, default 300 rounds a way).
 */
import os from "node:os";
import { fileURLToPath } from "node:url";
import { createActor, initialTransition, transition } from "xstate";
import { createStepper } from "../machines/fold.js";
import { sessionEventsOf } from "../machines/from-bus.js";
import { type SessionMachineEvent, sessionMachine } from "../machines/session.js";
import { readSessionLog, sessionLogNames } from "../test/fixtures/session-logs.js";

/** The repository, from dist-bench/bench/ (the golden logs are not compiled). */
const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const rounds = Number(process.env.BENCH_FOLD_ROUNDS ?? 300);
const logs: { input: { hostId: string; threadId: string }; events: SessionMachineEvent[] }[] = sessionLogNames.map(
  (name) => {
    const envelopes = readSessionLog(name, REPO_ROOT);
    const first = envelopes[0];
    if (!first) throw new Error(`golden log ${name} is empty`);
    return {
      input: { hostId: first.hostId, threadId: first.threadId },
      events: envelopes.flatMap((e) => sessionEventsOf(e)),
    };
  },
);
const eventsPerRound = logs.reduce((n, l) => n + l.events.length, 0);

const stepper = createStepper(sessionMachine);
const ways: Record<string, () => void> = {
  "actor.send (baseline)": () => {
    for (const log of logs) {
      const actor = createActor(sessionMachine, { input: log.input }).start();
      for (const event of log.events) actor.send(event);
      actor.stop();
    }
  },
  "stepper.step (machines/fold.ts)": () => {
    for (const log of logs) {
      let snapshot = stepper.initial(log.input);
      for (const event of log.events) snapshot = stepper.step(snapshot, event);
    }
  },
  "transition() (xstate)": () => {
    for (const log of logs) {
      let [snapshot] = initialTransition(sessionMachine, log.input);
      for (const event of log.events) [snapshot] = transition(sessionMachine, snapshot, event);
    }
  },
};

const names = Object.keys(ways);
const spentMs = new Map(names.map((n) => [n, 0]));
for (const name of names) for (let i = 0; i < 20; i++) ways[name]?.(); // warm-up
for (let r = 0; r < rounds; r++) {
  for (const name of names) {
    const start = performance.now();
    ways[name]?.();
    spentMs.set(name, (spentMs.get(name) ?? 0) + performance.now() - start);
  }
}

const cpu = os.cpus()[0]?.model.trim() ?? "unknown cpu";
console.log(`fold benchmark: node ${process.version}, ${os.cpus().length} x ${cpu}`);
console.log(
  `${eventsPerRound} session events a round (${logs.length} golden logs), ${rounds} rounds a way, alternating`,
);
const usPerEvent = (name: string) => ((spentMs.get(name) ?? 0) * 1000) / (rounds * eventsPerRound);
const baseline = usPerEvent(names[0] as string);
for (const name of names) {
  const us = usPerEvent(name);
  console.log(`  ${name.padEnd(34)} ${us.toFixed(2).padStart(7)} µs/event  ${(us / baseline).toFixed(2)}x the actor`);
}
