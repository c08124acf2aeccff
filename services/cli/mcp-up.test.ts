/**
 * MCP tokens against a running `claw-supervisor up` (the built bin, its own nats-server with credentials): a
 * session the registry knows (its event published as the gateway user would), `mcp-config` as the operator
 * mints a token the up's MCP edge (the `client` user) accepts, `--revoke` asks up's policy service, which stores
 * the revocation (the `policy` user) and the edge refuses that token at once, while the operator's own
 * credentials cannot write KV codex-mcp-revocations; and an unknown session exits 4.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, PermissionViolationError } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { revocationKey } from "../../schemas/admin-mcp.js";
import { readBusLogin } from "../clients/bus-credentials.js";
import { FakeHost } from "../registry/test-fleet.js";
import { postMcp } from "../mcp-edge/test-edge.js";
import { spawnCli, type CliProcess } from "../../test/support/cli-process.js";
import { until } from "../../test/support/wait.js";

const SESSION = "thr-up-0001";

describe("mcp-config against up's authenticated bus", () => {
  const home = mkdtempSync(path.join(tmpdir(), "claw-mcp-up-"));
  const stateDir = path.join(home, "state");
  const env = { PATH: process.env.PATH, HOME: home, CLAW_SUPERVISOR_STATE_DIR: stateDir };
  let up: CliProcess;
  let mcpUrl: string;
  let natsUrl: string;

  const cli = async (...args: string[]) => {
    const p = spawnCli(args, env);
    const code = await p.exited;
    return { code, stdout: p.stdout(), stderr: p.stderr() };
  };
  const post = (token: string) => postMcp(mcpUrl, token);

  beforeAll(async () => {
    up = spawnCli(
      ["up", "--json", "--gateway-port", "0", "--mcp-port", "0", "--dashboard-port", "0", "--no-host-agent"],
      env,
    );
    const report = JSON.parse(await up.waitForLine((l) => l.startsWith("{"), 60_000)) as {
      nats: { url: string };
      mcp: { url: string };
    };
    mcpUrl = report.mcp.url;
    natsUrl = report.nats.url;
    // A session as a host's events make it known: published with the gateway's credentials.
    const nc = await connect({ servers: report.nats.url, ...readBusLogin(stateDir, "gateway") });
    try {
      await new FakeHost({ nc, js: jetstream(nc) }, "h-up").synced(SESSION);
    } finally {
      await nc.close();
    }
  }, 90_000);
  afterAll(async () => {
    if (up && up.child.exitCode === null && up.child.signalCode === null) {
      up.child.kill("SIGINT");
      await up.exited;
    }
    rmSync(home, { recursive: true, force: true });
  });

  it("mints a token the edge accepts, revokes it through the policy service, and exits 4 for an unknown session", async () => {
    const minted = await until(
      "the registry to know the session",
      async () => {
        const r = await cli("mcp-config", SESSION, "--json");
        return r.code === 0 ? (JSON.parse(r.stdout).data as { token: string; hostId: string }) : undefined;
      },
      { timeoutMs: 30_000, stepMs: 300 },
    );
    expect(minted.hostId).toBe("h-up");
    expect((await post(minted.token)).status).toBe(200);

    const revoked = await cli("mcp-config", SESSION, "--revoke");
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toMatch(/^Revoked the MCP tokens of session thr-up-0001/);
    const refused = await post(minted.token);
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(/were revoked/);

    // The operator's credentials read the bucket but cannot write it: only the policy service does.
    const nc = await connect({ servers: natsUrl, ...readBusLogin(stateDir, "operator") });
    try {
      const kv = await new Kvm(nc).open("codex-mcp-revocations");
      const stored = (await kv.get(revocationKey(SESSION)))!.json<{ by: string }>();
      expect(stored.by).toMatch(/@/);
      let err: unknown = await kv
        .put(revocationKey(SESSION), JSON.stringify({ sessionId: SESSION, revokedAt: 0, by: "x" }))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      while (err instanceof Error && !(err instanceof PermissionViolationError)) err = err.cause;
      expect(err, "the operator's write of KV codex-mcp-revocations").toBeInstanceOf(PermissionViolationError);
      expect((await kv.get(revocationKey(SESSION)))!.json<{ by: string }>()).toEqual(stored);
    } finally {
      await nc.close();
    }

    const unknown = await cli("mcp-config", "not-a-session");
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toContain("no session not-a-session in the registry");
  });
});
