/**
 * Sign-in attempts are bounded: every check the policy service makes is an AUDIT record, so a flood of made-up
 * tokens (no credentials needed, only the port) must not be able to push the audit trail out of its stream.
 * Real nats-server, registry, gateway and policy service.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../../../test/support/wait.js";
import { addOperator, type DashboardRig, http, startDashboardRig } from "../test-dashboard.js";
import { SigninLimiter } from "./signin-limit.js";

const madeUpToken = () => `cso_${randomBytes(8).toString("hex")}_${randomBytes(32).toString("base64url")}`;

describe("SigninLimiter", () => {
  it("allows the burst, then one slot per refill period; a slot given back is free again", () => {
    let now = 1_000;
    const l = new SigninLimiter({ burst: 3, refillMs: 6_000 }, () => now);
    expect([l.take(), l.take(), l.take()]).toEqual([0, 0, 0]);
    expect(l.take()).toBe(6_000);
    now += 3_000;
    expect(l.take()).toBe(3_000);
    now += 3_000;
    expect(l.take()).toBe(0);
    expect(l.take()).toBe(6_000);
    l.giveBack();
    expect(l.take()).toBe(0);
    now += 60_000;
    expect([l.take(), l.take(), l.take(), l.take()]).toEqual([0, 0, 0, 6_000]);
  });
});

describe("dashboard sign-in limit", () => {
  let r: DashboardRig;
  beforeAll(async () => {
    r = await startDashboardRig();
  });
  afterAll(async () => r?.stop());

  const signin = (token: string) =>
    http(r.url, "/api/signin", { method: "POST", body: { token }, headers: { origin: r.url } });
  const signinRecords = async () =>
    (await r.rig.audit()).filter((a) => (a.detail as { request?: string } | null)?.request === "operator.signin");

  it("a flood of made-up tokens gets 429 after the burst, and the policy service (and AUDIT) sees only the burst", async () => {
    const good = await addOperator(r.rig.bus.nc, "gina", "operator");
    // A successful sign-in gives its slot back; a token that is not one is never sent, so it takes none.
    expect((await signin(good)).status).toBe(200);
    expect((await signin("not-a-token")).status).toBe(401);
    const statuses: number[] = [];
    let limited: Awaited<ReturnType<typeof signin>> | undefined;
    for (let i = 0; i < 30; i++) {
      const a = await signin(madeUpToken());
      statuses.push(a.status);
      if (a.status === 429) limited = a;
    }
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses.slice(10)).toEqual(Array(20).fill(429));
    expect(limited?.json()).toMatchObject({ ok: false, code: "rate_limited" });
    expect(Number(limited?.headers["retry-after"])).toBeGreaterThan(0);
    // gina's sign-in and the ten refused ones, nothing of the twenty turned away.
    await eventually(async () => expect((await signinRecords()).length).toBe(11));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await signinRecords()).length).toBe(11);
  });
});
