/**
 * `claw-supervisor policy` in-process against a real nats-server and policy service; a stub answers the
 * registry's session query. The payload limit is tried with the built bin, as a user runs it.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACTIVE_POLICY_KEY, DEFAULT_POLICY, PolicyDocument, type PolicyDocumentInput } from "../../schemas/policy.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { sessionRecord } from "../registry/test-records.js";
import { useBus, useNatsServer } from "../../test/support/bus.js";
import { spawnCli } from "../../test/support/cli-process.js";
import { KV_BUCKET_NAMES, connectBus, ensureBus, openKvBucket, subjects } from "../bus/index.js";
import { startPolicyService, type PolicyService } from "../policy/service.js";
import { runCliInProcess } from "./test-cli.js";

const cli = runCliInProcess;

const record: SessionRecord = sessionRecord({
  sessionId: "s-app",
  host: "h1",
  workspace: "/work/app",
  repo: "app",
  autonomous: true,
  lastSeenAt: 1,
  preview: null,
});

const doc: PolicyDocumentInput = {
  version: 1,
  rules: [
    { id: "ops", role: "operator", allow: ["list", "read", "send"] },
    { id: "bot-app", role: "session", callerId: "bot", target: { repo: "app" }, allow: ["send"] },
  ],
};

describe("claw-supervisor policy", () => {
  const nats = useNatsServer();
  let nc: NatsConnection;
  let dir: string;
  const file = (name: string, content: unknown) =>
    writeFile(join(dir, name), typeof content === "string" ? content : JSON.stringify(content)).then(() =>
      join(dir, name),
    );
  const policy = (...args: string[]) => cli(["policy", ...args, "--nats-url", nats.url]);

  beforeAll(async () => {
    nc = await connectBus({ servers: nats.url, name: "policy-test" });
    dir = await mkdtemp(join(tmpdir(), "policy-cli-"));
  });
  afterAll(async () => {
    await nc?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("says how to create the bucket when it does not exist", async () => {
    expect(await policy("get")).toMatchObject({
      code: 1,
      stderr:
        "claw-supervisor policy: KV bucket codex-policy does not exist: run 'claw-supervisor up', or 'claw-supervisor service <name> --ensure-bus', against this NATS first\n",
    });
  });

  describe("with the bus set up", () => {
    let service: PolicyService | undefined;
    beforeAll(async () => {
      await ensureBus(nc);
      service = await startPolicyService({ nc, logger: pino({ level: "silent" }) });
      nc.subscribe(subjects.registrySessionsGet(), {
        callback: (_err, msg) => {
          const req = msg.json<{ sessionId: string; host?: string }>();
          const found = req.sessionId === record.sessionId && (req.host === undefined || req.host === record.host);
          msg.respond(JSON.stringify({ session: found ? record : null }));
        },
      });
      await nc.flush();
    });
    afterAll(async () => {
      await service?.stop();
    });

    it("prints the built-in default while nothing is stored, and says so", async () => {
      const text = await policy("get");
      expect(text.code).toBe(0);
      expect(JSON.parse(text.stdout)).toEqual(DEFAULT_POLICY);
      expect(text.stderr).toContain("this is the built-in default");
      const json = await policy("get", "--json");
      expect(JSON.parse(json.stdout)).toEqual({
        ok: true,
        data: { inForce: { source: "default", revision: null, document: DEFAULT_POLICY } },
      });
    });

    it("stores a valid document and gets it back with its revision", async () => {
      const set = await policy("set", await file("good.json", doc), "--json");
      expect(set.code).toBe(0);
      const { revision } = JSON.parse(set.stdout).data;
      expect(revision).toEqual(expect.any(Number));
      const got = JSON.parse((await policy("get", "--json")).stdout);
      expect(got).toEqual({
        ok: true,
        data: { inForce: { source: "stored", revision, document: PolicyDocument.parse(doc) } },
      });
      const text = await policy("get");
      expect(text.stderr).toBe("");
      expect(JSON.parse(text.stdout)).toEqual(PolicyDocument.parse(doc));
    });

    it("reads the document from stdin with '-'", async () => {
      const stdin = Object.getOwnPropertyDescriptor(process, "stdin");
      Object.defineProperty(process, "stdin", {
        configurable: true,
        value: Readable.from([Buffer.from(JSON.stringify(doc))]),
      });
      try {
        expect(await policy("set", "-")).toMatchObject({
          code: 0,
          stdout: expect.stringMatching(/^policy stored in KV codex-policy key 'active', revision \d+\n$/),
        });
      } finally {
        if (stdin) Object.defineProperty(process, "stdin", stdin);
      }
    });

    it("refuses an invalid document, naming every bad field, and writes nothing", async () => {
      const revisionInForce = async () => JSON.parse((await policy("get", "--json")).stdout).data.inForce.revision;
      const before = await revisionInForce();
      const bad = {
        version: 1,
        rules: [
          { role: "admin", allow: ["send"] },
          { role: "claw", allow: ["fly"] },
        ],
        loops: { maxHops: 99, cycleWindowMs: 0 },
      };
      const res = await policy("set", await file("bad.json", bad));
      expect(res.code).toBe(1);
      expect(res.stderr).toMatch(
        /^claw-supervisor policy: invalid policy in .*bad\.json: rules\.0\.role: .*rules\.1\.allow\.0: .*loops\.maxHops: .*\n$/,
      );
      expect(await policy("set", await file("broken.json", "{ nope"))).toMatchObject({
        code: 1,
        stderr: expect.stringContaining("broken.json is not JSON"),
      });
      expect(await revisionInForce()).toBe(before);
    });

    it("checks against the active document: exit 0 on allow, 3 on deny", async () => {
      await policy("set", await file("active.json", doc));
      const allow = await policy("check", "--role", "operator", "--verb", "send", "--session", "s-app");
      expect(allow).toMatchObject({
        code: 0,
        stdout: expect.stringMatching(
          /^allow: rule ops lets role 'operator' send \(the policy in force, revision \d+\)\n$/,
        ),
      });
      const deny = await policy("check", "--role", "operator", "--verb", "read", "--raw", "--host", "h1");
      expect(deny).toMatchObject({
        code: 3,
        stdout: expect.stringContaining("deny: no policy rule lets role 'operator' readRaw on host h1"),
      });
      const json = JSON.parse((await policy("check", "--role", "host", "--verb", "spawn", "--json")).stdout);
      expect(json).toMatchObject({ ok: false, code: "denied", allow: false, capability: "spawn", source: "stored" });
      const allowed = await policy("check", "--role", "operator", "--verb", "send", "--json");
      expect(JSON.parse(allowed.stdout)).toMatchObject({ ok: true, data: { allow: true, ruleId: "ops" } });
    });

    it("checks against the document in force when the latest stored one is invalid, and get names the refused one", async () => {
      const set = JSON.parse((await policy("set", await file("in-force.json", doc), "--json")).stdout).data;
      const kv = await openKvBucket(nc, KV_BUCKET_NAMES.policy);
      const bad = await kv.put(ACTIVE_POLICY_KEY, '{"version":1,"rules":[{"role":"root","allow":["send"]}]}');
      await expect
        .poll(async () => JSON.parse((await policy("get", "--json")).stdout).data.refused?.revision)
        .toBe(bad);
      expect(await policy("check", "--role", "operator", "--verb", "send", "--session", "s-app")).toMatchObject({
        code: 0,
        stdout: `allow: rule ops lets role 'operator' send (the policy in force, revision ${set.revision})\n`,
      });
      expect((await policy("get")).stderr).toContain(
        `revision ${bad} was refused and is not in force (revision ${set.revision} is): rules.0.role: `,
      );
    });

    it("uses the session's registry record for selectors and --caller for callerId rules", async () => {
      expect(
        (await policy("check", "--role", "session", "--caller", "bot", "--verb", "send", "--session", "s-app")).code,
      ).toBe(0);
      expect(
        (
          await policy(
            "check",
            "--role",
            "session",
            "--caller",
            "bot",
            "--verb",
            "reply",
            "--session",
            "s-app",
            "--host",
            "h1",
          )
        ).code,
      ).toBe(0);
      expect(
        (await policy("check", "--role", "session", "--caller", "other", "--verb", "send", "--session", "s-app")).code,
      ).toBe(3);
      expect((await policy("check", "--role", "session", "--verb", "send", "--session", "s-app")).code).toBe(3);
      expect(
        (await policy("check", "--role", "session", "--caller", "bot", "--verb", "send", "--host", "h1")).code,
      ).toBe(3);
      expect(await policy("check", "--role", "session", "--verb", "send", "--session", "nope")).toMatchObject({
        code: 4,
        stderr: expect.stringContaining("not_found: the registry does not know session nope"),
      });
    });

    it("checks against a file instead of the active document", async () => {
      const defaults = await file("default.json", DEFAULT_POLICY);
      const res = await cli(["policy", "check", "--file", defaults, "--role", "claw", "--verb", "send"]);
      expect(res).toMatchObject({
        code: 0,
        stdout: expect.stringContaining(`allow: rule claw-all lets role 'claw' send (the policy in ${defaults})`),
      });
      expect(
        (await cli(["policy", "check", "--file", defaults, "--role", "session", "--verb", "read", "--raw"])).code,
      ).toBe(3);
      expect((await cli(["policy", "check", "--file", defaults, "--role", "session", "--verb", "list"])).code).toBe(0);
    });

    it("reset asks for --yes, --dry-run changes nothing, and --yes stores the default audited with the caller", async () => {
      await policy("set", await file("before-reset.json", doc));
      const inForce = async () => JSON.parse((await policy("get", "--json")).stdout).data.inForce;
      const before = await inForce();
      expect(before.source).toBe("stored");
      const unconfirmed = await policy("reset", "--json");
      expect(unconfirmed.code).toBe(2);
      expect(unconfirmed.stderr).toContain("confirm with --yes");
      expect(JSON.parse(unconfirmed.stdout)).toMatchObject({ ok: false, code: "usage" });
      expect((await policy("reset", "--yes", "--dry-run")).code).toBe(2);
      expect((await policy("get", "--yes")).stderr).toContain("--yes applies to 'policy reset' only");
      const dry = await policy("reset", "--dry-run");
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toMatch(
        new RegExp(
          `^policy reset would store the built-in default .*replacing the policy in force, revision ${before.revision}; nothing was changed`,
        ),
      );
      expect(await inForce()).toEqual(before);
      const reset = await policy("reset", "--yes", "--caller", "reset-operator", "--json");
      expect(reset.code, reset.stderr).toBe(0);
      const { revision } = JSON.parse(reset.stdout).data;
      expect(revision).toBeGreaterThan(before.revision);
      expect(await inForce()).toEqual({ source: "stored", revision, document: DEFAULT_POLICY });
      const audit = await cli(["audit", "--caller", "reset-operator", "--json", "--nats-url", nats.url]);
      const records = JSON.parse(audit.stdout).data as { kind: string; detail: { request?: string } }[];
      expect(records.filter((r) => r.kind === "admin").map((r) => r.detail.request)).toEqual([
        "policy.set",
        "policy.set",
      ]);
    });

    it("refuses bad usage with exit 2", async () => {
      expect(await policy()).toMatchObject({ code: 2, stderr: expect.stringContaining("policy needs an action") });
      expect(await policy("burn")).toMatchObject({
        code: 2,
        stderr: expect.stringContaining("unknown policy action 'burn'"),
      });
      expect(await policy("set")).toMatchObject({
        code: 2,
        stderr: expect.stringContaining("policy set takes one file"),
      });
      expect(await policy("get", "--role", "claw")).toMatchObject({
        code: 2,
        stderr: expect.stringContaining("--role applies to 'policy check' only"),
      });
      expect(await policy("check", "--verb", "send")).toMatchObject({
        code: 2,
        stderr: expect.stringContaining("needs --role"),
      });
      expect(await policy("set", await file("caller.json", doc), "--caller", "")).toMatchObject({
        code: 2,
        stderr: expect.stringContaining("--caller:"),
      });
      expect(await policy("check", "--role", "admin", "--verb", "send")).toMatchObject({
        code: 2,
        stderr: expect.stringContaining("--role:"),
      });
      expect(await policy("check", "--role", "claw", "--verb", "send", "--raw")).toMatchObject({
        code: 2,
        stderr: expect.stringContaining("--raw applies to --verb read only"),
      });
      expect((await cli(["policy", "--help"])).stdout).toContain("policy check --role R --verb V");
    });
  });
});

describe("claw-supervisor policy set over the bus's payload limit (the built bin)", () => {
  const MAX_PAYLOAD = 8_192;
  const bus = useBus({ ensure: true, server: { config: `max_payload: ${MAX_PAYLOAD}` } });
  let service: PolicyService | undefined;
  let dir: string;
  beforeAll(async () => {
    service = await startPolicyService({ nc: bus.nc, logger: pino({ level: "silent" }) });
    dir = await mkdtemp(join(tmpdir(), "policy-payload-"));
  });
  afterAll(async () => {
    await service?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const run = async (...args: string[]) => {
    const p = spawnCli(["policy", ...args, "--nats-url", bus.url], {
      PATH: process.env.PATH,
      HOME: dir,
      USER: "tester",
    });
    const closed = new Promise((resolve) => p.child.once("close", resolve));
    const code = await p.exited;
    await closed;
    return { code, stdout: p.stdout(), stderr: p.stderr() };
  };

  it("refuses a valid document larger than the bus accepts with one line and no stack trace; stores nothing", async () => {
    const big: PolicyDocumentInput = {
      version: 1,
      rules: Array.from({ length: 200 }, (_, i) => ({
        id: `rule-${i}-${"x".repeat(40)}`,
        role: "session",
        callerId: `caller-${i}`,
        allow: ["read"],
      })),
    };
    const text = JSON.stringify(big);
    expect(PolicyDocument.safeParse(big).success).toBe(true);
    expect(text.length).toBeGreaterThan(MAX_PAYLOAD);
    const bigFile = join(dir, "big.json");
    await writeFile(bigFile, text);
    const res = await run("set", bigFile);
    expect(res.code).toBe(1);
    expect(res.stdout).toBe("");
    expect(res.stderr).toMatch(
      new RegExp(
        `^claw-supervisor policy: policy document is ${Buffer.byteLength(text)} bytes; the bus accepts at most ${MAX_PAYLOAD} in one message .*nothing was stored\\n$`,
      ),
    );
    expect(res.stderr).not.toMatch(/\n\s+at /);
    expect(service!.policyRevision()).toBeNull();

    // A document that fits is stored as usual.
    const smallFile = join(dir, "small.json");
    await writeFile(smallFile, JSON.stringify(doc));
    const small = await run("set", smallFile, "--json");
    expect(small.code).toBe(0);
    expect(service!.policyRevision()).toBe(JSON.parse(small.stdout).data.revision);
  });
});
