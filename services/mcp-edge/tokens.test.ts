/** MCP tokens, version 2: what they carry, that every part is under the mac, and that `cmt1` is refused by name. */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DEFAULT_TOKEN_TTL_MS, newEdgeSecret, sessionToken, ticketToken, verifyToken } from "./tokens.js";

const secret = newEdgeSecret();
const T0 = 1_750_000_000_000;

describe("MCP tokens", () => {
  it("carry the session, its host, and when they were issued and expire (a week by default)", () => {
    const token = sessionToken(secret, "thr-1", { hostId: "h1", nowMs: T0 });
    expect(token).toMatch(/^cmt2\.s\./);
    expect(verifyToken(secret, token)).toEqual({
      ok: true,
      token: {
        subject: { kind: "session", sessionId: "thr-1", hostId: "h1" },
        issuedAtMs: T0,
        expiresAtMs: T0 + DEFAULT_TOKEN_TTL_MS,
      },
    });
    expect(verifyToken(secret, sessionToken(secret, "thr-1", { nowMs: T0, ttlMs: 60_000 }))).toMatchObject({
      token: { subject: { hostId: null }, expiresAtMs: T0 + 60_000 },
    });
    expect(verifyToken(secret, ticketToken(secret, "cmd-1", { nowMs: T0 }))).toMatchObject({
      token: { subject: { kind: "ticket", ticket: "cmd-1" } },
    });
  });

  it("refuse any edited part: the session, the host, the times, the kind, or another secret", () => {
    const token = sessionToken(secret, "thr-1", { hostId: "h1", nowMs: T0 });
    const parts = token.split(".");
    const edits: [number, string][] = [
      [1, "t"],
      [2, Buffer.from("thr-2").toString("base64url")],
      [3, Buffer.from("h2").toString("base64url")],
      [4, String(T0 + 1)],
      [5, String(T0 + DEFAULT_TOKEN_TTL_MS * 10)],
    ];
    for (const [i, value] of edits) {
      const edited = parts.map((p, j) => (j === i ? value : p)).join(".");
      expect(verifyToken(secret, edited), `part ${i}`).toMatchObject({ ok: false, reason: "bad_mac" });
    }
    expect(verifyToken(newEdgeSecret(), token)).toMatchObject({ ok: false, reason: "bad_mac" });
    for (const junk of ["", "x", "cmt2.s.a.b.c", `${token}.x`, "cmt3.s.a..1.2.m"])
      expect(verifyToken(secret, junk), junk).toMatchObject({ ok: false, reason: "malformed" });
  });

  it("refuse a well-signed token whose times make no sense", () => {
    const body = `cmt2.s.${Buffer.from("thr-1").toString("base64url")}..${T0}.${T0}`;
    const mac = createHmac("sha256", secret).update(body).digest("base64url");
    expect(verifyToken(secret, `${body}.${mac}`)).toMatchObject({ ok: false, reason: "malformed" });
  });

  it("refuse a version 1 token with a message saying to get a new one", () => {
    const body = `cmt1.s.${Buffer.from("thr-1").toString("base64url")}`;
    const old = `${body}.${createHmac("sha256", secret).update(body).digest("base64url")}`;
    expect(verifyToken(secret, old)).toEqual({
      ok: false,
      reason: "old_version",
      message: expect.stringMatching(/old format \(cmt1.*get a new one with 'claw-supervisor mcp-config <sessionId>'/),
    });
  });
});
