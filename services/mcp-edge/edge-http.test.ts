/**
 * The edge over real Streamable HTTP, and its resources over the in-memory transport, on the real command
 * path (policy rig: real nats-server, registry, gateway, policy service). Auth: no token, a wrong token, a token
 * of another secret, a session token edited to name another session, an expired, an old-format, a revoked
 * token (revoked through the policy service, audited with the operator) and a well-signed token of a session the
 * registry does not know are refused (401) before MCP runs; a valid token acts only as its own session; a
 * spawned session's token past its expiry works while it lives.
 * Reads: by default a session lists its peers but reads only its own transcript; a policy rule opens others.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { createHmac } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_POLICY } from "../../schemas/policy.js";
import { KV_BUCKET_NAMES, openKvBucket } from "../bus/index.js";
import { runCliInProcess } from "../cli/test-cli.js";
import { oneTurnRead, usePolicyRig } from "../policy/test-policy.js";
import { eventually } from "../../test/support/wait.js";
import { startMcpHttpEdge, type McpHttpEdge } from "./http.js";
import { edgeClient } from "./test-edge.js";
import { newEdgeSecret, sessionToken, ticketToken } from "./tokens.js";

const secret = newEdgeSecret();
const DAY = 86_400_000;
/** A token issued nine days ago with a week's lifetime: expired two days ago. */
const lastWeek = () => ({ nowMs: Date.now() - 9 * DAY, ttlMs: 7 * DAY });
const messageOf = async (res: Response) => ((await res.json()) as { error: { message: string } }).error.message;

