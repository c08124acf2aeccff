/**
 * MCP token revocations: KV `codex-mcp-revocations`, one entry per session (key: the thread id, base64url, so
 * any id is a valid key), value `{ sessionId, revokedAt, by }`. Every token of that session issued before
 * `revokedAt` (unix ms) is refused; a token minted afterwards works. Operators write it
 * (`claw-supervisor mcp-config <sessionId> --revoke`); the edge reads it on every request, so a revocation
 * takes effect at once.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { JsErrCode, KV_BUCKET_NAMES, jsApiErrCode, openKvBucket, type KvBucket } from "../bus/index.js";

/** One revocation as stored. */
export const McpRevocation = z.object({
  sessionId: z.string().min(1),
  /** Tokens of the session issued before this (unix ms) are refused. */
  revokedAt: z.number().int().nonnegative(),
  /** Who revoked them (the operator id). */
  by: z.string(),
});
export type McpRevocation = z.infer<typeof McpRevocation>;

/** The KV key of a session's revocation: its thread id, base64url (always a valid key). Pure. */
export function revocationKey(sessionId: string): string {
  return Buffer.from(sessionId, "utf8").toString("base64url");
}

/** Thrown when the bucket is missing or cannot be read/written; its message is one line a person can act on. */
export class RevocationStoreError extends Error {
  override readonly name = "RevocationStoreError";
}

const bucket = KV_BUCKET_NAMES.mcpRevocations;

function storeError(err: unknown, doing: string): RevocationStoreError {
  if (jsApiErrCode(err) === JsErrCode.StreamNotFound)
    return new RevocationStoreError(
      `KV bucket ${bucket} does not exist: run 'claw-supervisor up' (or a service with --ensure-bus) once to create it`,
    );
  return new RevocationStoreError(`cannot ${doing} KV ${bucket}: ${(err as Error).message}`);
}

/** Reads and writes revocations over one connection; the bucket is opened on first use. */
export class RevocationStore {
  private kv: Promise<KvBucket> | undefined;

  constructor(private readonly nc: NatsConnection) {}

  private open(): Promise<KvBucket> {
    this.kv ??= openKvBucket(this.nc, bucket).catch((err: unknown) => {
      this.kv = undefined;
      throw err;
    });
    return this.kv;
  }

  /** The session's revocation, or null when none; throws a RevocationStoreError when it cannot tell. */
  async get(sessionId: string): Promise<McpRevocation | null> {
    let entry: Awaited<ReturnType<KvBucket["get"]>>;
    try {
      entry = await (await this.open()).get(revocationKey(sessionId));
    } catch (err) {
      throw storeError(err, "read");
    }
    if (entry?.operation !== "PUT") return null;
    const parsed = McpRevocation.safeParse(safeJson(entry.string()));
    // An entry nobody can read still says someone revoked this session: refuse every token of it.
    return parsed.success ? parsed.data : { sessionId, revokedAt: Number.MAX_SAFE_INTEGER, by: "unreadable entry" };
  }

  /** Revokes every token of `sessionId` issued before `revokedAt`; returns what was stored. */
  async revoke(sessionId: string, by: string, revokedAt = Date.now()): Promise<McpRevocation> {
    const value: McpRevocation = { sessionId, revokedAt, by };
    try {
      await (await openKvBucket(this.nc, bucket, { mustExist: true })).put(
        revocationKey(sessionId),
        JSON.stringify(value),
      );
    } catch (err) {
      throw storeError(err, "write");
    }
    return value;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
