/**
 * One registry instance for bench/scale.ts, in its own process (forked, so its CPU is its own in /proc): the same
 * `startRegistry` as `claw-supervisor service registry`, with the options given as JSON in argv[3] (how many
 * partitions, which instance). Answers "stats" and "serving" (the partitions it serves) over IPC; "stop" stops it
 * and exits.
 */
import { startRegistry } from "../services/registry/index.js";

const [natsUrl, optionsJson] = process.argv.slice(2);
if (!natsUrl) throw new Error("usage: scale-registry-process.js NATS_URL [OPTIONS_JSON]");
const options = JSON.parse(optionsJson ?? "{}") as Record<string, unknown>;
const registry = await startRegistry({ servers: natsUrl, ...options });
process.on("message", (msg: unknown) => {
  if (msg === "stats") process.send?.({ stats: registry.stats() });
  // The partitions it serves (a partitioned registry's `serving()`; all of the one there is before that).
  else if (msg === "serving")
    process.send?.({ serving: (registry as { serving?: () => number[] }).serving?.() ?? [0] });
  else if (msg === "stop") void registry.stop().then(() => process.exit(0));
});
process.send?.({ ready: true });
