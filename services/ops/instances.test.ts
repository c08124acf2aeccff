/**
 * Issue 17, item 4: the MCP edge and the dashboard keep no state of their own, so N instances behind one address
 * answer alike. Two of each on one bus (the policy rig: real nats-server, registry, gateway, policy service):
 * a token or a sign-in made with one instance works on the other, given the shared secret (and only then), and a
 * revocation made through the policy service reaches both. What each dashboard instance still keeps for itself
 * (sign-out, the sign-in rate limit) is pinned here as documented in deploy/README.md.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OperatorRevokeResult } from "../../schemas/admin-operators.js";
import { until } from "../../test/support/wait.js";
import { runCliInProcess } from "../cli/test-cli.js";
import { requestAdmin } from "../clients/admin-request.js";
import { type Dashboard, startDashboard } from "../dashboard/server/index.js";
import {
  addOperator,
  type DashboardRig,
  http,
  openSocket,
  quietLogger,
  signIn,
  startDashboardRig,
} from "../dashboard/test-dashboard.js";
import { type McpHttpEdge, startMcpHttpEdge } from "../mcp-edge/http.js";
import { postMcp } from "../mcp-edge/test-edge.js";
import { newEdgeSecret, sessionToken } from "../mcp-edge/tokens.js";
import { usePolicyRig } from "../policy/test-policy.js";

describe("MCP edge: two instances", () => {
  const rig = usePolicyRig();
  const secret = newEdgeSecret();
  const edges: McpHttpEdge[] = [];
  afterAll(async () => {
    for (const e of edges) await e.stop();
  });

  it("a session's token works on both; a revocation through the policy service refuses it on both at once", async () => {
    await rig.session("sa");
    edges.push(await startMcpHttpEdge({ nc: rig.bus.nc, secret, port: 0 }));
    edges.push(await startMcpHttpEdge({ nc: await rig.bus.connect(), secret, port: 0 }));
    const [a, b] = edges as [McpHttpEdge, McpHttpEdge];
    const token = sessionToken(secret, "sa");
    expect((await postMcp(a.url, token)).status).toBe(200);
    expect((await postMcp(b.url, token)).status).toBe(200);

    const stateDir = mkdtempSync(path.join(os.tmpdir(), "claw-instances-"));
    try {
      writeFileSync(path.join(stateDir, "mcp-secret"), `${secret}\n`, { mode: 0o600 });
      const revoked = await runCliInProcess([
        ...["mcp-config", "sa", "--revoke", "--caller", "alice", "--json"],
        ...["--state-dir", stateDir, "--nats-url", rig.bus.url],
      ]);
      expect(revoked.code, revoked.stderr).toBe(0);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
    expect((await postMcp(a.url, token)).status).toBe(401);
    expect((await postMcp(b.url, token)).status).toBe(401);
  });

  it("an instance with another secret refuses the token: every instance must read the same secret", async () => {
    const other = await startMcpHttpEdge({ nc: rig.bus.nc, secret: newEdgeSecret(), port: 0 });
    edges.push(other);
    await rig.session("sb");
    expect((await postMcp(edges[0]!.url, sessionToken(secret, "sb"))).status).toBe(200);
    expect((await postMcp(other.url, sessionToken(secret, "sb"))).status).toBe(401);
  });
});

describe("dashboard: two instances", () => {
  const cookieSecret = randomBytes(32).toString("base64url");
  let r: DashboardRig;
  let b: Dashboard;
  beforeAll(async () => {
    r = await startDashboardRig({ cookieSecret });
    b = await startDashboard({ nc: await r.rig.bus.connect(), port: 0, cookieSecret, logger: quietLogger() });
  });
  afterAll(async () => {
    await b?.stop();
    await r?.stop();
  });
  const me = (url: string, cookie: string) => http(url, "/api/me", { headers: { cookie } });

  it("a sign-in on one is a sign-in on the other: its API and its live socket", async () => {
    expect(b.url).not.toBe(r.url);
    const cookie = await signIn(r.url, await addOperator(r.rig.bus.nc, "olga", "operator"));
    const there = await me(b.url, cookie);
    expect(there.status, there.body).toBe(200);
    expect(there.json()).toMatchObject({ ok: true, data: { name: "olga", role: "operator" } });
    const socket = openSocket(b.url, { cookie });
    socket.hello(null);
    await socket.next("snapshot");
    socket.ws.close();
  });

  it("revoking the operator token ends the sign-in on both (each re-checks with the policy service)", async () => {
    const cookie = await signIn(b.url, await addOperator(r.rig.bus.nc, "rita", "viewer"));
    expect((await me(r.url, cookie)).status).toBe(200);
    const revoke = await requestAdmin(
      r.rig.bus.nc,
      "operator",
      "revoke",
      { caller: { role: "operator", id: "test@ops" }, name: "rita" },
      OperatorRevokeResult,
      5_000,
    );
    expect(revoke.ok && revoke.reply.ok, JSON.stringify(revoke)).toBe(true);
    // Within the 5 s the token status is cached for, on each instance.
    for (const url of [r.url, b.url])
      await until(`the revoked sign-in refused by ${url}`, async () => (await me(url, cookie)).status === 401, 10_000);
  });

  it("sign-out is per instance (deploy/README.md): the other instance still accepts the cookie with its key", async () => {
    const cookie = await signIn(r.url, await addOperator(r.rig.bus.nc, "ivan", "operator"));
    const out = await http(r.url, "/api/signout", { method: "POST", body: {}, headers: { origin: r.url, cookie } });
    expect(out.status, out.body).toBe(200);
    expect((await me(r.url, cookie)).status).toBe(401);
    expect((await me(b.url, cookie)).status).toBe(200);
  });

  it("an instance with another cookie secret refuses the cookie: the secret must be the same on every instance", async () => {
    const cookie = await signIn(r.url, await addOperator(r.rig.bus.nc, "pia", "operator"));
    const stranger = await startDashboard({
      nc: r.rig.bus.nc,
      port: 0,
      cookieSecret: randomBytes(32).toString("base64url"),
      logger: quietLogger(),
    });
    try {
      expect((await me(stranger.url, cookie)).status).toBe(401);
    } finally {
      await stranger.stop();
    }
  });
});
