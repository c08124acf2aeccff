/**
 * `claw-supervisor claws`, Claw groups through `policy set`, and the OWNER CLAW column of `sessions` (issue 18),
 * in-process against a real nats-server, registry and policy service; session leases are written with startLease,
 * as a Claw's plugin writes them.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClawGroupsInput } from "../../schemas/claw-groups.js";
import { DEFAULT_POLICY, type PolicyDocumentInput } from "../../schemas/policy.js";
import { useBus } from "../../test/support/bus.js";
import { eventually } from "../../test/support/wait.js";
import { KV_BUCKET_NAMES, leaseKeys, openKvBucket, startLease, type KvBucket, type Lease } from "../bus/index.js";
import { startPolicyService, type PolicyService } from "../policy/service.js";
import { startRegistry, type Registry } from "../registry/registry.js";
import { FakeHost } from "../registry/test-fleet.js";
import { runCliInProcess } from "./test-cli.js";

const S1 = "0195bbbb-1111-7000-8000-000000000001";
const S2 = "0195bbbb-2222-7000-8000-000000000002";
const S3 = "0195bbbb-3333-7000-8000-000000000003";
const TTL_MS = 5_000;

const groups: ClawGroupsInput = {
  groups: [
    { name: "root", claws: ["claw-r"], owns: [], parent: null },
    { name: "app", claws: ["claw-a", "claw-b"], owns: [{ repo: "app" }], parent: "root" },
  ],
  leaseTtlMs: TTL_MS,
};

describe("claw-supervisor claws", () => {
  const bus = useBus({ ensure: true });
  let registry: Registry;
  let policy: PolicyService;
  let kv: KvBucket;
  let dir: string;
  const leases: Lease[] = [];
  const cli = (...argv: string[]) => runCliInProcess([...argv, "--nats-url", bus.url], { USER: "tester" });
  const file = async (name: string, content: unknown) => {
    const path = join(dir, name);
    await writeFile(path, JSON.stringify(content));
    return path;
  };
  const setPolicy = async (doc: PolicyDocumentInput) => {
    const set = await cli("policy", "set", await file("policy.json", doc), "--json");
    expect(set.code).toBe(0);
    const { revision } = JSON.parse(set.stdout).data;
    await eventually(() => expect(policy.policyRevision()).toBe(revision));
  };
  const take = async (clawId: string, key: string) => {
    const lease = startLease({ kv, key, holder: clawId, ttlMs: TTL_MS, standby: false });
    leases.push(lease);
    return { lease, epoch: await lease.acquired };
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "claws-cli-"));
    registry = await startRegistry({ nc: bus.nc, sweepIntervalMs: 60_000 });
    policy = await startPolicyService({ nc: bus.nc, logger: pino({ level: "silent" }) });
    kv = await openKvBucket(bus.nc, KV_BUCKET_NAMES.leases, { mustExist: true });
    const host = new FakeHost(bus, "h1");
    await host.lifecycle("connected");
    await host.synced(S1, { repo: "app" });
    await host.synced(S2, { repo: "app" });
    await host.synced(S3, { repo: "web" });
    await eventually(async () => expect(JSON.parse((await cli("sessions", "--json")).stdout).data.total).toBe(3));
  });
  afterAll(async () => {
    for (const l of leases) l.stop();
    await policy?.stop();
    await registry?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("has --help, refuses bad usage with exit 2, and suggests itself for a typo", async () => {
    const help = await cli("claws", "--help");
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: claw-supervisor claws \[--group G\]/);
    expect(help.stdout).toContain("--group G       only group G");
    expect(await cli("claws", "extra")).toMatchObject({
      code: 2,
      stderr: "claw-supervisor claws: claws takes no arguments, got 'extra'. See 'claw-supervisor claws --help'.\n",
    });
    expect(await cli("claws", "-o", "yaml")).toMatchObject({
      code: 2,
      stderr: "claw-supervisor claws: --output: must be json\n",
    });
    expect(await cli("claws", "--group", "")).toMatchObject({ code: 2 });
    const typo = await runCliInProcess(["claw"]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain("unknown command 'claw': did you mean 'claws'?");
    expect((await runCliInProcess(["--help"])).stdout).toMatch(/\n {2}claws +list the Claw groups/);
    const completion = await runCliInProcess(["completion", "bash"]);
    expect(completion.stdout).toContain("claws");
  });

  it("says in one line when Claw groups are not configured, and how to configure them", async () => {
    const text = await cli("claws");
    expect(text.code).toBe(0);
    expect(text.stdout).toBe(
      "Claw groups are not configured: one Claw drives every session. To share sessions among several Claws, add clawGroups to the policy document ('claw-supervisor policy get > policy.json', edit, 'claw-supervisor policy set policy.json').\n",
    );
    expect(JSON.parse((await cli("claws", "--json")).stdout)).toEqual({
      ok: true,
      data: { configured: false, leaseTtlMs: null, escalateAfterMs: null, groups: [], claws: [], sessions: [] },
    });
    // sessions shows no OWNER CLAW column and no clawOwner field.
    expect((await cli("sessions")).stdout.split("\n")[0]).not.toContain("OWNER CLAW");
    expect(JSON.parse((await cli("sessions", "--json")).stdout).data.sessions[0]).not.toHaveProperty("clawOwner");
  });

  it("policy set refuses Claw groups that do not make a tree, naming each fault", async () => {
    const refused = async (clawGroups: ClawGroupsInput) => {
      const r = await cli("policy", "set", await file("bad.json", { ...DEFAULT_POLICY, clawGroups }));
      expect(r.code).toBe(1);
      return r.stderr;
    };
    expect(await refused({ groups: [{ name: "app", claws: ["a"], owns: [], parent: "nowhere" }] })).toContain(
      "group app's parent nowhere is not a group (null makes it a root, which escalates to people)",
    );
    expect(
      await refused({
        groups: [
          { name: "x", claws: [], owns: [], parent: "y" },
          { name: "y", claws: [], owns: [], parent: "x" },
        ],
      }),
    ).toContain("the parents of group x go round in a cycle (x -> y); one group must have parent null");
    expect(
      await refused({
        groups: [
          { name: "root", claws: ["claw-1"], owns: [], parent: null },
          { name: "app", claws: ["claw-1"], owns: [], parent: "root" },
        ],
      }),
    ).toContain("claw claw-1 is in two groups (root and app); a Claw belongs to one group");
    expect(
      await refused({
        groups: [
          { name: "root", claws: [], owns: [], parent: null },
          { name: "root", claws: [], owns: [], parent: null },
        ],
      }),
    ).toContain("group root is named twice");
    // Nothing was stored.
    expect(JSON.parse((await cli("claws", "--json")).stdout).data.configured).toBe(false);
  });

  it("lists the groups, their Claws and who owns which session, as tables and as JSON", async () => {
    await setPolicy({ ...DEFAULT_POLICY, clawGroups: groups });
    await take("claw-a", leaseKeys.claw("claw-a"));
    const s1 = await take("claw-a", leaseKeys.clawSession(S1));
    const s2 = await take("claw-b", leaseKeys.clawSession(S2));

    const text = await cli("claws");
    expect(text.code).toBe(0);
    const lines = text.stdout.split("\n");
    expect(lines[0]).toMatch(/^GROUP\s+PARENT\s+CLAWS\s+SESSIONS$/);
    expect(lines[1]).toMatch(/^root\s+people\s+claw-r \(never seen\)\s+0$/);
    expect(lines[2]).toMatch(/^app\s+root\s+claw-a \(live, (just now|\ds ago)\), claw-b \(never seen\)\s+2$/);
    expect(lines[3]).toBe("");
    expect(lines[4]).toMatch(/^SESSION\s+OWNER CLAW\s+GROUP\s+EPOCH\s+HELD FOR\s+RENEWED$/);
    expect(lines[5]).toMatch(
      new RegExp(`^000000000001\\s+claw-a\\s+app\\s+${s1.epoch}\\s+\\ds\\s+(just now|\\ds ago)$`),
    );
    expect(lines[6]).toMatch(
      new RegExp(`^000000000002\\s+claw-b\\s+app\\s+${s2.epoch}\\s+\\ds\\s+(just now|\\ds ago)$`),
    );

    const noHeaders = await cli("claws", "--no-headers");
    expect(noHeaders.stdout).not.toContain("GROUP");
    expect(noHeaders.stdout.trimEnd().split("\n")).toHaveLength(4);

    const json = JSON.parse((await cli("claws", "-o", "json")).stdout);
    expect(json).toMatchObject({
      ok: true,
      data: {
        configured: true,
        leaseTtlMs: TTL_MS,
        groups: [
          { name: "root", parent: null },
          { name: "app", parent: "root", owns: [{ repo: "app" }], claws: ["claw-a", "claw-b"] },
        ],
        claws: [
          { clawId: "claw-r", group: "root", live: false, seenAgoMs: null, sessions: 0 },
          { clawId: "claw-a", group: "app", live: true, sessions: 1 },
          { clawId: "claw-b", group: "app", live: false, seenAgoMs: null, sessions: 1 },
        ],
        sessions: [
          { sessionId: S1, clawId: "claw-a", epoch: s1.epoch, group: "app" },
          { sessionId: S2, clawId: "claw-b", epoch: s2.epoch, group: "app" },
        ],
      },
    });

    const root = await cli("claws", "--group", "root");
    expect(root.stdout).toMatch(
      /^GROUP\s+PARENT\s+CLAWS\s+SESSIONS\nroot\s+people\s+claw-r \(never seen\)\s+0\n\nno session is owned by a Claw\n$/,
    );
    expect(await cli("claws", "--group", "nope")).toMatchObject({
      code: 4,
      stderr: "claw-supervisor claws: not_found: no Claw group nope; the groups are root, app\n",
    });
  });

  it("shows each session's owning Claw in sessions, as OWNER CLAW and clawOwner", async () => {
    const table = await cli("sessions");
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(
      /^HOST\s+SESSION\s+WORKSPACE\s+STATUS\s+NEEDS\s+GROUP\s+OWNER\s+OWNER CLAW\s+TOKENS\s+COST\s+LAST SEEN\s+SUMMARY$/,
    );
    const row = (id: string) => lines.find((l) => l.includes(id.slice(-12))) ?? "";
    expect(row(S1)).toMatch(/\s-\s+-\s+claw-a\s+/);
    expect(row(S2)).toMatch(/\s-\s+-\s+claw-b\s+/);
    expect(row(S3)).toMatch(/\s-\s+-\s+-\s+/);
    const json = JSON.parse((await cli("sessions", "--json")).stdout);
    const owners = Object.fromEntries(
      (json.data.sessions as { sessionId: string; clawOwner: string | null }[]).map((s) => [s.sessionId, s.clawOwner]),
    );
    expect(owners).toEqual({ [S1]: "claw-a", [S2]: "claw-b", [S3]: null });
  });
});
