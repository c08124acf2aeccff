/** The host token `up` gives its own host agent: minted once, kept 0600 in the state dir, re-minted if revoked. */
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { authenticateHostToken, createHostToken, openHostTokenBucket } from "../rpc-gateway/index.js";

/** Returns the path of a file holding a valid token for `hostId`, minting a new token when needed. */
export async function ensureLocalHostToken(nc: NatsConnection, stateDir: string, hostId: string): Promise<string> {
  const file = path.join(stateDir, `host-token.${hostId}`);
  const kv = await openHostTokenBucket(nc, { create: true });
  const existing = await readFile(file, "utf8").catch(() => "");
  if (existing.trim()) {
    const check = await authenticateHostToken(kv, existing.trim());
    if (check.ok && check.hostId === hostId) return file;
  }
  const minted = await createHostToken(kv, hostId);
  await writeFile(file, `${minted.token}\n`, { mode: 0o600 });
  return file;
}
