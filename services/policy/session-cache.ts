/**
 * The policy service's copy of the registry view: KV `codex-sessions` followed with a watch, so deciding on a
 * command's target costs no round trip. A session the copy does not hold yet (just created, or the watch is
 * behind) is asked of the registry, which stays the authority.
 */
import { Kvm, type KvWatchEntry } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { z } from "zod";
import { SessionRecord } from "../../schemas/registry.js";
import { KV_BUCKET_NAMES } from "../bus/index.js";

// The registry's entry holds more (its machine snapshot, its stream position); the record is all we need.
const EntryRecord = z.object({ record: SessionRecord });
const decoder = new TextDecoder();

/** Session records by `<hostId>.<threadId>`, kept current by a KV watch. */
export class SessionCache {
  private readonly byKey = new Map<string, SessionRecord>();
  /** Thread id → its key, for callers that name a session without its host. */
  private readonly keyOfThread = new Map<string, string>();
  private stopWatch: (() => void) | undefined;

  private constructor(private readonly log: Logger) {}

  /** Opens the bucket and starts following it; resolves once the watch is set up (entries arrive as they come). */
  static async open(nc: NatsConnection, log: Logger): Promise<SessionCache> {
    const cache = new SessionCache(log);
    const kv = await new Kvm(nc).open(KV_BUCKET_NAMES.sessions);
    const watch = await kv.watch({ key: ">" });
    cache.stopWatch = () => watch.stop();
    void (async () => {
      for await (const e of watch) cache.apply(e);
    })().catch((err: Error) => log.warn({ err: err.message }, "session cache watch ended; targets are asked of the registry"));
    return cache;
  }

  /** The record of a session, when the copy holds it. */
  get(sessionId: string, hostId?: string): SessionRecord | undefined {
    const key = hostId === undefined ? this.keyOfThread.get(sessionId) : `${hostId}.${sessionId}`;
    return key === undefined ? undefined : this.byKey.get(key);
  }

  /** Stops following the bucket. */
  stop(): void {
    this.stopWatch?.();
  }

  private apply(e: Pick<KvWatchEntry, "key" | "operation" | "value">): void {
    if (e.operation !== "PUT") {
      const gone = this.byKey.get(e.key);
      this.byKey.delete(e.key);
      if (gone && this.keyOfThread.get(gone.sessionId) === e.key) this.keyOfThread.delete(gone.sessionId);
      return;
    }
    let parsed;
    try {
      parsed = EntryRecord.safeParse(JSON.parse(decoder.decode(e.value)));
    } catch {
      parsed = null;
    }
    if (!parsed?.success) return void this.log.debug({ key: e.key }, "session cache: unreadable entry skipped");
    this.byKey.set(e.key, parsed.data.record);
    this.keyOfThread.set(parsed.data.record.sessionId, e.key);
  }
}