describe("MCP edge over Streamable HTTP", () => {
  const rig = usePolicyRig();
  let edge: McpHttpEdge;

  beforeAll(async () => {
    await rig.session("sa");
    await rig.session("sb");
    rig.answer = (req) => (req.op === "read" ? oneTurnRead([{ role: "user", text: "hello" }]) : { ok: true, data: {} });
    edge = await startMcpHttpEdge({ nc: rig.bus.nc, secret, port: 0, maxBodyBytes: 8_192 });
  }, 60_000);
  afterAll(() => edge?.stop());

  const post = (
    headers: Record<string, string>,
    body: string = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
  ) =>
    fetch(edge.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
      body,
    });

  async function connectAs(token: string): Promise<Client> {
    const client = new Client({ name: "http-test", version: "0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(edge.url), {
        requestInit: { headers: { authorization: `Bearer ${token}` } },
      }),
    );
    return client;
  }

  it("a session's token lists sessions as that session, over a real HTTP round trip", async () => {
    const client = await connectAs(sessionToken(secret, "sb"));
    const r = (await client.callTool({ name: "codex_sessions_list", arguments: {} })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    const sessions = (r.structuredContent as { sessions: { sessionId: string; self: boolean }[] }).sessions;
    expect(sessions.filter((s) => s.self).map((s) => s.sessionId)).toEqual(["sb"]);
    await client.close();
    const request = (await rig.audit()).filter((x) => x.kind === "request" && x.verb === "list").at(-1)!;
    expect(request.caller).toEqual({ id: "sb", role: "session" });
  });

  it("refuses no token, a wrong token, another secret's token and a token edited to name another session", async () => {
    expect((await post({})).status).toBe(401);
    expect((await post({ authorization: "Bearer not-a-token" })).status).toBe(401);
    expect((await post({ authorization: `Bearer ${sessionToken(newEdgeSecret(), "sa")}` })).status).toBe(401);
    const parts = sessionToken(secret, "sb").split(".");
    const forged = [...parts.slice(0, 2), Buffer.from("sa").toString("base64url"), ...parts.slice(3)].join(".");
    const res = await post({ authorization: `Bearer ${forged}` });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/invalid_token/);
    await expect(connectAs(forged)).rejects.toThrow();
  });

  it("refuses an expired session token with 401, saying it expired and how to get a new one", async () => {
    const res = await post({ authorization: `Bearer ${sessionToken(secret, "sa", lastWeek())}` });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/error="invalid_token", error_description="expired"/);
    expect(await messageOf(res)).toMatch(
      /^this MCP token of session sa expired at .*: get a new one with 'claw-supervisor mcp-config sa'/,
    );
  });

  it("refuses a version 1 token with a message saying to get a new one", async () => {
    const body = `cmt1.s.${Buffer.from("sa").toString("base64url")}`;
    const old = `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
    const res = await post({ authorization: `Bearer ${old}` });
    expect(res.status).toBe(401);
    expect(await messageOf(res)).toMatch(/old format \(cmt1.*mcp-config/);
  });

  it("refuses a well-signed token of a session the registry does not know", async () => {
    for (const token of [sessionToken(secret, "not-a-session"), sessionToken(secret, "sa", { hostId: "h9" })]) {
      const res = await post({ authorization: `Bearer ${token}` });
      expect(res.status).toBe(401);
      expect(await messageOf(res)).toMatch(/which the registry does not know/);
    }
  });

  it("accepts a spawned session's ticket token past its expiry while its session lives, as that session", async () => {
    const kv = await openKvBucket(rig.bus.nc, KV_BUCKET_NAMES.commands);
    const spawnOf = (sessionId: string) =>
      JSON.stringify({ state: "done", atMs: Date.now(), result: { ok: true, data: { hostId: "h1", sessionId } } });
    await kv.put("spawn-of-sb", spawnOf("sb"));
    await kv.put("spawn-of-ghost", spawnOf("ghost"));
    const client = await connectAs(ticketToken(secret, "spawn-of-sb", lastWeek()));
    const r = (await client.callTool({ name: "codex_sessions_list", arguments: {} })) as CallToolResult;
    const sessions = (r.structuredContent as { sessions: { sessionId: string; self: boolean }[] }).sessions;
    expect(sessions.filter((s) => s.self).map((s) => s.sessionId)).toEqual(["sb"]);
    await client.close();
    const gone = await post({ authorization: `Bearer ${ticketToken(secret, "spawn-of-ghost", lastWeek())}` });
    expect(gone.status).toBe(401);
    expect(await messageOf(gone)).toMatch(/expired at .* session ghost is no longer live/);
  });

  it("refuses a revoked token at once (mcp-config --revoke); a token made afterwards works", async () => {
    const stateDir = mkdtempSync(path.join(os.tmpdir(), "claw-mcp-revoke-"));
    writeFileSync(path.join(stateDir, "mcp-secret"), `${secret}\n`, { mode: 0o600 });
    const cli = (...args: string[]) =>
      runCliInProcess(["mcp-config", ...args, "--state-dir", stateDir, "--nats-url", rig.bus.url]);
    const first = await cli("sa", "--json");
    expect(first.code, first.stderr).toBe(0);
    const issued = JSON.parse(first.stdout).data as { token: string; hostId: string };
    expect(issued.hostId).toBe("h1");
    const other = sessionToken(secret, "sb");
    expect((await post({ authorization: `Bearer ${issued.token}` })).status).toBe(200);

    const revoked = await cli("sa", "--revoke", "--caller", "alice", "--json");
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(JSON.parse(revoked.stdout).data).toMatchObject({ sessionId: "sa", hostId: "h1", by: "alice" });
    // The policy service stored it (codex.admin.mcp.revoke) and audited it with the operator who asked.
    const audited = (await rig.audit()).filter(
      (r) => r.kind === "admin" && (r.detail as { request?: string }).request === "mcp.revoke",
    );
    expect(audited.map((r) => [r.caller, r.target, r.outcome?.ok ?? null])).toEqual([
      [{ role: "operator", id: "alice" }, { hostId: "h1", sessionId: "sa" }, null],
      [{ role: "operator", id: "alice" }, { hostId: "h1", sessionId: "sa" }, true],
    ]);
    const refused = await post({ authorization: `Bearer ${issued.token}` });
    expect(refused.status).toBe(401);
    expect(refused.headers.get("www-authenticate")).toMatch(/error_description="revoked"/);
    expect(await messageOf(refused)).toMatch(/session sa issued before .* were revoked \(by alice\)/);
    // Another session's tokens are untouched; a token printed after the revocation works.
    expect((await post({ authorization: `Bearer ${other}` })).status).toBe(200);
    const fresh = JSON.parse((await cli("sa", "--json")).stdout).data as { token: string };
    expect((await post({ authorization: `Bearer ${fresh.token}` })).status).toBe(200);
  });

  it("checks Host and Origin and bounds the body", async () => {
    const token = sessionToken(secret, "sa");
    expect((await post({ authorization: `Bearer ${token}` })).status).toBe(200);
    expect((await post({ authorization: `Bearer ${token}`, origin: "http://evil.example" })).status).toBe(403);
    const wrongHost = await fetch(edge.url.replace("127.0.0.1", "localhost"), {
      method: "POST",
      headers: {
        authorization: `Bearer ${token}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: "{}",
    });
    expect(wrongHost.status).not.toBe(403); // localhost:<port> is this edge too
    const big = JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name: "claw_ask", arguments: { question: "x".repeat(10_000) } },
    });
    expect((await post({ authorization: `Bearer ${token}` }, big)).status).toBe(413);
    expect((await post({ authorization: `Bearer ${token}` }, "{not json")).status).toBe(400);
    // Still serving after the refusals.
    expect((await post({ authorization: `Bearer ${token}` })).status).toBe(200);
  });

  it("refuses a Host header that is not the edge (DNS rebinding)", async () => {
    const { request } = await import("node:http");
    const status = await new Promise<number>((resolve, reject) => {
      const url = new URL(edge.url);
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: "POST",
          headers: {
            host: "attacker.example",
            authorization: `Bearer ${sessionToken(secret, "sa")}`,
            "content-type": "application/json",
          },
        },
        (res) => resolve(res.statusCode ?? 0),
      );
      req.on("error", reject);
      req.end("{}");
    });
    expect(status).toBe(403);
  });
});

