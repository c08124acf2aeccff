/**
 * The edge over real Streamable HTTP, and its resources over the in-memory transport, on the real command
 * path (policy rig). Auth: no token, a wrong token, a token of another secret and a session token edited to
 * name another session are refused before MCP runs; a valid token acts only as its own session.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { oneTurnRead, usePolicyRig } from "../policy/test-policy.js";
import { startMcpHttpEdge, type McpHttpEdge } from "./http.js";
import { edgeClient } from "./test-edge.js";
import { newEdgeSecret, sessionToken } from "./tokens.js";

const secret = newEdgeSecret();

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
    const [p, k, , mac] = sessionToken(secret, "sb").split(".");
    const forged = [p, k, Buffer.from("sa").toString("base64url"), mac].join(".");
    const res = await post({ authorization: `Bearer ${forged}` });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toMatch(/invalid_token/);
    await expect(connectAs(forged)).rejects.toThrow();
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
    expect(resources.map((r) => r.uri).sort()).toEqual([
      "codex://sessions",
      "codex://sessions/sa",
      "codex://sessions/sa/transcript",
      "codex://sessions/sb",
      "codex://sessions/sb/transcript",
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

  it("reads the session list, one session and a redacted transcript; an unknown session is an error", async () => {
    const all = await a.client.readResource({ uri: "codex://sessions" });
    expect(
      JSON.parse((all.contents[0] as { text: string }).text)
        .sessions.map((s: { sessionId: string }) => s.sessionId)
        .sort(),
    ).toEqual(["sa", "sb"]);
    const one = await a.client.readResource({ uri: "codex://sessions/sb" });
    expect(JSON.parse((one.contents[0] as { text: string }).text)).toMatchObject({ sessionId: "sb", self: false });
    const t = await a.client.readResource({ uri: "codex://sessions/sb/transcript" });
    const text = (t.contents[0] as { text: string }).text;
    expect(JSON.parse(text).turns[0].id).toBe("t1");
    expect(text).not.toContain("supersecretvalue123456");
    await expect(a.client.readResource({ uri: "codex://sessions/nope" })).rejects.toThrow(/not_found: no session nope/);
    await expect(a.client.readResource({ uri: "codex://sessions/nope/transcript" })).rejects.toThrow(/not_found/);
  });
});
