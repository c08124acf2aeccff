import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { beforeAll, describe, expect, it } from "vitest";
import { useBus } from "../../test/support/bus.js";
import { GatewayError } from "./errors.js";
import { hashHostToken } from "./host-token.js";
import {
  authenticateHostToken,
  createHostToken,
  listHostTokens,
  openHostTokenBucket,
  revokeHostToken,
  watchHostTokenRevocations,
} from "./tokens.js";

describe("the host token store in KV", () => {
  const bus = useBus();
  let nc: NatsConnection;
  let kv: KV;
  beforeAll(() => void (nc = bus.nc));

  it("says how to create the bucket when it is missing, and creates only it on request", async () => {
    const err = await openHostTokenBucket(nc).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GatewayError);
    expect((err as GatewayError).code).toBe("token_store_missing");
    expect((err as GatewayError).message).toContain("claw-supervisor up");
    kv = await openHostTokenBucket(nc, { create: true });
    expect((await kv.status()).bucket).toBe("codex-host-tokens");
  });

  it("stores the hash and the host, never the secret, and authenticates the token", async () => {
    const { token, record } = await createHostToken(kv, "host-a", 1_000);
    const stored = (await kv.get(record.tokenId))!.string();
    expect(stored).not.toContain(token);
    expect(JSON.parse(stored)).toEqual({
      tokenId: record.tokenId,
      hostId: "host-a",
      sha256: hashHostToken(token),
      createdAtMs: 1_000,
      revokedAtMs: null,
    });
    expect(await authenticateHostToken(kv, token)).toEqual({ ok: true, hostId: "host-a", tokenId: record.tokenId });
    expect(await authenticateHostToken(kv, `${token.slice(0, 21)}${"A".repeat(43)}`)).toMatchObject({
      ok: false,
      reason: "mismatch",
    });
  });

  it("refuses a host id that cannot be a subject token", async () => {
    const err = await createHostToken(kv, "a.b").catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "invalid_host_id", message: expect.stringContaining("must not contain '.'") });
  });

  it("revokes every active token of a host, or one by id, and keeps the records for listing", async () => {
    const b1 = await createHostToken(kv, "host-b", 2_000);
    const b2 = await createHostToken(kv, "host-b", 3_000);
    const c = await createHostToken(kv, "host-c", 4_000);
    expect((await revokeHostToken(kv, { tokenId: b1.record.tokenId }, 5_000)).map((r) => r.tokenId)).toEqual([
      b1.record.tokenId,
    ]);
    expect((await revokeHostToken(kv, { hostId: "host-b" }, 6_000)).map((r) => [r.tokenId, r.revokedAtMs])).toEqual([
      [b2.record.tokenId, 6_000],
    ]);
    expect(await revokeHostToken(kv, { hostId: "host-b" }, 7_000)).toEqual([]);
    expect(await authenticateHostToken(kv, b1.token)).toMatchObject({ ok: false, reason: "revoked" });
    expect(await authenticateHostToken(kv, c.token)).toMatchObject({ ok: true, hostId: "host-c" });
    const listed = await listHostTokens(kv);
    expect(listed.map((r) => [r.hostId, r.revokedAtMs])).toEqual([
      ["host-a", null],
      ["host-b", 5_000],
      ["host-b", 6_000],
      ["host-c", null],
    ]);
    await expect(revokeHostToken(kv, { tokenId: "0123456789abcdef" })).rejects.toMatchObject({
      code: "token_not_found",
    });
  });

  it("tells a watcher about revocations and deletions made after it started", async () => {
    const d = await createHostToken(kv, "host-d");
    const e = await createHostToken(kv, "host-e");
    const seen: string[] = [];
    const watch = await watchHostTokenRevocations(kv, (id) => seen.push(id));
    await createHostToken(kv, "host-f");
    await revokeHostToken(kv, { hostId: "host-d" });
    await kv.delete(e.record.tokenId);
    await expect.poll(() => seen, { timeout: 5_000 }).toEqual([d.record.tokenId, e.record.tokenId]);
    watch.stop();
    await watch.done;
    expect(await authenticateHostToken(kv, e.token)).toMatchObject({ ok: false, reason: "unknown" });
  });
});
