/**
 * The policy service's copy of the registry view: KV `codex-sessions` followed with a watch, so deciding on a
 * command's target costs no round trip. A session the copy does not hold yet (just created, or the watch is
 * behind) is asked of the registry, which stays the authority.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { z } from "zod";
import { SessionRecord } from "../../schemas/registry.js";
import { sessionKey } from "../../schemas/registry-entry.js";
import { KV_BUCKET_NAMES, openKvBucket, type KvWatchEntry } from "../bus/index.js";

// The registry's entry holds more (its machine snapshot, its stream position); the record is all we need.
const EntryRecord = z.object({ record: SessionRecord });
const decoder = new TextDecoder();

/** Hears each entry the watch delivers: its key and bytes (shared with the cache: not to be changed), null when deleted. */
export type SessionEntryListener = (key: string, raw: Uint8Array | null) => void;

/** How long a session's entry must go unchanged before a version nobody asked for yet is parsed ahead, ms. */
const QUIET_MS = 20;
/** How many sessions asked for lately have their new versions parsed ahead (least recently asked go first). */
const MAX_ASKED = 1_000;

/**
 * Session records by `<hostId>.<threadId>`, kept current by a KV watch. An entry is kept as the bytes the
 * watch delivered and parsed only when a command asks for it (then remembered until the next update): the
 * registry rewrites a busy session on every turn event, and most of those versions are never asked for.
 * Sessions commands named lately are the exception: a new version of one is parsed once the session has gone
 * `QUIET_MS` without another (a turn ended, say), off the command's path, so the next command finds it parsed.
 */
export class SessionCache {
  private readonly byKey = new Map<string, { raw: Uint8Array; record?: SessionRecord | null }>();
  /** Thread id → its key, for callers that name a session without its host. */
  private readonly keyOfThread = new Map<string, string>();
  /** Keys commands asked for lately, least recently asked first. */
  private readonly asked = new Set<string>();
  /** Keys of asked-for sessions with a version not parsed yet → when it arrived (oldest first). */
  private readonly unparsed = new Map<string, number>();
  private parseTimer: NodeJS.Timeout | undefined;
  private parsedAheadCount = 0;
  private stopWatch: (() => void) | undefined;

  private constructor(
    private readonly log: Logger,
    private readonly onEntry: SessionEntryListener | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Opens the bucket and starts following it; resolves once the watch is set up (entries arrive as they come).
   * `onEntry` hears every entry the watch delivers (the budget watcher follows the same watch).
   */
  static async open(nc: NatsConnection, log: Logger, onEntry?: SessionEntryListener): Promise<SessionCache> {
    const cache = new SessionCache(log, onEntry);
    const kv = await openKvBucket(nc, KV_BUCKET_NAMES.sessions);
    const watch = await kv.watch({ key: ">" });
    cache.stopWatch = () => watch.stop();
    void (async () => {
      for await (const e of watch) cache.apply(e);
    })().catch((err: Error) =>
      log.warn({ err: err.message }, "session cache watch ended; targets are asked of the registry"),
    );
    return cache;
  }

  /** The record of a session, when the copy holds it. */
  get(sessionId: string, hostId?: string): SessionRecord | undefined {
    const key = hostId === undefined ? this.keyOfThread.get(sessionId) : sessionKey(hostId, sessionId);
    if (key === undefined) return undefined;
    this.asked.delete(key);
    this.asked.add(key);
    if (this.asked.size > MAX_ASKED) this.asked.delete(this.asked.values().next().value as string);
    const entry = this.byKey.get(key);
    if (!entry) return undefined;
    if (entry.record === undefined) entry.record = this.parse(key, entry.raw);
    return entry.record ?? undefined;
  }

  /** How many versions were parsed ahead of a command (for tests). */
  get parsedAhead(): number {
    return this.parsedAheadCount;
  }

  /** Stops following the bucket. */
  stop(): void {
    this.stopWatch?.();
    clearTimeout(this.parseTimer);
  }

  private apply(e: Pick<KvWatchEntry, "key" | "operation" | "value">): void {
    // Keys are `<hostId>.<threadId>`, both subject tokens (no dots of their own).
    const threadId = e.key.slice(e.key.indexOf(".") + 1);
    if (e.operation !== "PUT") {
      this.byKey.delete(e.key);
      if (this.keyOfThread.get(threadId) === e.key) this.keyOfThread.delete(threadId);
      this.onEntry?.(e.key, null);
      return;
    }
    // A copy: the delivered bytes may be a view into a larger read buffer that would stay alive with them.
    const raw = e.value.slice();
    this.byKey.set(e.key, { raw });
    this.onEntry?.(e.key, raw);
    this.keyOfThread.set(threadId, e.key);
    if (this.asked.has(e.key)) {
      this.unparsed.delete(e.key);
      this.unparsed.set(e.key, this.now());
      this.parseTimer ??= setTimeout(() => this.parseQuiet(), QUIET_MS).unref();
    }
  }

  /** Parses the versions of asked-for sessions that have gone QUIET_MS unchanged; waits for the others. */
  private parseQuiet(): void {
    this.parseTimer = undefined;
    const now = this.now();
    for (const [key, at] of this.unparsed) {
      if (now - at < QUIET_MS) {
        this.parseTimer = setTimeout(() => this.parseQuiet(), QUIET_MS - (now - at)).unref();
        return;
      }
      this.unparsed.delete(key);
      const entry = this.byKey.get(key);
      if (entry && entry.record === undefined) {
        entry.record = this.parse(key, entry.raw);
        this.parsedAheadCount++;
      }
    }
  }

  /** The record in an entry's bytes; null (logged) when they are not a readable session entry for that key. */
  private parse(key: string, raw: Uint8Array): SessionRecord | null {
    let parsed: ReturnType<typeof EntryRecord.safeParse> | null;
    try {
      parsed = EntryRecord.safeParse(JSON.parse(decoder.decode(raw)));
    } catch {
      parsed = null;
    }
    if (!parsed?.success || sessionKey(parsed.data.record.host, parsed.data.record.sessionId) !== key) {
      this.log.debug({ key }, "session cache: unreadable entry skipped");
      return null;
    }
    return parsed.data.record;
  }
}
