/**
 * The session cookie is bound to a key only the dashboard's own origin can read (session-key.ts): the cookie alone
 * (what the browser also sends to any other port of 127.0.0.1) is refused on the API and the WebSocket, so is a
 * key from another session, and a signed-out cookie stays refused with its key. Real nats-server, registry,
 * gateway and policy service.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WS_CLOSE } from "../../../schemas/dashboard.js";
import {
  addOperator,
  type DashboardRig,
  http,
  keyOf,
  openSocket,
  signIn,
  startDashboardRig,
} from "../test-dashboard.js";
import { MAX_SIGNED_OUT, SignedOutSessions, keyMatches, newSessionId, sessionKey } from "./session-key.js";

const THREAD = "66666666-6666-7666-8666-666666666666";

describe("session keys (pure)", () => {
  it("a key matches its own session id only, under its own secret", () => {
    const sid = newSessionId();
    expect(sid).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(newSessionId()).not.toBe(sid);
    const key = sessionKey("s".repeat(32), sid);
    expect(keyMatches("s".repeat(32), sid, key)).toBe(true);
    expect(keyMatches("s".repeat(32), newSessionId(), key)).toBe(false);
    expect(keyMatches("t".repeat(32), sid, key)).toBe(false);
    expect(keyMatches("s".repeat(32), sid, undefined)).toBe(false);
    expect(keyMatches("s".repeat(32), sid, "")).toBe(false);
    expect(keyMatches("s".repeat(32), sid, key.slice(1))).toBe(false);
  });

  it("remembers a signed-out session until its expiry, bounded", () => {
    let now = 1_000;
    const out = new SignedOutSessions(() => now);
    out.add("a", 2_000);
    out.add("gone", 500);
    expect(out.has("a")).toBe(true);
    expect(out.has("gone")).toBe(false);
    expect(out.has("b")).toBe(false);
    now = 2_000;
    expect(out.has("a")).toBe(false);
    out.add("b", 10_000);
    expect(out.size).toBe(1); // "a" pruned once expired
    for (let i = 0; i < MAX_SIGNED_OUT + 5; i++) out.add(`s${i}`, 10_000);
    expect(out.size).toBe(MAX_SIGNED_OUT);
    expect(out.has(`s${MAX_SIGNED_OUT + 4}`)).toBe(true);
    expect(out.has("b")).toBe(false); // the oldest went first
  });
});

describe("dashboard session key", () => {
  let r: DashboardRig;
  let olgaToken: string;
  let olga: string;
  let n = 0;
  const mark = (cookie: string, key: string | null | undefined) =>
    http(r.url, "/api/command", {
      method: "POST",
      body: {
        verb: "mark",
        args: { target: { sessionId: THREAD }, disposition: "done" },
        idempotencyKey: `k-session-key-${++n}`,
      },
      headers: { origin: r.url, cookie },
      key,
    });
  /** `/ws` with `cookie` and hello's `key`: the snapshot, or how it ended. */
  const socket = async (cookie: string, key: string | null | undefined) => {
    const s = openSocket(r.url, { cookie, key });
    s.hello(null);
    const ended = s.ended.then((e) => ({ kind: "ended" as const, ...e }));
    const first = await Promise.race([s.next("snapshot").then(() => ({ kind: "snapshot" as const })), ended]);
    s.ws.close();
    return { first, frames: s.frames.map((f) => (f.type === "bye" ? `bye:${f.code}` : f.type)) };
  };

  beforeAll(async () => {
    r = await startDashboardRig();
    await r.rig.session(THREAD);
    olgaToken = await addOperator(r.rig.bus.nc, "olga", "operator");
    olga = await signIn(r.url, olgaToken);
  });
  afterAll(() => r?.stop());

  it("sign-in answers a key; with it the API and the WebSocket work", async () => {
    const key = keyOf(olga);
    expect(key).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const me = await http(r.url, "/api/me", { headers: { cookie: olga } });
    expect(me.status, me.body).toBe(200);
    expect(me.json()).toEqual({ ok: true, data: { name: "olga", role: "operator" } });
    const a = await mark(olga, undefined);
    expect(a.status, a.body).toBe(200);
    expect((await socket(olga, undefined)).first).toEqual({ kind: "snapshot" });
  });

  it("the cookie without its key: 401 on /api/me and /api/command (cookie cleared), the WebSocket refused", async () => {
    const me = await http(r.url, "/api/me", { headers: { cookie: olga }, key: null });
    expect(me.status).toBe(401);
    expect(me.json()).toMatchObject({ ok: false, code: "unauthenticated" });
    expect(String(me.headers["set-cookie"])).toMatch(/claw_session=;/);
    const cmd = await mark(olga, null);
    expect(cmd.status).toBe(401);
    expect(cmd.json()).toMatchObject({ ok: false, code: "unauthenticated" });
    const ws = await socket(olga, null);
    expect(ws.first).toMatchObject({ kind: "ended", code: WS_CLOSE.unauthenticated });
    expect(ws.frames).toEqual(["bye:unauthenticated"]);
    // A made-up key is no better.
    expect((await http(r.url, "/api/me", { headers: { cookie: olga }, key: "A".repeat(43) })).status).toBe(401);
    // The refusals did not end the session: with its key it still works.
    expect((await http(r.url, "/api/me", { headers: { cookie: olga } })).status).toBe(200);
  });

  it("a key from another session is refused, on the API and the WebSocket", async () => {
    const other = await signIn(r.url, olgaToken);
    const otherKey = keyOf(other) as string;
    expect(otherKey).not.toBe(keyOf(olga));
    expect((await http(r.url, "/api/me", { headers: { cookie: olga }, key: otherKey })).status).toBe(401);
    expect((await mark(olga, otherKey)).status).toBe(401);
    const ws = await socket(olga, otherKey);
    expect(ws.first).toMatchObject({ kind: "ended", code: WS_CLOSE.unauthenticated });
    expect(ws.frames).toEqual(["bye:unauthenticated"]);
    expect((await http(r.url, "/api/me", { headers: { cookie: other } })).status).toBe(200);
  });

  it("after sign-out the same cookie and key are refused (API and WebSocket); a new sign-in works", async () => {
    const rita = await signIn(r.url, olgaToken);
    const open = openSocket(r.url, { cookie: rita });
    open.hello(null);
    await open.next("snapshot");
    const out = await http(r.url, "/api/signout", {
      method: "POST",
      body: {},
      headers: { origin: r.url, cookie: rita },
    });
    expect(out.status, out.body).toBe(200);
    const me = await http(r.url, "/api/me", { headers: { cookie: rita } });
    expect(me.status).toBe(401);
    expect(me.json()).toMatchObject({ code: "unauthenticated", message: "signed out: sign in again" });
    expect((await mark(rita, undefined)).status).toBe(401);
    expect((await socket(rita, undefined)).first).toMatchObject({ kind: "ended", refused: 401 });
    open.ws.close();
    // Other sessions of the same operator are not signed out.
    expect((await http(r.url, "/api/me", { headers: { cookie: olga } })).status).toBe(200);
    const again = await signIn(r.url, olgaToken);
    expect((await http(r.url, "/api/me", { headers: { cookie: again } })).status).toBe(200);
  });
});
