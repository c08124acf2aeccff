/**
 * The fake model for the control benchmark, in its own process (started through `fork`), as a real model
 * provider is never on the supervisor's event loop: a prompt containing the marker given as its argument gets
 * a slow streamed answer (200 chunks, 50 ms apart), any other a short one. Sends `{ baseUrl }` over IPC once
 * listening; exits when its parent goes away.
 */
import { startFakeModel, userTexts } from "../test/support/fake-model.js";

const SLOW = process.argv[2];
if (!SLOW) throw new Error("usage: model-process.js SLOW_MARKER");

const model = await startFakeModel({
  route: (r) => {
    const last = userTexts(r).at(-1) ?? "";
    return last.includes(SLOW)
      ? { kind: "slow", text: "working on it slowly", chunks: 200, delayMs: 50 }
      : { kind: "text", text: "A short answer for the benchmark." };
  },
});
process.send?.({ baseUrl: model.baseUrl });
process.on("disconnect", () => void model.stop().finally(() => process.exit(0)));
