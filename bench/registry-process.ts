/**
 * The registry for the ingest benchmark, in its own process (run with --expose-gc through `fork`): the same
 * `startRegistry` as `claw-supervisor service registry`, plus an IPC answer to "heap" with the heap used
 * after a full GC, so memory per session is measured without allocator noise.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { startRegistry } from "../services/registry/index.js";

const natsUrl = process.argv[2];
if (!natsUrl) throw new Error("usage: registry-process.js NATS_URL");
// For investigation: BENCH_REGISTRY_HEAP_SAMPLES=<file> samples every allocation site, collected objects included
// (what the garbage collector has to deal with), and writes the profile there when stopped.
const heapSamples = process.env.BENCH_REGISTRY_HEAP_SAMPLES;
const inspector = heapSamples ? new Session() : undefined;
if (inspector) {
  inspector.connect();
  await inspector.post("HeapProfiler.startSampling", {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
}
const registry = await startRegistry({
  servers: natsUrl,
  ...(process.env.BENCH_MAX_BATCH ? { maxBatch: Number(process.env.BENCH_MAX_BATCH) } : {}),
});
const gc = (globalThis as { gc?: () => void }).gc;
process.on("message", (msg: unknown) => {
  if (msg === "heap") {
    gc?.();
    gc?.();
    process.send?.({ heapUsed: process.memoryUsage().heapUsed, gc: Boolean(gc) });
  } else if (msg === "stats") {
    process.send?.({ stats: registry.stats() });
  } else if (msg === "stop") {
    void registry.stop().then(async () => {
      if (inspector && heapSamples) {
        const { profile } = await inspector.post("HeapProfiler.stopSampling");
        writeFileSync(heapSamples, JSON.stringify(profile));
      }
      process.exit(0);
    });
  }
});
process.send?.({ ready: true });
