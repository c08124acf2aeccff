// The command ledger (KV codex-commands) as two policy instances share it, on a real nats-server.
import { afterAll, describe, expect, it } from "vitest";
import { useBus } from "../../test/support/bus.js";
import { JetStreamPublisher, KV_BUCKET_NAMES, openKvBucket } from "../bus/index.js";
import { CommandLedger } from "./ledger.js";

describe("CommandLedger across instances", () => {
  const bus = useBus({ ensure: true });
  const publishers: JetStreamPublisher[] = [];
  afterAll(() => {
    for (const p of publishers) p.close("test done");
  });
  const ledger = async (by: string, runningWaitMs: number) => {
    const nc = await bus.connect({ name: by });
    const publisher = new JetStreamPublisher(nc);
    publishers.push(publisher);
    return new CommandLedger(await openKvBucket(nc, KV_BUCKET_NAMES.commands), publisher, by, Date.now, runningWaitMs);
  };

  it("waits for a claim still running on another instance, and answers its result", async () => {
    const [a, b] = [await ledger("a", 2_000), await ledger("b", 2_000)];
    expect(await a.claim("0123456789abcdef0123456789abcdef")).toEqual({ claimed: true });
    const repeat = b.claim("0123456789abcdef0123456789abcdef");
    await new Promise((resolve) => setTimeout(resolve, 50));
    await a.complete("0123456789abcdef0123456789abcdef", { ok: true, data: { first: true } });
    expect(await repeat).toMatchObject({
      claimed: false,
      entry: { state: "done", result: { ok: true, data: { first: true } } },
    });
  });

  it("claims over a release it waited for, and gives up waiting on one that stays running", async () => {
    const [a, b] = [await ledger("a", 300), await ledger("b", 300)];
    expect(await a.claim("11111111111111111111111111111111")).toEqual({ claimed: true });
    const repeat = b.claim("11111111111111111111111111111111");
    await new Promise((resolve) => setTimeout(resolve, 30));
    await a.release("11111111111111111111111111111111");
    expect(await repeat).toEqual({ claimed: true });
    const started = Date.now();
    expect(await a.claim("11111111111111111111111111111111")).toMatchObject({
      claimed: false,
      entry: { state: "running", by: "b" },
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });
});
