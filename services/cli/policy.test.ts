/** `claw-supervisor policy` in-process against a real nats-server; a stub answers the registry's session query. */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_POLICY, PolicyDocument, type PolicyDocumentInput } from "../../schemas/policy.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { sessionRecord } from "../registry/test-records.js";
import { useNatsServer } from "../../test/support/bus.js";
import { connectBus, ensureBus, subjects } from "../bus/index.js";
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
    beforeAll(async () => {
      await ensureBus(nc);
      nc.subscribe(subjects.registrySessionsGet(), {
        callback: (_err, msg) => {
          const req = msg.json<{ sessionId: string; host?: string }>();
          const found = req.sessionId === record.sessionId && (req.host === undefined || req.host === record.host);
          msg.respond(JSON.stringify({ session: found ? record : null }));
        },
      });
      await nc.flush();
    });

    it("prints the built-in default while nothing is stored, and says so", async () => {
      const text = await policy("get");
      expect(text.code).toBe(0);
      expect(JSON.parse(text.stdout)).toEqual(DEFAULT_POLICY);
      expect(text.stderr).toContain("this is the built-in default");
      const json = await policy("get", "--json");
      expect(JSON.parse(json.stdout)).toEqual({ source: "default", policy: DEFAULT_POLICY });
    });

    it("stores a valid document and gets it back with its revision", async () => {
      const set = await policy("set", await file("good.json", doc), "--json");
      expect(set.code).toBe(0);
      const { revision } = JSON.parse(set.stdout);
      expect(revision).toEqual(expect.any(Number));
      const got = JSON.parse((await policy("get", "--json")).stdout);
      expect(got).toEqual({ source: "kv", revision, policy: PolicyDocument.parse(doc) });
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
      const before = JSON.parse((await policy("get", "--json")).stdout).revision;
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
      expect(JSON.parse((await policy("get", "--json")).stdout).revision).toBe(before);
    });

    it("checks against the active document: exit 0 on allow, 3 on deny", async () => {
      await policy("set", await file("active.json", doc));
      const allow = await policy("check", "--role", "operator", "--verb", "send", "--session", "s-app");
      expect(allow).toMatchObject({
        code: 0,
        stdout: expect.stringMatching(
          /^allow: rule ops lets role 'operator' send \(the active policy, revision \d+\)\n$/,
        ),
      });
      const deny = await policy("check", "--role", "operator", "--verb", "read", "--raw", "--host", "h1");
      expect(deny).toMatchObject({
        code: 3,
        stdout: expect.stringContaining("deny: no policy rule lets role 'operator' readRaw on host h1"),
      });
      const json = JSON.parse((await policy("check", "--role", "host", "--verb", "spawn", "--json")).stdout);
      expect(json).toMatchObject({ allow: false, capability: "spawn", code: "denied", source: "kv" });
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
        code: 1,
        stderr: expect.stringContaining("the registry does not know session nope"),
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
      expect((await cli(["policy", "check", "--file", defaults, "--role", "session", "--verb", "read"])).code).toBe(0);
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
