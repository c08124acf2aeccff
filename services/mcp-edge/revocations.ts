/**
 * MCP token revocations, read side: KV `codex-mcp-revocations`, one entry per session (key: the thread id,
 * base64url, so any id is a valid key), value `{ sessionId, revokedAt, by }` (schemas/admin-mcp.ts). Every token
 * of that session issued before `revokedAt` (unix ms) is refused; a token minted afterwards works. Only the policy
 * service writes it, for an operator's `codex.admin.mcp.revoke` (`claw-supervisor mcp-config <sessionId>
 * --revoke`), audited; the edge reads it on every request, so a revocation takes effect at once.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { McpRevocation, revocationKey } from "../../schemas/admin-mcp.js";
import { JsErrCode, KV_BUCKET_NAMES, jsApiErrCode, openKvBucket, type KvBucket } from "../bus/index.js";

/** Thrown when the bucket is missing or cannot be read; its message is one line a person can act on. */
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

/** Reads revocations over one connection; the bucket is opened on first use (and again after a failure). */
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
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