describe("the default read policy over HTTP", () => {
  const rig = usePolicyRig();
  let edge: McpHttpEdge;
  let client: Client;

  beforeAll(async () => {
    await rig.session("sa");
    await rig.session("sb");
    rig.answer = (req) => (req.op === "read" ? oneTurnRead([{ role: "user", text: "hello" }]) : { ok: true, data: {} });
    edge = await startMcpHttpEdge({ nc: rig.bus.nc, secret, port: 0 });
    client = new Client({ name: "http-test", version: "0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL(edge.url), {
        requestInit: { headers: { authorization: `Bearer ${sessionToken(secret, "sa", { hostId: "h1" })}` } },
      }),
    );
  }, 60_000);
  afterAll(async () => {
    await client?.close();
    await edge?.stop();
  });

  const read = async (sessionId: string) =>
    (await client.callTool({ name: "codex_session_read", arguments: { sessionId } })) as CallToolResult;
  const text = (r: CallToolResult) => (r.content[0] as { text: string }).text;

  it("a session lists its peers and reads its own transcript, but not a peer's", async () => {
    const list = (await client.callTool({ name: "codex_sessions_list", arguments: {} })) as CallToolResult;
    expect(
      (list.structuredContent as { sessions: { sessionId: string }[] }).sessions.map((s) => s.sessionId).sort(),
    ).toEqual(["sa", "sb"]);
    const all = await client.readResource({ uri: "codex://sessions" });
    expect((all.contents[0] as { text: string }).text).toContain('"sessionId":"sb"');
    const peer = await client.readResource({ uri: "codex://sessions/sb" });
    expect(JSON.parse((peer.contents[0] as { text: string }).text)).toMatchObject({ sessionId: "sb", self: false });

    expect((await read("sa")).isError).toBeFalsy();
    const denied = await read("sb");
    expect(denied.isError).toBe(true);
    expect(text(denied)).toMatch(/^denied: no policy rule lets role 'session' read session sb/);
    await expect(client.readResource({ uri: "codex://sessions/sb/transcript" })).rejects.toThrow(
      /denied: no policy rule lets role 'session' read session sb/,
    );
    expect(rig.ops.filter((op) => op.op === "read").map((op) => (op as { threadId: string }).threadId)).toEqual(["sa"]);
  });

  it("a policy rule opens a peer's transcript, here those of one group", async () => {
    await rig.events.publish(rig.events.envelope("sb", "agent/annotation", { kind: "assign", group: "release" }));
    await rig.setPolicy({
      ...DEFAULT_POLICY,
      rules: [
        ...DEFAULT_POLICY.rules,
        { id: "release-read", role: "session", target: { group: "release" }, allow: ["read"] },
      ],
    });
    try {
      await eventually(async () => expect((await read("sb")).isError).toBeFalsy());
      const t = await client.readResource({ uri: "codex://sessions/sb/transcript" });
      expect(JSON.parse((t.contents[0] as { text: string }).text).turns[0].messages[0].text).toBe("hello");
      const decision = (await rig.audit()).filter((x) => x.kind === "decision" && x.verb === "read").at(-1)!;
      expect(decision.decision).toMatchObject({ allow: true, ruleId: "release-read" });
    } finally {
      await rig.setPolicy(DEFAULT_POLICY);
    }
  });
});

