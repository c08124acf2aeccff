/**
 * The policy fails closed and is changed through the policy service: a real nats-server, registry, gateway and
 * host agent (the policy rig), the policy service restarted over what KV holds, operator requests on
 * `codex.admin.policy.*`, and the built `claw-supervisor` bin run as a child process.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PolicyGetResult, PolicySetResult } from "../../schemas/admin.js";
import { ACTIVE_POLICY_KEY, DEFAULT_POLICY, PolicyDocument, type PolicyDocumentInput } from "../../schemas/policy.js";
import { KV_BUCKET_NAMES, subjects } from "../bus/index.js";
import { spawnCli } from "../../test/support/cli-process.js";
import { commandIdOf } from "./ledger.js";
import { usePolicyRig } from "./test-policy.js";

/** Lets operators list only: not the default (which lets them send), and not deny-all. */
const listOnly: PolicyDocumentInput = {
  version: 1,
  rules: [{ id: "ops-list", role: "operator", allow: ["list"] }],
};
const invalidDoc = '{"version":1,"rules":[{"role":"root","allow":["everything"]}]}';

describe("policy: fails closed, changed through the policy service with its caller", () => {
  const rig = usePolicyRig();
  let home: string;
  let env: NodeJS.ProcessEnv;

  /** The built CLI against the rig's bus; resolves once it has exited and its output is complete. */
  async function cli(...args: string[]): Promise<{ code: number | string; stdout: string; stderr: string }> {
    const p = spawnCli([...args, "--nats-url", rig.bus.url], env);
    const closed = new Promise((resolve) => p.child.once("close", resolve));
    const code = await p.exited;
    await closed;
    return { code, stdout: p.stdout(), stderr: p.stderr() };
  }
  const request = async (op: string, body: unknown) =>
    (await rig.bus.nc.request(subjects.admin("policy", op), JSON.stringify(body), { timeout: 10_000 })).json();
  const policyKv = () => new Kvm(rig.bus.nc).open(KV_BUCKET_NAMES.policy);

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), "policy-admin-"));
    env = { PATH: process.env.PATH, HOME: home, USER: "tester", CLAW_SUPERVISOR_STATE_DIR: join(home, "state") };
    await rig.session("s1");
  });
  afterAll(async () => {
    if (home) await rm(home, { recursive: true, force: true });
  });

  it("answers every bad request on codex.admin.policy.* with invalid, naming what is wrong, and keeps serving", async () => {
    const raw = async (subject: string, body: string) =>
      (await rig.bus.nc.request(subject, body, { timeout: 10_000 })).json<{
        ok: boolean;
        code: string;
        message: string;
      }>();
    expect(await raw(subjects.admin("policy", "set"), "{ not json")).toMatchObject({
      ok: false,
      code: "invalid",
      message: expect.stringContaining("not JSON"),
    });
    expect(await raw(subjects.admin("policy", "set"), JSON.stringify({ document: listOnly }))).toMatchObject({
      ok: false,
      code: "invalid",
      message: expect.stringMatching(/^invalid policy set request: caller: /),
    });
    expect(
      await raw(
        subjects.admin("policy", "set"),
        JSON.stringify({ caller: { role: "claw", id: "c" }, document: listOnly, extra: 1 }),
      ),
    ).toMatchObject({ code: "invalid", message: expect.stringMatching(/caller\.role: .*extra/) });
    expect(
      await raw(subjects.admin("policy", "set"), JSON.stringify({ caller: { role: "operator", id: "o" } })),
    ).toMatchObject({
      code: "invalid",
      message: expect.stringMatching(/^invalid policy set request: document: /),
    });
    expect(await raw(subjects.admin("policy", "burn"), "{}")).toMatchObject({
      code: "invalid",
      message: expect.stringContaining("codex.admin.policy.burn is not an operator request"),
    });
    expect(await raw(subjects.admin("policy", "get"), "null")).toMatchObject({ code: "invalid" });
    // Still serving, and nothing was stored.
    expect(PolicyGetResult.parse(await request("get", { caller: { role: "operator", id: "o" } }))).toMatchObject({
      ok: true,
      inForce: { source: "default", revision: null },
    });
  });

  it("records the caller of policy set in AUDIT, and of a refused set, which stores nothing", async () => {
    const file = join(home, "list-only.json");
    await writeFile(file, JSON.stringify(listOnly));
    const set = await cli("policy", "set", file, "--caller", "alice@desk", "--json");
    expect(set).toMatchObject({ code: 0, stderr: "" });
    const { revision } = JSON.parse(set.stdout).data;
    expect(revision).toEqual(expect.any(Number));
    expect(rig.policy!.policyRevision()).toBe(revision);
    await expect
      .poll(async () => (await rig.audit()).find((r) => r.kind === "policy" && r.commandId === `policy-${revision}`))
      .toMatchObject({
        caller: { role: "operator", id: "alice@desk" },
        outcome: { ok: true },
        detail: { revision, via: "policy set", inForce: "stored" },
      });
    const admin = (await rig.audit()).filter((r) => r.kind === "admin" && r.caller?.id === "alice@desk");
    expect(admin.map((r) => r.outcome?.ok ?? null)).toEqual([null, true]);
    expect(admin[1]!.detail).toMatchObject({ request: "policy.set", revision });

    const bad = {
      version: 1,
      rules: [
        { role: "admin", allow: ["send"] },
        { role: "claw", allow: ["fly"] },
      ],
      loops: { maxHops: 99, cycleWindowMs: 0 },
    };
    const refused = PolicySetResult.parse(
      await request("set", {
        caller: { role: "operator", id: "mallory@desk" },
        requestId: "refused-set-1",
        document: bad,
      }),
    );
    expect(refused).toMatchObject({ ok: false, code: "invalid" });
    expect(refused.ok === false && refused.message).toMatch(/rules\.0\.role: .*rules\.1\.allow\.0: .*loops\.maxHops: /);
    await expect
      .poll(async () =>
        (await rig.audit()).find(
          (r) =>
            r.kind === "admin" &&
            r.commandId === commandIdOf({ role: "operator", id: "mallory@desk" }, "refused-set-1"),
        ),
      )
      .toMatchObject({
        caller: { role: "operator", id: "mallory@desk" },
        outcome: { ok: false, code: "invalid", message: expect.stringContaining("rules.1.allow.0") },
      });
    expect((await (await policyKv()).get(ACTIVE_POLICY_KEY))?.revision).toBe(revision);
    expect(rig.policy!.policyRevision()).toBe(revision);
  });

  it("after a restart over an invalid latest document, applies the last valid one; policy get shows both", async () => {
    const valid = rig.policy!.policyRevision()!;
    await rig.policy!.stop();
    rig.policy = undefined;
    const bad = await (await policyKv()).put(ACTIVE_POLICY_KEY, invalidDoc);
    const policy = await rig.startPolicy();
    expect(policy.policyInForce()).toEqual({
      inForce: { document: PolicyDocument.parse(listOnly), revision: valid, source: "stored" },
      refused: { revision: bad, reason: expect.stringContaining("rules.0.role") },
    });
    // The document in force decides: operators may list, not send (the default would let them).
    expect(await rig.command("send", { target: { sessionId: "s1" }, text: "hi" })).toMatchObject({
      ok: false,
      code: "denied",
      reason: "no_rule",
    });
    // Written straight into the bucket: refused, writer unknown.
    await expect
      .poll(async () => (await rig.audit()).find((r) => r.commandId === `policy-${bad}`))
      .toMatchObject({
        kind: "policy",
        caller: null,
        outcome: { ok: false, code: "invalid" },
        detail: {
          revision: bad,
          via: "bucket",
          writer: expect.stringContaining("written directly into KV codex-policy"),
        },
      });

    const text = await cli("policy", "get");
    expect(text.code).toBe(0);
    expect(JSON.parse(text.stdout)).toEqual(PolicyDocument.parse(listOnly));
    expect(text.stderr).toMatch(
      new RegExp(
        `^claw-supervisor policy: revision ${bad} was refused and is not in force \\(revision ${valid} is\\): rules\\.0\\.role: `,
      ),
    );
    const json = await cli("policy", "get", "--json");
    expect(JSON.parse(json.stdout)).toEqual({
      ok: true,
      data: {
        inForce: { document: PolicyDocument.parse(listOnly), revision: valid, source: "stored" },
        refused: { revision: bad, reason: expect.stringContaining("rules.0.role") },
      },
    });
    // check evaluates the document in force, not the refused one and not the default.
    expect(await cli("policy", "check", "--role", "operator", "--verb", "list")).toMatchObject({
      code: 0,
      stdout: `allow: rule ops-list lets role 'operator' list (the policy in force, revision ${valid})\n`,
    });
    expect((await cli("policy", "check", "--role", "operator", "--verb", "send")).code).toBe(3);

    // With no policy service answering, get and check read the bucket's history and say so.
    await rig.policy!.stop();
    rig.policy = undefined;
    const fallback = await cli("policy", "get", "--json");
    expect(fallback.code).toBe(0);
    expect(JSON.parse(fallback.stdout).data).toMatchObject({
      inForce: { revision: valid, source: "stored" },
      refused: { revision: bad },
      fallback: expect.stringContaining("no policy service is answering on codex.admin.policy.get"),
    });
    expect(fallback.stderr).toContain("read KV codex-policy's history instead");
    expect(await cli("policy", "check", "--role", "operator", "--verb", "list")).toMatchObject({ code: 0 });
    expect(await cli("policy", "set", join(home, "list-only.json"))).toMatchObject({
      code: 8,
      stderr: expect.stringContaining("no policy service is answering on codex.admin.policy.set"),
    });
    await rig.startPolicy();
  });

  it("with documents stored but none valid, denies everything after a restart, never the default", async () => {
    await rig.policy!.stop();
    rig.policy = undefined;
    const kv = await policyKv();
    await kv.purge(ACTIVE_POLICY_KEY);
    await kv.put(ACTIVE_POLICY_KEY, "{ not json");
    const last = await kv.put(ACTIVE_POLICY_KEY, invalidDoc);
    const policy = await rig.startPolicy();
    expect(policy.policyInForce()).toMatchObject({
      inForce: { source: "fail-closed", revision: null, document: { rules: [] } },
      refused: { revision: last },
    });
    expect(policy.policyInForce().inForce.document).not.toEqual(DEFAULT_POLICY);
    // The default lets an operator send and a session read; deny-all lets no one.
    expect(await rig.command("send", { target: { sessionId: "s1" }, text: "hi" })).toMatchObject({
      ok: false,
      code: "denied",
    });
    expect(
      await rig.command("read", { target: { sessionId: "s1" } }, { role: "session", callerId: "s1" }),
    ).toMatchObject({ ok: false, code: "denied" });
    expect(rig.ops).toEqual([]);
    const get = await cli("policy", "get");
    expect(get.code).toBe(0);
    expect(JSON.parse(get.stdout).rules).toEqual([]);
    expect(get.stderr).toContain("no stored document is valid: every command is denied (fail closed)");
    expect(await cli("policy", "check", "--role", "operator", "--verb", "list")).toMatchObject({
      code: 3,
      stdout: expect.stringContaining("the fail-closed policy"),
    });
    // A valid document set through the service brings it back.
    const set = PolicySetResult.parse(
      await request("set", { caller: { role: "operator", id: "alice@desk" }, document: DEFAULT_POLICY }),
    );
    expect(set).toMatchObject({ ok: true });
    expect(rig.policy!.policyInForce()).toMatchObject({ inForce: { source: "stored" }, refused: null });
  });
});
