/**
 * Who may use the dashboard and how: sign-in with operator tokens the real policy service checks, the signed
 * session cookie (none, tampered, foreign-signed, expired, revoked), the Host and Origin guard on HTTP and the
 * WebSocket, commands sent as the operator (a viewer's refused and audited, an operator's run and audited), the
 * audit views, and the page's CSP and cache headers. Real nats-server, registry, gateway and policy service.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { sign } from "@fastify/cookie";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OperatorRevokeResult } from "../../../schemas/admin-operators.js";
import type { AuditRecord } from "../../../schemas/audit.js";
import { requestAdmin } from "../../clients/admin-request.js";
import { eventually } from "../../../test/support/wait.js";
import {
  addOperator,
  type DashboardRig,
  http,
  openSocket,
  quietLogger,
  signIn,
  startDashboardRig,
} from "../test-dashboard.js";
import { encodeSession } from "./session.js";
import { startDashboard } from "./index.js";

const SECRET = randomBytes(32).toString("base64url");
const THREAD = "55555555-5555-7555-8555-555555555555";
const CSP =
  "default-src 'self';script-src 'self';style-src 'self';img-src 'self' data:;connect-src 'self';" +
  "object-src 'none';base-uri 'none';form-action 'self';frame-ancestors 'none'";

/** A cookie header for `session`, signed with `secret`. */
const cookieFor = (session: object, secret = SECRET) =>
  `claw_session=${encodeURIComponent(sign(encodeSession(session as never), secret))}`;