describe("MCP edge resources", () => {
  const rig = usePolicyRig();
  let a: Awaited<ReturnType<typeof edgeClient>>;

  beforeAll(async () => {
    await rig.session("sa");
    await rig.session("sb");
    rig.answer = (req) =>
      req.op === "read"
        ? oneTurnRead([{ role: "agent", text: "token=supersecretvalue123456" }])
        : { ok: true, data: {} };
    a = await edgeClient(rig.bus.nc, "sa");
  }, 60_000);
  afterAll(() => a?.close());

  it("lists codex://sessions and one resource per visible session, and completes session ids", async () => {
    const { resources } = await a.client.listResources();
    // Every visible session, and the one transcript a session may read by default: its own.
    expect(resources.map((r) => r.uri).sort()).toEqual([
      "codex://sessions",
      "codex://sessions/sa",
      "codex://sessions/sa/transcript",
      "codex://sessions/sb",
    ]);
    const { resourceTemplates } = await a.client.listResourceTemplates();
    expect(resourceTemplates.map((t) => t.uriTemplate).sort()).toEqual([
      "codex://sessions/{sessionId}",
      "codex://sessions/{sessionId}/transcript",
    ]);
    const done = await a.client.complete({
      ref: { type: "ref/resource", uri: "codex://sessions/{sessionId}" },
      argument: { name: "sessionId", value: "sb" },
    });
    expect(done.completion.values).toEqual(["sb"]);
  });

  it("reads the session list, one session and its own redacted transcript; an unknown session is an error", async () => {
    const all = await a.client.readResource({ uri: "codex://sessions" });
    expect(
      JSON.parse((all.contents[0] as { text: string }).text)
        .sessions.map((s: { sessionId: string }) => s.sessionId)
        .sort(),
    ).toEqual(["sa", "sb"]);
    const one = await a.client.readResource({ uri: "codex://sessions/sb" });
    expect(JSON.parse((one.contents[0] as { text: string }).text)).toMatchObject({ sessionId: "sb", self: false });
    const t = await a.client.readResource({ uri: "codex://sessions/sa/transcript" });
    const text = (t.contents[0] as { text: string }).text;
    expect(JSON.parse(text).turns[0].id).toBe("t1");
    expect(text).not.toContain("supersecretvalue123456");
    await expect(a.client.readResource({ uri: "codex://sessions/nope" })).rejects.toThrow(/not_found: no session nope/);
    await expect(a.client.readResource({ uri: "codex://sessions/nope/transcript" })).rejects.toThrow(/not_found/);
    await expect(a.client.readResource({ uri: "codex://sessions/sb/transcript" })).rejects.toThrow(
      /denied: .*Reading another session's transcript/,
    );
  });
});
