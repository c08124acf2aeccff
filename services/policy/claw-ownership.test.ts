// Claw groups in the policy service (issue 18), against a real nats-server, registry and policy service: a Claw's
// write command on a session goes on only when the session's lease (in codex-leases, written here as a Claw's
// plugin writes it, with startLease) names that Claw at the epoch the command carries; `claws` lists the groups,
// their Claws and who owns which session.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClawGroupsInput, ClawsResult } from "../../schemas/claw-groups.js";
import type { CommandResult } from "../../schemas/commands.js";
import { DEFAULT_POLICY, type PolicyDocumentInput } from "../../schemas/policy.js";
import { KV_BUCKET_NAMES, leaseKeys, openKvBucket, startLease, type KvBucket, type Lease } from "../bus/index.js";
import { eventually } from "../../test/support/wait.js";
import { usePolicyRig } from "./test-policy.js";

const TTL_MS = 3_000;
const clawGroups: ClawGroupsInput = {
  groups: [
    { name: "root", claws: ["claw-r"], owns: [], parent: null },
    { name: "app", claws: ["claw-a", "claw-b"], owns: [{ repo: "app" }], parent: "root" },
  ],
  leaseTtlMs: TTL_MS,
};
const withGroups: PolicyDocumentInput = { ...DEFAULT_POLICY, clawGroups };
const target = (sessionId: string) => ({ sessionId });
const denied = (r: CommandResult) => (r.ok ? "ok" : `${r.code}/${r.reason ?? "-"}`);

