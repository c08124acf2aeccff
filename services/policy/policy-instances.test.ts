// Two policy service instances on one real nats-server, in queue group "policy", each on a connection of its own:
// rate limits, loop memory and idempotency hold across them, as if one instance decided everything. Which
// instance decided a command is read from its AUDIT request record (`by`); the queue group picks the instance,
// so a test that needs the other one sends again (a fresh key, or the same one) until the other one answers.
import { jetstreamManager } from "@nats-io/jetstream";
import { beforeAll, describe, expect, it } from "vitest";
import { AuditRecord } from "../../schemas/audit.js";
import type { CommandResult } from "../../schemas/commands.js";
import { DEFAULT_POLICY, type PolicyDocumentInput } from "../../schemas/policy.js";
import { STREAM_NAMES } from "../bus/index.js";
import { commandIdOf } from "./ledger.js";
import type { PolicyService } from "./service.js";
import { ServiceMetrics } from "../ops/metrics.js";
import { type PolicyRig, usePolicyRig } from "./test-policy.js";

const target = (sessionId: string) => ({ sessionId });
const withRules = (extra: Partial<PolicyDocumentInput>): PolicyDocumentInput => ({ ...DEFAULT_POLICY, ...extra });
const code = (r: CommandResult) => (r.ok ? "ok" : r.code);

/** The instance that wrote each command's request records (one per attempt), read from AUDIT as it grows. */
function auditReader(rig: PolicyRig) {
  let next = 1;
  const deciders = new Map<string, string[]>();
  const readOn = async (): Promise<void> => {
    const jsm = await jetstreamManager(rig.bus.nc);
    const last = (await jsm.streams.info(STREAM_NAMES.audit)).state.last_seq;
    for (; next <= last; next++) {
      const m = await jsm.streams.getMessage(STREAM_NAMES.audit, { seq: next });
      const r = m ? AuditRecord.parse(m.json()) : null;
      if (r?.kind === "request") deciders.set(r.commandId, [...(deciders.get(r.commandId) ?? []), r.by]);
    }
  };
  // One read at a time: calls made together wait for the same pass over the stream.
  let reading = Promise.resolve();
  return async (commandId: string): Promise<string[]> => {
    reading = reading.then(readOn);
    await reading;
    return deciders.get(commandId) ?? [];
  };
}

