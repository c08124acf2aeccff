// `token create|revoke` ask the policy service's token path (codex.admin.token.*), which writes KV
// codex-host-tokens and audits the change with the operator; `list` reads the bucket. A real nats-server and a
// real policy service with the gateway's token store.
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useBus } from "../../test/support/bus.js";
import { STREAM_NAMES, readStream } from "../bus/index.js";
import { startPolicyService, type PolicyService } from "../policy/index.js";
import { hostTokenAdmin } from "../rpc-gateway/index.js";
import { runCliInProcess } from "./test-cli.js";

const cli = runCliInProcess;

describe("claw-supervisor token", () => {
  const nats = useBus({ ensure: true });
  let policy: PolicyService;
  beforeAll(async () => {
    policy = await startPolicyService({
      nc: nats.nc,
      logger: pino({ level: "silent" }),
      hostTokens: hostTokenAdmin(nats.nc),
    });
  });
  afterAll(() => policy?.stop());

  it("records who created and revoked a token in the audit trail, never the secret", async () => {
    const created = await cli(["token", "create", "host-audit", "--json", "--caller", "erin", "--nats-url", nats.url]);
    expect(created.code, created.stderr).toBe(0);
    const { token, tokenId } = JSON.parse(created.stdout).data;
    const revoked = await cli(["token", "revoke", "host-audit", "--caller", "frank", "--nats-url", nats.url]);
    expect(revoked.code, revoked.stderr).toBe(0);
    const records: { kind: string; caller: { id: string } | null; detail: { request?: string; tokenId?: string } }[] =
      [];
    for await (const m of readStream(nats.nc, STREAM_NAMES.audit))
      records.push(JSON.parse(new TextDecoder().decode(m.data)));
    const admin = records.filter((r) => r.kind === "admin" && r.detail.request?.startsWith("token."));
    expect(admin.map((r) => [r.detail.request, r.caller?.id])).toEqual([
      ["token.create", "erin"],
      ["token.create", "erin"],
      ["token.revoke", "frank"],
      ["token.revoke", "frank"],
    ]);
    expect(admin[1]?.detail.tokenId).toBe(tokenId);
    expect(JSON.stringify(records)).not.toContain(token.slice(21));
  });

  it("says no policy service answers, and changes nothing, when none runs", async () => {
    await policy.stop();
    try {
      const r = await cli(["token", "create", "host-x", "--nats-url", nats.url]);
      expect(r).toMatchObject({ code: 8, stderr: expect.stringContaining("no policy service is answering") });
      const listed = await cli(["token", "list", "--nats-url", nats.url]);
      expect(listed).toMatchObject({ code: 8, stderr: expect.stringContaining("no policy service is answering") });
    } finally {
      policy = await startPolicyService({
        nc: nats.nc,
        logger: pino({ level: "silent" }),
        hostTokens: hostTokenAdmin(nats.nc),
      });
    }
    const listed = JSON.parse(
      (await cli(["token", "list", "--json", "--host", "host-x", "--nats-url", nats.url])).stdout,
    ).data;
    expect(listed.tokens).toEqual([]);
  });

  it("never sends the secret over the bus: the policy service gets the token's id and SHA-256 only", async () => {
    const seen: string[] = [];
    const spy = nats.nc.subscribe(">", {
      callback: (_e, m) => {
        seen.push(new TextDecoder().decode(m.data));
      },
    });
    await nats.nc.flush();
    const created = await cli(["token", "create", "host-spy", "--json", "--nats-url", nats.url]);
    expect(created.code, created.stderr).toBe(0);
    const { token, tokenId } = JSON.parse(created.stdout).data;
    await nats.nc.flush();
    spy.unsubscribe();
    expect(seen.some((d) => d.includes(tokenId))).toBe(true);
    expect(seen.filter((d) => d.includes(token.slice(21)))).toEqual([]);
  });

  it("creates a token, printing the secret once with where to store it, and lists it without the secret", async () => {
    const created = await cli(["token", "create", "host-a", "--nats-url", nats.url]);
    expect(created.code).toBe(0);
    const token = /^  (cst_[0-9a-f]{16}_[A-Za-z0-9_-]{43})$/m.exec(created.stdout)?.[1] as string;
    expect(token).toBeDefined();
    expect(created.stdout).toContain("mode 0600");
    expect(created.stdout).toContain("umask 077");

    const listed = await cli(["token", "list"], { NATS_URL: nats.url });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${token.slice(4, 20)}  host-a +\\d{4}-.*Z  -$`, "m"));
    expect(listed.stdout).not.toContain(token.slice(21));

    const json = await cli(["token", "create", "host-b", "--json", "--nats-url", nats.url]);
    const record = JSON.parse(json.stdout).data;
    expect(record).toMatchObject({
      hostId: "host-b",
      tokenId: expect.stringMatching(/^[0-9a-f]{16}$/),
      token: expect.stringMatching(/^cst_/),
      createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
      revokedAt: null,
    });
    const listedJson = JSON.parse(
      (await cli(["token", "list", "--json", "--host", "host-b", "--nats-url", nats.url])).stdout,
    ).data;
    expect(listedJson.tokens).toEqual([
      { tokenId: record.tokenId, hostId: "host-b", createdAt: record.createdAt, revokedAt: null },
    ]);
    expect(JSON.stringify(listedJson)).not.toContain(record.token);
  });

  it("revokes a host's tokens, shows them revoked, and says when there is nothing left to revoke", async () => {
    await cli(["token", "create", "host-r", "--nats-url", nats.url]);
    const revoked = await cli(["token", "revoke", "host-r", "--nats-url", nats.url]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toMatch(/^revoked 1 token\(s\) of host host-r: [0-9a-f]{16}\n$/);
    const listed = JSON.parse(
      (await cli(["token", "list", "--json", "--host", "host-r", "--nats-url", nats.url])).stdout,
    ).data;
    expect(listed.tokens[0].revokedAt).toEqual(expect.stringMatching(/Z$/));
    const again = await cli(["token", "revoke", "host-r", "--nats-url", nats.url]);
    expect(again).toMatchObject({
      code: 4,
      stderr: "claw-supervisor token: not_found: host host-r has no active token\n",
    });
    const wrongHost = await cli([
      "token",
      "revoke",
      "host-a",
      "--token-id",
      listed.tokens[0].tokenId,
      "--nats-url",
      nats.url,
    ]);
    expect(wrongHost).toMatchObject({
      code: 4,
      stderr: expect.stringContaining(`host host-a has no token ${listed.tokens[0].tokenId}`),
    });
  });

  it("refuses bad input with one-line errors", async () => {
    expect(await cli(["token", "create", "a.b", "--nats-url", nats.url])).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/^claw-supervisor token: invalid host id "a\.b": .*'\.'.*\n$/),
    });
    expect(await cli(["token", "create", "host-a"])).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(
        /^claw-supervisor token: no running 'claw-supervisor up' found .*pass --nats-url\/NATS_URL\n$/,
      ),
    });
    expect(await cli(["token", "create", "--nats-url", nats.url])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("takes exactly one host id, got 0"),
    });
    expect(await cli(["token", "burn", "host-a"])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("unknown token action 'burn'"),
    });
    expect(await cli(["token"])).toMatchObject({ code: 2, stderr: expect.stringContaining("token needs an action") });
    expect(await cli(["token", "list", "--token-id", "x", "--nats-url", nats.url])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--token-id applies to 'token revoke' only"),
    });
    const unreachable = await cli(["token", "list", "--nats-url", "nats://127.0.0.1:1"]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toMatch(
      /^claw-supervisor token: cannot connect to NATS at nats:\/\/127\.0\.0\.1:1: .*\n$/,
    );
    expect(await cli(["token", "list", "--host", "a.b", "--nats-url", nats.url])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--host: invalid host id "a.b"'),
    });
    expect(await cli(["token", "revoke", "a b", "--nats-url", nats.url])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('invalid host id "a b"'),
    });
    expect((await cli(["token", "lst"])).stderr).toContain("(did you mean 'list'?)");
    expect((await cli(["token", "--help"])).stdout).toContain("token create <hostId>");
  });
});