describe("Claw groups: session ownership by lease", () => {
  const rig = usePolicyRig();
  let kv: KvBucket;
  const leases: Lease[] = [];
  /** Takes `sessionId`'s lease for `clawId`, as a Claw's plugin does; resolves with its epoch. */
  const take = async (clawId: string, key: string): Promise<{ lease: Lease; epoch: number }> => {
    const lease = startLease({ kv, key, holder: clawId, ttlMs: TTL_MS, standby: false });
    leases.push(lease);
    return { lease, epoch: await lease.acquired };
  };
  const claw = (id: string, lease?: { epoch: number }) => ({
    role: "claw" as const,
    callerId: id,
    ...(lease ? { lease: { epoch: lease.epoch } } : {}),
  });

  beforeAll(async () => {
    kv = await openKvBucket(rig.bus.nc, KV_BUCKET_NAMES.leases, { mustExist: true });
    for (const s of ["s-app1", "s-app2", "s-app3"]) await rig.session(s, { repo: "app" });
    await rig.session("s-web", { repo: "web" });
    await rig.setPolicy(withGroups);
  });
  afterAll(async () => {
    for (const l of leases) l.stop();
    await rig.setPolicy(DEFAULT_POLICY);
  });

  it("lets a Claw act on a session it owns at its lease's epoch, and refuses another Claw naming the owner", async () => {
    const { epoch } = await take("claw-a", leaseKeys.clawSession("s-app1"));
    rig.ops.length = 0;
    const ok = await rig.command("interrupt", { target: target("s-app1") }, claw("claw-a", { epoch }));
    expect(ok).toMatchObject({ ok: true });
    expect(rig.ops.map((o) => o.op)).toEqual(["interrupt"]);

    const other = await rig.command("send", { target: target("s-app1"), text: "hi" }, claw("claw-b", { epoch }));
    expect(denied(other)).toBe("denied/not_owner");
    expect(!other.ok && other.message).toBe(
      "session s-app1 is owned by claw claw-a (group app), not by claw claw-b: a Claw acts only on sessions it owns; nothing was done",
    );
    // Every write verb is checked, and nothing reached the host.
    for (const [verb, args] of [
      ["mark", { target: target("s-app1"), disposition: "done" }],
      ["assign", { target: target("s-app1"), group: "x" }],
      ["reply", { target: target("s-app1"), text: "answer" }],
      ["handoff", { target: target("s-app1"), to: { kind: "human" } }],
      ["approve", { target: target("s-app1"), decision: "accept" }],
    ] as const)
      expect(denied(await rig.command(verb, args, claw("claw-b", { epoch })))).toBe("denied/not_owner");
    expect(rig.ops.map((o) => o.op)).toEqual(["interrupt"]);
    // Reads are not checked.
    expect(await rig.command("read", { target: target("s-app1") }, claw("claw-b"))).toMatchObject({ ok: true });
  });

  it("refuses a session nobody owns, a command without an epoch, and one from before the lease moved", async () => {
    const none = await rig.command("interrupt", { target: target("s-web") }, claw("claw-a", { epoch: 1 }));
    expect(denied(none)).toBe("denied/not_owner");
    expect(!none.ok && none.message).toMatch(/^session s-web is owned by no Claw \(no lease on it\)/);

    const key = leaseKeys.clawSession("s-app2");
    const first = await take("claw-a", key);
    const noEpoch = await rig.command("interrupt", { target: target("s-app2") }, claw("claw-a"));
    expect(denied(noEpoch)).toBe("denied/stale_lease");
    expect(!noEpoch.ok && noEpoch.message).toContain(`at epoch ${first.epoch}, but the command carries no lease epoch`);

    // Released: nobody owns it.
    await first.lease.release("test: released");
    const released = await rig.command("interrupt", { target: target("s-app2") }, claw("claw-a", first));
    expect(denied(released)).toBe("denied/not_owner");
    expect(!released.ok && released.message).toContain("its lease was released by claw claw-a");

    // Taken again by the same Claw: the old epoch is stale, the new one acts.
    const again = await take("claw-a", key);
    expect(again.epoch).toBeGreaterThan(first.epoch);
    const stale = await rig.command("interrupt", { target: target("s-app2") }, claw("claw-a", { epoch: first.epoch }));
    expect(denied(stale)).toBe("denied/stale_lease");
    expect(!stale.ok && stale.message).toBe(
      `the command carries lease epoch ${first.epoch} for session s-app2, but its lease is at epoch ${again.epoch} now: the lease moved since (taken again after it lapsed or was released); nothing was done`,
    );
    expect(await rig.command("interrupt", { target: target("s-app2") }, claw("claw-a", again))).toMatchObject({
      ok: true,
    });

    // Moved to another Claw: the first one's epoch is refused, naming the new owner.
    await again.lease.release("test: handing over");
    const moved = await take("claw-b", key);
    const old = await rig.command("interrupt", { target: target("s-app2") }, claw("claw-a", again));
    expect(denied(old)).toBe("denied/not_owner");
    expect(!old.ok && old.message).toContain("owned by claw claw-b (group app)");
    expect(await rig.command("interrupt", { target: target("s-app2") }, claw("claw-b", moved))).toMatchObject({
      ok: true,
    });
  });

  it("counts a lease key holding no lease record as no owner", async () => {
    await kv.put(leaseKeys.clawSession("s-app3"), JSON.stringify({ holder: "claw-a", key: "claw-session.other" }));
    const junk = await rig.command("interrupt", { target: target("s-app3") }, claw("claw-a", { epoch: 1 }));
    expect(denied(junk)).toBe("denied/not_owner");
    await kv.delete(leaseKeys.clawSession("s-app3"));
  });

  it("audits each refusal as the command's decision", async () => {
    const r = await rig.command(
      "interrupt",
      { target: target("s-web") },
      { ...claw("claw-a"), key: "audit-not-owner" },
    );
    expect(denied(r)).toBe("denied/not_owner");
    await eventually(async () => {
      const decisions = (await rig.audit()).filter(
        (a) => a.kind === "decision" && a.caller?.id === "claw-a" && a.target?.sessionId === "s-web",
      );
      expect(decisions.at(-1)?.decision).toMatchObject({ allow: false, code: "denied" });
      expect(decisions.at(-1)?.decision?.reason).toMatch(/^session s-web is owned by no Claw/);
    });
  });

  it("leaves operators, sessions and a Claw's broadcast to its own sessions alone", async () => {
    expect(await rig.command("interrupt", { target: target("s-web") })).toMatchObject({ ok: true });
    // A broadcast reaches only the targets the Claw owns; the others are refused in its results.
    const b = await rig.command(
      "broadcast",
      { filter: { repo: "app" }, maxTargets: 10, text: "all of app" },
      claw("claw-b"),
    );
    expect(b.ok).toBe(true);
    const data = (b as { data: { sent: number; results: { sessionId: string; result: CommandResult }[] } }).data;
    const byId = Object.fromEntries(data.results.map((x) => [x.sessionId, denied(x.result)]));
    expect(byId).toEqual({ "s-app1": "denied/not_owner", "s-app2": "ok", "s-app3": "denied/not_owner" });
  });

  it("answers claws: the groups, their Claws (live or not) and who owns which session", async () => {
    await take("claw-a", leaseKeys.claw("claw-a"));
    const b = await take("claw-b", leaseKeys.claw("claw-b"));
    await b.lease.release("test: gone");
    await take("claw-stray", leaseKeys.claw("claw-stray"));
    const r = await rig.command("claws", {});
    expect(r.ok).toBe(true);
    const data = (r as { data: ClawsResult }).data;
    expect(data).toMatchObject({ configured: true, leaseTtlMs: TTL_MS });
    expect(data.groups).toEqual([
      { name: "root", parent: null, owns: [], claws: ["claw-r"] },
      { name: "app", parent: "root", owns: [{ repo: "app" }], claws: ["claw-a", "claw-b"] },
    ]);
    const claws = Object.fromEntries(data.claws.map((c) => [c.clawId, c]));
    expect(claws["claw-r"]).toEqual({ clawId: "claw-r", group: "root", live: false, seenAgoMs: null, sessions: 0 });
    expect(claws["claw-a"]).toMatchObject({ group: "app", live: true, sessions: 1 });
    expect(claws["claw-b"]).toMatchObject({ group: "app", live: false, sessions: 1 });
    expect(claws["claw-stray"]).toMatchObject({ group: null, live: true, sessions: 0 });
    expect(claws["claw-a"]!.seenAgoMs).toBeLessThan(TTL_MS);
    expect(data.sessions.map((s) => [s.sessionId, s.clawId, s.group])).toEqual([
      ["s-app1", "claw-a", "app"],
      ["s-app2", "claw-b", "app"],
    ]);
    for (const s of data.sessions) {
      expect(s.epoch).toBeGreaterThan(0);
      expect(s.renewedAgoMs).toBeLessThan(TTL_MS);
      expect(s.heldForMs).toBeGreaterThanOrEqual(s.renewedAgoMs);
    }
    // Narrowed to a group; an unknown group is not_found, naming the groups.
    const root = (await rig.command("claws", { group: "root" })) as { ok: true; data: ClawsResult };
    expect(root.data.groups.map((g) => g.name)).toEqual(["root"]);
    expect(root.data.claws.map((c) => c.clawId)).toEqual(["claw-r"]);
    expect(root.data.sessions).toEqual([]);
    expect(await rig.command("claws", { group: "nope" })).toMatchObject({
      ok: false,
      code: "not_found",
      message: "no Claw group nope; the groups are root, app",
    });
  });

  it("checks escalate like the other writes, and leaves accept to the escalation's own checks", async () => {
    const { epoch } = await take("claw-a", leaseKeys.clawSession("s-app3"));
    const args = { target: target("s-app3"), reason: "stuck on a decision" };
    expect(denied(await rig.command("escalate", args, claw("claw-b", { epoch })))).toBe("denied/not_owner");
    rig.ops.length = 0;
    expect(await rig.command("escalate", args, claw("claw-a", { epoch }))).toMatchObject({
      ok: true,
      data: { sessionId: "s-app3", escalation: { fromGroup: "app", toGroup: "root" } },
    });
    expect(rig.ops).toMatchObject([{ op: "annotate", annotation: { kind: "escalate" } }]);
    // The root's Claw owns no lease on it: accept is not an owner's command (the rig's host does not echo the
    // annotation back, so the registry's record holds no escalation to accept).
    const accept = await rig.command("accept", { target: target("s-app3") }, claw("claw-r"));
    expect(accept).toMatchObject({ ok: false, code: "not_found" });
    expect(!accept.ok && accept.message).toContain("was never escalated");
  });

  describe("without clawGroups", () => {
    beforeAll(() => rig.setPolicy(DEFAULT_POLICY));
    afterAll(() => rig.setPolicy(withGroups));

    it("checks nothing, and claws says it is not configured", async () => {
      expect(await rig.command("interrupt", { target: target("s-web") }, claw("claw-a"))).toMatchObject({ ok: true });
      expect(await rig.command("send", { target: target("s-app1"), text: "x" }, claw("claw-b"))).toMatchObject({
        ok: true,
      });
      expect(await rig.command("claws", {})).toEqual({
        ok: true,
        data: { configured: false, leaseTtlMs: null, escalateAfterMs: null, groups: [], claws: [], sessions: [] },
      });
    });
  });
});
