// The revocation record's key and the mcp.revoke request as the policy service parses them. Pure.
import { describe, expect, it } from "vitest";
import { McpRevokeRequest, revocationKey } from "./admin-mcp.js";

describe("revocationKey", () => {
  it("is the thread id's UTF-8 bytes in base64url without padding, for every length mod 3 and any character", () => {
    for (const id of ["", "a", "ab", "abc", "abcd", "thr-12345678-abcd", "019a-ü-€-😀", "a/b.c*>", "\u0000\uffff"])
      expect(revocationKey(id), id).toBe(Buffer.from(id, "utf8").toString("base64url"));
    expect(revocationKey("thr-1")).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});

describe("McpRevokeRequest", () => {
  const caller = { role: "operator", id: "dana@box" } as const;
  it("takes a session id and an optional host id, and refuses what could not be a thread id", () => {
    expect(McpRevokeRequest.parse({ caller, sessionId: "thr-1", hostId: null })).toEqual({
      caller,
      sessionId: "thr-1",
      hostId: null,
    });
    for (const sessionId of ["", "a b", "a.b", "h1/thr", "x".repeat(201), "\xff"])
      expect(McpRevokeRequest.safeParse({ caller, sessionId }).success, sessionId).toBe(false);
    expect(McpRevokeRequest.safeParse({ caller: { role: "session", id: "s" }, sessionId: "thr-1" }).success).toBe(
      false,
    );
    expect(McpRevokeRequest.safeParse({ caller, sessionId: "thr-1", revokedAt: 0 }).success).toBe(false);
  });
});
