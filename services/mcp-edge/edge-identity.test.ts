/**
 * How the edge decides a token still works, on a real nats-server with the project's buckets and a scripted
 * registry answering `codex.registry.sessions.get` (so a session can be live, stale or unknown at will, and the
 * registry can stop answering): expiry, spawn tickets renewed while their session lives, revocation, the brief
 * cache of known sessions, and a 503 (never a pass) when the registry or the revocation bucket cannot be asked,
 * or when the command ledger cannot be read during a bus outage (a stopped nats-server), never a 401 "unresolved".
 */
import type { Subscription } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { failure } from "../../schemas/commands.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { revocationKey, type McpRevocation } from "../../schemas/admin-mcp.js";
import { KV_BUCKET_NAMES, openKvBucket, subjects } from "../bus/index.js";
import { sessionRecord } from "../registry/test-records.js";
import { startBus, useBus } from "../../test/support/bus.js";
import { EdgeIdentity } from "./identity.js";
import { startMcpHttpEdge, type McpHttpEdge } from "./http.js";
import { checkedCaller, type SessionCaller } from "./session-caller.js";
import { newEdgeSecret, sessionToken, ticketToken } from "./tokens.js";
import { postMcp } from "./test-edge.js";

const secret = newEdgeSecret();
const DAY = 86_400_000;
const expiredOpts = () => ({ nowMs: Date.now() - 9 * DAY, ttlMs: 7 * DAY });