describe("two policy instances decide as one", () => {
  const rig = usePolicyRig();
  let a: PolicyService;
  let b: PolicyService;
  let decidersOf: (commandId: string) => Promise<string[]>;
  const metrics = new ServiceMetrics("policy", "policy-b", { defaultMetrics: false });

  beforeAll(async () => {
    a = rig.policy!;
    b = await rig.startAnotherPolicy("policy-b", { metrics });
    decidersOf = auditReader(rig);
    for (const s of ["s1", "s2", "s3", "s4", "s5", "s6", "s7"]) await rig.session(s);
  });

  it("admits exactly a caller's burst across both instances, whichever of them each command reaches", async () => {
    await rig.setPolicy(
      withRules({
        rateLimits: { perCaller: { burst: 6, perSecond: 0.001 }, perTarget: { burst: 1_000, perSecond: 1_000 } },
      }),
    );
    try {
      rig.ops.length = 0;
      const keys = Array.from({ length: 24 }, (_, i) => `burst-key-${i}`);
      const results = await Promise.all(
        keys.map((key, i) =>
          rig.command("interrupt", { target: target(`s${(i % 4) + 1}`) }, { callerId: "burst-caller", key }),
        ),
      );
      expect(results.filter((r) => r.ok)).toHaveLength(6);
      expect(results.filter((r) => !r.ok).map(code)).toEqual(Array(18).fill("rate_limited"));
      expect(rig.ops).toHaveLength(6);
      // Both instances took commands (with one bucket per instance, they could admit up to 12 between them).
      const by = await Promise.all(
        keys.map(async (k) => (await decidersOf(commandIdOf(caller("burst-caller"), k)))[0]),
      );
      expect(new Set(by)).toEqual(new Set([a.instanceId, b.instanceId]));
    } finally {
      await rig.setPolicy(DEFAULT_POLICY);
    }
  });

  it("admits N per second across both: never more than burst + N x elapsed seconds under steady load", async () => {
    const perSecond = 5;
    const burst = 5;
    await rig.setPolicy(
      withRules({ rateLimits: { perCaller: { burst, perSecond }, perTarget: { burst: 1_000, perSecond: 1_000 } } }),
    );
    try {
      let n = 0;
      const results: { key: string; result: CommandResult }[] = [];
      const started = performance.now();
      // Four senders at once, for 1.5 s: far more than 5 a second, spread over both instances.
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (performance.now() - started < 1_500) {
            const key = `steady-${n++}`;
            const result = await rig.command("interrupt", { target: target("s5") }, { callerId: "steady-caller", key });
            results.push({ key, result });
          }
        }),
      );
      const elapsedS = (performance.now() - started) / 1000;
      const admitted = results.filter((r) => r.result.ok).length;
      expect(results.filter((r) => !r.result.ok).every((r) => code(r.result) === "rate_limited")).toBe(true);
      // The bucket's own bound (one instance's worth; two separate buckets would allow twice as much) ...
      expect(admitted).toBeLessThanOrEqual(burst + Math.floor(perSecond * elapsedS));
      // ... and it was reached: the burst and at least a second's refill (it ran 1.5 s at more than 5 a second,
      // unless the machine is so loaded that fewer commands were sent at all).
      expect(admitted).toBeGreaterThanOrEqual(Math.min(results.length, burst + perSecond));
      const admittedBy = await Promise.all(
        results
          .filter((r) => r.result.ok)
          .map(async (r) => (await decidersOf(commandIdOf(caller("steady-caller"), r.key)))[0]),
      );
      const decidedBy = await Promise.all(
        results.map(async (r) => (await decidersOf(commandIdOf(caller("steady-caller"), r.key)))[0]),
      );
      expect(new Set(decidedBy)).toEqual(new Set([a.instanceId, b.instanceId]));
      expect(admittedBy.every((x) => x === a.instanceId || x === b.instanceId)).toBe(true);
    } finally {
      await rig.setPolicy(DEFAULT_POLICY);
    }
  });

  describe("loop prevention", () => {
    beforeAll(async () => {
      await rig.setPolicy(
        withRules({
          rules: [...DEFAULT_POLICY.rules, { id: "sessions-send", role: "session", allow: ["send"] }],
          loops: { maxHops: 2, cycleWindowMs: 60_000 },
        }),
      );
    });

    /** Sends `from` → `to` (fresh keys) until the instance other than `not` decides it; every answer must agree. */
    async function onTheOtherInstance(from: string, to: string, not: string): Promise<CommandResult[]> {
      const answers: CommandResult[] = [];
      for (let i = 0; i < 40; i++) {
        const key = `${from}-${to}-${i}-${Math.random()}`;
        answers.push(
          await rig.command("send", { target: target(to), text: "back" }, { role: "session", callerId: from, key }),
        );
        const [by] = await decidersOf(commandIdOf({ id: from, role: "session" }, key));
        if (by !== not) return answers;
      }
      throw new Error(`40 sends from ${from} to ${to} all reached ${not}`);
    }

    it("refuses B→A with reason loop when A→B was delivered through the other instance", async () => {
      rig.ops.length = 0;
      const key = "cycle-a-b";
      const there = await rig.command(
        "send",
        { target: target("s1"), text: "ask" },
        { role: "session", callerId: "s2", key },
      );
      expect(there).toEqual({ ok: true, data: { action: "started", turnId: "turn-1" } });
      const [first] = await decidersOf(commandIdOf({ id: "s2", role: "session" }, key));
      expect([a.instanceId, b.instanceId]).toContain(first);
      const back = await onTheOtherInstance("s1", "s2", first!);
      for (const r of back)
        expect(r).toMatchObject({ ok: false, code: "denied", reason: "loop", message: expect.stringMatching(/cycle/) });
      expect(rig.ops.map((o) => (o.op === "send" ? o.threadId : o.op))).toEqual(["s1"]);
    });

    it("carries the hop count of a delivery made through one instance into a check on the other", async () => {
      rig.ops.length = 0;
      // s3 → s4 travels hop 0, s4 → s6 hop 1 (s4 was reached by a hop-0 message), s6 → s5 hop 2, so s5 → s2
      // would travel hop 3: over maxHops 2, whichever instance delivered s6 → s5 and whichever decides s5 → s2.
      const send = (from: string, to: string) =>
        rig.command("send", { target: target(to), text: "relay" }, { role: "session", callerId: from });
      expect(code(await send("s3", "s4"))).toBe("ok");
      expect(code(await send("s4", "s6"))).toBe("ok");
      const key = "hops-s6-s5";
      expect(
        code(
          await rig.command("send", { target: target("s5"), text: "relay" }, { role: "session", callerId: "s6", key }),
        ),
      ).toBe("ok");
      const [first] = await decidersOf(commandIdOf({ id: "s6", role: "session" }, key));
      const over = await onTheOtherInstance("s5", "s2", first!);
      for (const r of over)
        expect(r).toMatchObject({ ok: false, code: "denied", reason: "loop", message: expect.stringMatching(/hops/) });
      expect(rig.ops).toHaveLength(3);
    });
  });

  it("answers an idempotency key repeated on the other instance with the first answer, running it once", async () => {
    await rig.setPolicy(DEFAULT_POLICY);
    rig.ops.length = 0;
    const key = "repeat-across-instances";
    const id = commandIdOf(caller("alice"), key);
    const first = await rig.command("send", { target: target("s6"), text: "once" }, { key });
    expect(first).toEqual({ ok: true, data: { action: "started", turnId: "turn-1" } });
    const [firstBy] = await decidersOf(id);
    // Repeated at once, while the first attempt's result may still be on its way to the ledger.
    let repeats = 0;
    for (; repeats < 40; repeats++) {
      expect(await rig.command("send", { target: target("s6"), text: "once" }, { key })).toEqual(first);
      if ((await decidersOf(id)).some((by) => by !== firstBy)) break;
    }
    expect(repeats).toBeLessThan(40);
    expect(new Set(await decidersOf(id))).toEqual(new Set([a.instanceId, b.instanceId]));
    expect(rig.ops).toEqual([{ op: "send", threadId: "s6", text: "once", mode: "auto" }]);
  });

  it("counts the commands an instance answered by verb and result into its ServiceMetrics", async () => {
    const counted = async () =>
      Object.fromEntries(
        (await metrics.commands.get()).values.map((v) => [`${v.labels.verb}/${v.labels.result}`, v.value]),
      );
    const before = await counted();
    // Mostly refused (a host may not interrupt: no rate-limit token), every fifth allowed; until b decided some.
    const byB = { ok: 0, denied: 0 };
    for (let i = 0; i < 60 && (i < 12 || byB.ok + byB.denied === 0); i++) {
      const role = i % 5 === 0 ? ("operator" as const) : ("host" as const);
      const key = `metrics-key-${i}`;
      const r = await rig.command("interrupt", { target: target("s7") }, { role, callerId: `metrics-${i}`, key });
      expect(code(r)).toBe(role === "host" ? "denied" : "ok");
      const [by] = await decidersOf(commandIdOf({ id: `metrics-${i}`, role }, key));
      if (by === b.instanceId) byB[role === "host" ? "denied" : "ok"]++;
    }
    const after = await counted();
    const delta = (k: string) => (after[k] ?? 0) - (before[k] ?? 0);
    expect({ ok: delta("interrupt/ok"), denied: delta("interrupt/denied") }).toEqual(byB);
    expect(byB.ok + byB.denied).toBeGreaterThan(0);
  });
});

function caller(id: string) {
  return { id, role: "operator" as const };
}