describe("dashboard access", () => {
  let r: DashboardRig;
  let webDir: string;
  let olgaToken: string;
  let olga: string;
  let vera: string;
  const post = (p: string, body: unknown, headers: Record<string, string> = {}) =>
    http(r.url, p, { method: "POST", body, headers: { origin: r.url, ...headers } });

  beforeAll(async () => {
    webDir = mkdtempSync(path.join(tmpdir(), "dash-web-"));
    mkdirSync(path.join(webDir, "assets"));
    writeFileSync(path.join(webDir, "index.html"), '<!doctype html><script src="/assets/app-1a2b.js"></script>');
    writeFileSync(path.join(webDir, "assets", "app-1a2b.js"), "console.log(1)");
    r = await startDashboardRig({ cookieSecret: SECRET, webDir });
    await r.rig.session(THREAD);
    olgaToken = await addOperator(r.rig.bus.nc, "olga", "operator");
    olga = await signIn(r.url, olgaToken);
    vera = await signIn(r.url, await addOperator(r.rig.bus.nc, "vera", "viewer"));
  });
  afterAll(async () => {
    await r?.stop();
    if (webDir) rmSync(webDir, { recursive: true, force: true });
  });

  it("signs in with a token (HttpOnly, SameSite=Strict cookie) and refuses a bad one", async () => {
    const ok = await post("/api/signin", { token: olgaToken });
    expect(ok.json()).toEqual({ ok: true, data: { name: "olga", role: "operator", key: expect.any(String) } });
    const set = String(ok.headers["set-cookie"]);
    expect(set).toMatch(/claw_session=[^;]+; Max-Age=43200; Path=\/; HttpOnly; SameSite=Strict/);
    expect(set).not.toContain("Secure");
    const wrong = `${olgaToken.slice(0, -4)}AAAA`;
    for (const token of [wrong, "cso_nothing", "x"]) {
      const bad = await post("/api/signin", { token });
      expect(bad.status, token).toBe(401);
      expect(bad.json()).toMatchObject({ ok: false, code: "unauthenticated" });
    }
    expect((await post("/api/signin", { nope: 1 })).status).toBe(400);
    expect((await http(r.url, "/api/me", { headers: { cookie: olga } })).json()).toEqual({
      ok: true,
      data: { name: "olga", role: "operator" },
    });
  });

  it("without a cookie: /api/* answers 401 and the WebSocket is refused", async () => {
    for (const [method, p] of [
      ["GET", "/api/me"],
      ["GET", "/api/audit"],
      ["GET", "/api/audit/replay"],
      ["POST", "/api/command"],
      ["POST", "/api/signout"],
    ] as const) {
      const a = await http(r.url, p, {
        method,
        headers: { origin: r.url },
        ...(method === "POST" ? { body: {} } : {}),
      });
      expect(a.status, p).toBe(401);
      expect(a.json()).toMatchObject({ ok: false, code: "unauthenticated" });
    }
    const s = openSocket(r.url, {});
    expect(await s.ended).toEqual({ refused: 401 });
  });

  it("refuses a tampered, foreign-signed, unsigned, expired or revoked session cookie", async () => {
    const session = { tokenId: "0".repeat(16), name: "vera", role: "viewer", exp: Date.now() + 60_000 };
    // vera's real cookie with the payload changed (role operator), the signature kept.
    const raw = decodeURIComponent(vera.slice("claw_session=".length));
    const tampered = raw.replace(/^[^.]+/, (v) => {
      const s = JSON.parse(Buffer.from(v, "base64url").toString("utf8"));
      return encodeSession({ ...s, role: "operator" });
    });
    const veraSession = JSON.parse(Buffer.from(raw.split(".")[0] as string, "base64url").toString("utf8"));
    const cookies = {
      tampered: `claw_session=${encodeURIComponent(tampered)}`,
      foreign: cookieFor({ ...veraSession, role: "operator" }, randomBytes(32).toString("base64url")),
      unsigned: `claw_session=${encodeSession(veraSession)}`,
      expired: cookieFor({ ...veraSession, exp: Date.now() - 1 }),
      unknownToken: cookieFor(session),
      otherName: cookieFor({ ...veraSession, name: "olga", role: "operator" }),
    };
    for (const [why, cookie] of Object.entries(cookies)) {
      const a = await http(r.url, "/api/me", { headers: { cookie } });
      expect(a.status, why).toBe(401);
      expect(String(a.headers["set-cookie"]), why).toMatch(/claw_session=;/);
      expect((await openSocket(r.url, { cookie }).ended).refused, why).toBe(401);
    }
    // The genuine one still works.
    expect((await http(r.url, "/api/me", { headers: { cookie: vera } })).status).toBe(200);
  });

  it("refuses an Origin from elsewhere on POST and on the WebSocket, and a missing one", async () => {
    const evil = "http://evil.example";
    expect((await post("/api/signin", { token: olgaToken }, { origin: evil })).status).toBe(403);
    const cmd = {
      verb: "mark",
      args: { target: { sessionId: THREAD }, disposition: "done" },
      idempotencyKey: "k-origin-1",
    };
    const refused = await post("/api/command", cmd, { origin: evil, cookie: olga });
    expect(refused.status).toBe(403);
    expect(refused.json()).toMatchObject({ ok: false, code: "forbidden" });
    const none = await http(r.url, "/api/command", { method: "POST", body: cmd, headers: { cookie: olga } });
    expect(none.status).toBe(403);
    // A GET from another site's page is refused too; the page's own GETs send none or its own.
    expect((await http(r.url, "/api/me", { headers: { cookie: olga, origin: evil } })).status).toBe(403);
    expect((await openSocket(r.url, { cookie: olga, origin: evil }).ended).refused).toBe(403);
    expect((await openSocket(r.url, { cookie: olga, origin: null }).ended).refused).toBe(403);
    // Nothing of that ran: no record of the key.
    expect((await r.rig.audit()).filter((a) => JSON.stringify(a).includes("k-origin-1"))).toEqual([]);
  });

  it("refuses a Host that is not this server (DNS rebinding)", async () => {
    const port = new URL(r.url).port;
    // `localhost` too: it may resolve to ::1, where another local user may listen (the cookie would follow).
    for (const host of [`evil.example:${port}`, "127.0.0.1:1", `localhost.evil.example:${port}`, `localhost:${port}`]) {
      expect((await http(r.url, "/", { headers: { host } })).status, host).toBe(403);
      expect((await http(r.url, "/api/me", { headers: { host, cookie: olga } })).status, host).toBe(403);
    }
    expect((await http(r.url, "/api/me", { headers: { host: `127.0.0.1:${port}`, cookie: olga } })).status).toBe(200);
  });

  it("a viewer's command is refused (403) and the policy's audit has the denial with caller viewer:<name>", async () => {
    const cmd = {
      verb: "mark",
      args: { target: { sessionId: THREAD }, disposition: "done" },
      idempotencyKey: "k-vera-1",
    };
    const a = await post("/api/command", cmd, { cookie: vera });
    expect(a.status).toBe(403);
    expect(a.json()).toMatchObject({ ok: false, code: "denied" });
    await eventually(async () => {
      const denial = (await r.rig.audit()).find(
        (x) => x.kind === "decision" && x.caller?.role === "viewer" && x.caller.id === "vera" && x.verb === "mark",
      );
      expect(denial?.decision).toMatchObject({ allow: false, code: "denied" });
    });
    // The same, through the dashboard's own audit view.
    const view = await http(r.url, "/api/audit?caller=viewer:vera&kind=decision", { headers: { cookie: vera } });
    const records = view.json().data.records as AuditRecord[];
    expect(records.map((x) => [x.verb, x.decision?.allow])).toContainEqual(["mark", false]);
  });

  it("an operator's mark goes through and is audited with caller operator:<name>", async () => {
    const cmd = {
      verb: "mark",
      args: { target: { sessionId: THREAD }, disposition: "done" },
      idempotencyKey: "k-olga-1",
    };
    const a = await post("/api/command", cmd, { cookie: olga });
    expect(a.status, a.body).toBe(200);
    expect(a.json()).toMatchObject({ ok: true });
    const audit = await eventually(async () => {
      const mine = (await r.rig.audit()).filter((x) => x.verb === "mark" && x.caller?.id === "olga");
      expect(mine.map((x) => x.kind)).toEqual(expect.arrayContaining(["decision", "result"]));
      return mine;
    });
    expect(audit.every((x) => x.caller?.role === "operator")).toBe(true);
    expect(audit.find((x) => x.kind === "decision")?.decision?.allow).toBe(true);
    // The dashboard's audit view filters by caller and verb, and by session.
    const view = await http(r.url, `/api/audit?caller=operator:olga&verb=mark&session=${THREAD}`, {
      headers: { cookie: olga },
    });
    expect(view.status).toBe(200);
    expect((view.json().data.records as AuditRecord[]).length).toBe(audit.length);
    expect((await http(r.url, "/api/audit?limit=0", { headers: { cookie: olga } })).status).toBe(400);
    expect((await http(r.url, "/api/audit?bogus=1", { headers: { cookie: olga } })).status).toBe(400);
    // A command that is not one of the page's: 400, nothing sent.
    const bad = await post("/api/command", { verb: "probe", args: {}, idempotencyKey: "k-olga-2" }, { cookie: olga });
    expect(bad.status).toBe(400);
    const unknown = {
      verb: "mark",
      args: { target: { sessionId: "nope" }, disposition: "done" },
      idempotencyKey: "k-olga-3",
    };
    expect((await post("/api/command", unknown, { cookie: olga })).status).toBe(404);
  });

  it("the replay check answers an operator whether the event log's replay equals the live registry; not a viewer", async () => {
    // It reads the whole event log into the server: a viewer may not make it do that.
    const refused = await http(r.url, "/api/audit/replay", { headers: { cookie: vera } });
    expect(refused.status, refused.body).toBe(403);
    const a = await http(r.url, "/api/audit/replay", { headers: { cookie: olga } });
    expect(a.status, a.body).toBe(200);
    const data = a.json().data as { equal: boolean; differences: string[] };
    expect(data.differences).toEqual([]);
    expect(data.equal).toBe(true);
  });

  it("serves the page with the CSP, no-cache on /, immutable assets; 503 when the page is not built", async () => {
    const page = await http(r.url, "/");
    expect(page.status).toBe(200);
    expect(page.body).toContain("app-1a2b.js");
    expect(page.headers["content-security-policy"]).toBe(CSP);
    expect(page.headers["cache-control"]).toBe("no-cache");
    const me = await http(r.url, "/api/me", { headers: { cookie: olga } });
    expect(me.status).toBe(200);
    expect(me.headers["cache-control"]).toBe("no-store");
    const asset = await http(r.url, "/assets/app-1a2b.js");
    expect(asset.status).toBe(200);
    expect(asset.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(asset.headers["content-security-policy"]).toBe(CSP);
    expect((await http(r.url, "/assets/missing.js")).status).toBe(404);
    expect((await http(r.url, "/api/me", { headers: { cookie: olga } })).headers["content-security-policy"]).toBe(CSP);
    const empty = mkdtempSync(path.join(tmpdir(), "dash-empty-"));
    const bare = await startDashboard({
      nc: r.rig.bus.nc,
      port: 0,
      cookieSecret: SECRET,
      webDir: empty,
      logger: quietLogger(),
    });
    try {
      const none = await http(bare.url, "/");
      expect(none.status).toBe(503);
      expect(none.body).toContain("the dashboard page is not built: run npm run build");
    } finally {
      await bare.stop();
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it("signs out (cookie cleared); a revoked token is refused within the 5 s status cache", async () => {
    const out = await post("/api/signout", {}, { cookie: olga });
    expect(out.status).toBe(200);
    expect(String(out.headers["set-cookie"])).toMatch(/claw_session=;/);
    const token = await addOperator(r.rig.bus.nc, "rita", "operator");
    const rita = await signIn(r.url, token);
    expect((await http(r.url, "/api/me", { headers: { cookie: rita } })).status).toBe(200);
    const revoked = await requestAdmin(
      r.rig.bus.nc,
      "operator",
      "revoke",
      { caller: { role: "operator", id: "test@ops" }, name: "rita" },
      OperatorRevokeResult,
      5_000,
    );
    expect(revoked.ok && revoked.reply.ok).toBe(true);
    await eventually(
      async () => {
        expect((await http(r.url, "/api/me", { headers: { cookie: rita } })).status).toBe(401);
      },
      8_000,
      250,
    );
    expect((await post("/api/signin", { token })).status).toBe(401);
  });
});