describe("EdgeIdentity", () => {
  const bus = useBus({ ensure: true });
  const sessions = new Map<string, SessionRecord>();
  let asked = 0;
  let registry: Subscription | undefined;
  let edge: McpHttpEdge;

  const serveRegistry = () => {
    registry = bus.nc.subscribe(subjects.registrySessionsGet(), {
      callback: (_err, msg) => {
        asked++;
        const req = msg.json() as { sessionId: string; host?: string };
        const found = sessions.get(req.sessionId);
        msg.respond(
          JSON.stringify({ session: found && (req.host === undefined || req.host === found.host) ? found : null }),
        );
      },
    });
  };
  const spawned = async (ticket: string, sessionId: string | null) => {
    const kv = await openKvBucket(bus.nc, KV_BUCKET_NAMES.commands);
    await kv.put(
      ticket,
      JSON.stringify({
        state: "done",
        atMs: Date.now(),
        result:
          sessionId === null
            ? failure("host_offline", "host h1 is offline")
            : { ok: true, data: { hostId: "h1", sessionId, turnId: "t1", cwd: "/w", attachCommand: "x" } },
      }),
    );
  };

  beforeAll(async () => {
    for (const [id, status] of [
      ["live", "idle"],
      ["old", "stale"],
      ["cached", "active"],
    ] as const)
      sessions.set(id, sessionRecord({ sessionId: id, host: "h1", status }));
    serveRegistry();
    await spawned("spawn-live", "live");
    await spawned("spawn-old", "old");
    await spawned("spawn-gone", "gone");
    await spawned("spawn-failed", null);
    edge = await startMcpHttpEdge({ nc: bus.nc, secret, port: 0 });
  });
  afterAll(() => edge?.stop());

  const identity = () => new EdgeIdentity(bus.nc, secret, { ticketWaitMs: 500, registryTimeoutMs: 500 });

  it("accepts a session token of a known session, and refuses one the registry does not know", async () => {
    const id = identity();
    expect(await id.resolve(sessionToken(secret, "live"))).toMatchObject({
      ok: true,
      sessionId: "live",
      hostId: "h1",
      renewed: false,
    });
    expect(await id.resolve(sessionToken(secret, "live", { hostId: "h2" }))).toMatchObject({
      ok: false,
      reason: "unknown_session",
      message: expect.stringContaining("h2/live, which the registry does not know"),
    });
    expect(await id.resolve(sessionToken(secret, "nobody"))).toMatchObject({ ok: false, reason: "unknown_session" });
  });

  it("asks the registry once for a known session within the cache window; a miss is never cached", async () => {
    const id = identity();
    const token = sessionToken(secret, "cached");
    const before = asked;
    for (let i = 0; i < 5; i++) expect((await id.resolve(token)).ok).toBe(true);
    expect(asked - before).toBe(1);
    const unknown = sessionToken(secret, "later");
    expect((await id.resolve(unknown)).ok).toBe(false);
    sessions.set("later", sessionRecord({ sessionId: "later", host: "h1" }));
    expect((await id.resolve(unknown)).ok).toBe(true);
  });

  it("refuses an expired session token, saying when it expired and how to get a new one", async () => {
    expect(await identity().resolve(sessionToken(secret, "live", expiredOpts()))).toEqual({
      ok: false,
      reason: "expired",
      message: expect.stringMatching(
        /^this MCP token of session live expired at \d{4}-.*Z: get a new one with 'claw-supervisor mcp-config live'/,
      ),
    });
  });

  it("renews a spawned session's ticket token past its expiry while the session is live, not once it is stale or gone", async () => {
    const id = identity();
    expect(await id.resolve(ticketToken(secret, "spawn-live", expiredOpts()))).toMatchObject({
      ok: true,
      sessionId: "live",
      renewed: true,
    });
    expect(await id.resolve(ticketToken(secret, "spawn-old", expiredOpts()))).toMatchObject({
      ok: false,
      reason: "expired",
      message: expect.stringContaining("session old is no longer live (stale)"),
    });
    expect(await id.resolve(ticketToken(secret, "spawn-gone", expiredOpts()))).toMatchObject({
      ok: false,
      reason: "expired",
      message: expect.stringContaining("session gone is no longer live (unknown to the registry)"),
    });
    // Within its lifetime a ticket needs no registry answer (a session just spawned may not be known yet).
    expect(await id.resolve(ticketToken(secret, "spawn-gone"))).toMatchObject({ ok: true, sessionId: "gone" });
    // No ledger entry: waited for (ticketWaitMs), then unresolved; a failed spawn: unresolved at once.
    expect(await id.resolve(ticketToken(secret, "no-such-spawn"))).toMatchObject({ ok: false, reason: "unresolved" });
    const slow = new EdgeIdentity(bus.nc, secret, { ticketWaitMs: 60_000 });
    expect(await slow.resolve(ticketToken(secret, "spawn-failed"))).toMatchObject({
      ok: false,
      reason: "unresolved",
      message: expect.stringContaining("the spawn this token was minted for (spawn-failed) did not start a session"),
    });
  });

  it("refuses tokens issued before a revocation at once, and a stdio caller stops running commands", async () => {
    const id = identity();
    const before = sessionToken(secret, "live");
    const ticket = ticketToken(secret, "spawn-live");
    expect((await id.resolve(before)).ok).toBe(true);
    const ran: string[] = [];
    const inner: SessionCaller = {
      sessionId: "live",
      command: async (verb) => {
        ran.push(verb);
        return { ok: true, data: {} };
      },
    };
    const stdio = checkedCaller(inner, () => id.resolve(before));
    expect(await stdio.command("list", {})).toEqual({ ok: true, data: {} });

    // As the policy service stores it for an operator's codex.admin.mcp.revoke (services/policy/admin-mcp.ts).
    const revocation: McpRevocation = { sessionId: "live", revokedAt: Date.now(), by: "alice" };
    await (await openKvBucket(bus.nc, KV_BUCKET_NAMES.mcpRevocations)).put(
      revocationKey("live"),
      JSON.stringify(revocation),
    );
    for (const token of [before, ticket])
      expect(await id.resolve(token)).toMatchObject({
        ok: false,
        reason: "revoked",
        message: expect.stringMatching(/session live issued before .* were revoked \(by alice\): get a new one/),
      });
    expect(await stdio.command("list", {})).toMatchObject({
      ok: false,
      code: "denied",
      message: expect.stringContaining("this session's MCP token no longer works"),
    });
    expect(ran).toEqual(["list"]);
    expect((await id.resolve(sessionToken(secret, "live"))).ok).toBe(true);
  });

  it("answers 503 over HTTP, never a pass, when the registry or the revocation bucket cannot be asked", async () => {
    const post = (token: string) => postMcp(edge.url, token);
    expect((await post(sessionToken(secret, "other-host-session"))).status).toBe(401);
    registry?.unsubscribe();
    try {
      const res = await post(sessionToken(secret, "never-cached"));
      expect(res.status).toBe(503);
      expect(res.headers.get("retry-after")).toBe("5");
      expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
        /cannot ask the registry about the token's session: no registry is answering/,
      );
    } finally {
      serveRegistry();
    }
    // The bucket gone (a bus nobody ensured): refused with a message naming it.
    const kv = await openKvBucket(bus.nc, KV_BUCKET_NAMES.mcpRevocations);
    await kv.destroy();
    const res = await post(sessionToken(secret, "cached"));
    expect(res.status).toBe(503);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(
      /cannot check MCP token revocations: KV bucket codex-mcp-revocations does not exist/,
    );
  });
});

describe("EdgeIdentity during a bus outage", () => {
  it("answers a spawn ticket token 503 when the command ledger cannot be read, not 401 after the ticket wait", async () => {
    const bus = await startBus({ ensure: true });
    const edge = await startMcpHttpEdge({ nc: bus.nc, secret, port: 0 });
    try {
      await bus.server.stop();
      const started = Date.now();
      const res = await postMcp(edge.url, ticketToken(secret, "spawn-during-outage"));
      const message = ((await res.json()) as { error: { message: string } }).error.message;
      expect(res.status, message).toBe(503);
      expect(res.headers.get("retry-after")).toBe("5");
      expect(message).toMatch(
        /^cannot read the spawn this token was minted for \(spawn-during-outage\) in KV codex-commands: /,
      );
      // Generous: the ticket wait (20 s by default) is not what ended it.
      expect(Date.now() - started).toBeLessThan(19_000);
    } finally {
      await edge.stop();
      await bus.stop();
    }
  }, 60_000);
});
