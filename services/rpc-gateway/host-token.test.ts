import { describe, expect, it } from "vitest";
import { HostIdSchema, bearerToken, checkHostToken, hashHostToken, hostTokenId, mintHostToken } from "./host-token.js";

describe("host tokens as values", () => {
  it("mints cst_<16 hex>_<43 base64url> and stores only its SHA-256 beside the host id", () => {
    const { token, record } = mintHostToken("host-a", 1_000);
    expect(token).toMatch(/^cst_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
    expect(record).toEqual({
      tokenId: hostTokenId(token),
      hostId: "host-a",
      sha256: hashHostToken(token),
      createdAtMs: 1_000,
      revokedAtMs: null,
    });
    expect(JSON.stringify(record)).not.toContain(token.slice(21));
    expect(mintHostToken("host-a", 1_000).token).not.toBe(token);
  });

  it("authenticates the right token and says why any other is refused", () => {
    const { token, record } = mintHostToken("host-a", 1_000);
    expect(checkHostToken(token, record)).toEqual({ ok: true, hostId: "host-a", tokenId: record.tokenId });
    expect(checkHostToken("cst_nope", record)).toMatchObject({ ok: false, reason: "malformed" });
    expect(checkHostToken(token, undefined)).toMatchObject({ ok: false, reason: "unknown", tokenId: record.tokenId });
    const forged = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
    expect(checkHostToken(forged, record)).toMatchObject({ ok: false, reason: "mismatch" });
    expect(checkHostToken(token, { ...record, revokedAtMs: 2_000 })).toMatchObject({ ok: false, reason: "revoked" });
    const other = mintHostToken("host-b", 1_000);
    expect(checkHostToken(other.token, record)).toMatchObject({ ok: false, reason: "unknown" });
  });

  it("reads the token from an Authorization: Bearer header and names what is wrong with any other", () => {
    const { token } = mintHostToken("host-a", 1_000);
    expect(bearerToken(`Bearer ${token}`)).toEqual({ ok: true, token });
    expect(bearerToken(`bearer  ${token}`)).toEqual({ ok: true, token });
    expect(bearerToken(undefined)).toEqual({ ok: false, reason: "no Authorization header" });
    expect(bearerToken(`Basic ${token}`)).toMatchObject({
      ok: false,
      reason: expect.stringContaining("not 'Bearer <token>'"),
    });
    expect(bearerToken("Bearer abc")).toMatchObject({ ok: false, reason: expect.stringContaining("not a host token") });
    expect(bearerToken([`Bearer ${token}`, `Bearer ${token}`])).toMatchObject({ ok: false });
  });

  it("accepts only host ids that are single subject tokens", () => {
    expect(HostIdSchema.safeParse("host-a_1").success).toBe(true);
    for (const bad of ["", "a.b", "a*", "a>", "a b", "x".repeat(129)])
      expect(HostIdSchema.safeParse(bad).success, bad).toBe(false);
  });
});
