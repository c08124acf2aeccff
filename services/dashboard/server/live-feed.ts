/**
 * The dashboard's live view of the fleet, shared by every WebSocket: the registry's KV buckets `codex-sessions`
 * and `codex-hosts` followed from their start (bucket-watch.ts), kept in memory as rows with each key's revision
 * and write time, and a tombstone (the delete's revision) for every key deleted, so a page that reconnects with
 * the revision it last applied gets exactly what changed after it. Values are read with schemas/registry-entry.ts
 * and only their `record` is kept; a value that does not parse is logged and skipped (the key keeps its last row).
 * So is a value whose session (host) is not its key's, as the registry's read model does: any bus user that may read
 * the view can have the server copy an entry onto a key never written (a direct get naming that key as its reply
 * subject), which would otherwise show as a duplicate row for good. Each such key is logged once.
 * Short ids are fleet-wide (services/clients/session-ref.ts), recomputed when a new session id appears; a row whose
 * short id changed then is sent again at the same revision.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { HostRow, SessionRow, ViewRevision } from "../../../schemas/dashboard.js";
import { HostEntry, SessionEntry, sessionKey } from "../../../schemas/registry-entry.js";
import { KV_BUCKET_NAMES, type KvFollowEntry } from "../../bus/index.js";
import { longShortId, shortIds } from "../../clients/session-ref.js";
import { type BucketWatch, watchBucket } from "./bucket-watch.js";

/** One change of the view: a key's new row, or null when the key was deleted. */
export type FeedChange =
  | { bucket: "sessions"; key: string; row: SessionRow | null }
  | { bucket: "hosts"; key: string; row: HostRow | null };

/** Everything written after a revision: rows with a newer revision, and keys deleted after it. */
export interface FeedDelta {
  sessions: SessionRow[];
  removedSessions: string[];
  hosts: HostRow[];
  removedHosts: string[];
}

/** One bucket's rows, tombstones and last revision. */
class Table<Row extends { key: string; revision: number }> {
  readonly rows = new Map<string, Row>();
  /** Deleted keys and the revision of their delete. */
  readonly removed = new Map<string, number>();
  revision = 0;

  /** Rows and removals newer than `since`. */
  since(since: number): { rows: Row[]; removed: string[] } {
    const rows: Row[] = [];
    for (const row of this.rows.values()) if (row.revision > since) rows.push(row);
    const removed: string[] = [];
    for (const [key, revision] of this.removed) if (revision > since) removed.push(key);
    return { rows, removed };
  }
}

/** Most keys remembered as logged for a value not of their session; past it, further ones are skipped unlogged. */
const MAX_MISPLACED_LOGGED = 1_000;

/** How long new sessions wait for their fleet-wide short ids to be recomputed together (ms). */
const SHORT_ID_REFRESH_MS = 50;

/** See the file comment. */
export class LiveFeed {
  private readonly sessions = new Table<SessionRow>();
  private readonly hosts = new Table<HostRow>();
  private readonly listeners = new Set<(change: FeedChange) => void>();
  private short = new Map<string, string>();
  private loading = true;
  private shortIdsDue: NodeJS.Timeout | undefined;
  private readonly watches: BucketWatch[] = [];
  /** `<bucket>/<key>` of the values skipped for not being their key's, each logged once. */
  private readonly misplacedLogged = new Set<string>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
  ) {}

  /** Opens both watches and resolves once both buckets' present entries are in the view. */
  async start(): Promise<void> {
    this.watches.push(
      watchBucket(this.nc, KV_BUCKET_NAMES.sessions, (e) => this.onSession(e), this.log),
      watchBucket(this.nc, KV_BUCKET_NAMES.hosts, (e) => this.onHost(e), this.log),
    );
    try {
      await Promise.all(this.watches.map((w) => w.ready));
    } catch (err) {
      this.stop();
      throw err;
    }
    this.loading = false;
    this.refreshShortIds(false);
  }

  /** Stops both watches. */
  stop(): void {
    for (const w of this.watches.splice(0)) w.stop();
    clearTimeout(this.shortIdsDue);
    this.shortIdsDue = undefined;
    this.listeners.clear();
  }

  /** The view's revision: the last applied revision of each bucket. */
  revision(): ViewRevision {
    return { sessions: this.sessions.revision, hosts: this.hosts.revision };
  }

  /** Every current row. */
  snapshot(): { rev: ViewRevision; sessions: SessionRow[]; hosts: HostRow[] } {
    return { rev: this.revision(), sessions: [...this.sessions.rows.values()], hosts: [...this.hosts.rows.values()] };
  }

  /**
   * What was written after `since`, or null when this view cannot say (`since` is ahead of it: another bus, or a
   * view this one has not caught up with), which calls for a snapshot.
   */
  changesSince(since: ViewRevision): FeedDelta | null {
    if (since.sessions > this.sessions.revision || since.hosts > this.hosts.revision) return null;
    const s = this.sessions.since(since.sessions);
    const h = this.hosts.since(since.hosts);
    return { sessions: s.rows, removedSessions: s.removed, hosts: h.rows, removedHosts: h.removed };
  }

  /** Calls `listener` with every change from now on (synchronously, as it is applied); returns the unsubscribe. */
  subscribe(listener: (change: FeedChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(change: FeedChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch (err) {
        this.log.error({ err: (err as Error).message }, "a dashboard connection failed to take a change");
      }
    }
  }

  private onSession(e: KvFollowEntry): void {
    const t = this.sessions;
    t.revision = Math.max(t.revision, e.revision);
    if (e.operation !== "PUT") return this.remove("sessions", e);
    const parsed = SessionEntry.safeParse(parseJson(e));
    if (!parsed.success) return this.skip(KV_BUCKET_NAMES.sessions, e, parsed.error.message);
    const entry = parsed.data;
    const record = entry.record;
    if (
      e.key !== sessionKey(entry.hostId, entry.threadId) ||
      record.host !== entry.hostId ||
      record.sessionId !== entry.threadId
    )
      return this.misplaced(KV_BUCKET_NAMES.sessions, e, sessionKey(record.host, record.sessionId));
    if (!this.loading && !this.short.has(record.sessionId)) {
      // The row goes out now with its long short id; the fleet-wide recomputation (O(sessions)) runs once per
      // burst of new sessions, not once per session: per session it made 10,000 new ones O(n²), ~50 s of CPU.
      this.short.set(record.sessionId, longShortId(record.sessionId));
      this.shortIdsDue ??= setTimeout(() => {
        this.shortIdsDue = undefined;
        this.refreshShortIds(true);
      }, SHORT_ID_REFRESH_MS);
    }
    const row: SessionRow = {
      key: e.key,
      shortId: this.short.get(record.sessionId) ?? longShortId(record.sessionId),
      record,
      revision: e.revision,
      writtenAtMs: e.createdMs,
    };
    t.rows.set(e.key, row);
    t.removed.delete(e.key);
    this.emit({ bucket: "sessions", key: e.key, row });
  }

  private onHost(e: KvFollowEntry): void {
    const t = this.hosts;
    t.revision = Math.max(t.revision, e.revision);
    if (e.operation !== "PUT") return this.remove("hosts", e);
    const parsed = HostEntry.safeParse(parseJson(e));
    if (!parsed.success) return this.skip(KV_BUCKET_NAMES.hosts, e, parsed.error.message);
    if (e.key !== parsed.data.hostId || parsed.data.record.hostId !== parsed.data.hostId)
      return this.misplaced(KV_BUCKET_NAMES.hosts, e, parsed.data.record.hostId);
    const row: HostRow = {
      key: e.key,
      record: parsed.data.record,
      revision: e.revision,
      writtenAtMs: e.createdMs,
    };
    t.rows.set(e.key, row);
    t.removed.delete(e.key);
    this.emit({ bucket: "hosts", key: e.key, row });
  }

  private remove(bucket: "sessions" | "hosts", e: KvFollowEntry): void {
    const t = bucket === "sessions" ? this.sessions : this.hosts;
    t.rows.delete(e.key);
    t.removed.set(e.key, e.revision);
    this.emit({ bucket, key: e.key, row: null } as FeedChange);
  }

  private skip(bucket: string, e: KvFollowEntry, why: string): void {
    this.log.warn({ bucket, key: e.key, revision: e.revision, why }, "skipped a KV value that does not parse");
  }

  /** A value of another session (host) on this key: skipped (the key keeps its last row), logged once per key. */
  private misplaced(bucket: string, e: KvFollowEntry, itsKey: string): void {
    const id = `${bucket}/${e.key}`;
    if (this.misplacedLogged.has(id) || this.misplacedLogged.size >= MAX_MISPLACED_LOGGED) return;
    this.misplacedLogged.add(id);
    this.log.warn(
      { bucket, key: e.key, revision: e.revision, itsKey },
      "skipped a KV value of another key (a copied entry): not shown; further ones on this key are skipped unlogged",
    );
  }

  /**
   * Recomputes every session's fleet-wide short id; with `announce`, re-sends the rows whose short id changed
   * (but `except`, the row being applied now, which goes out anyway).
   */
  private refreshShortIds(announce: boolean, except?: string): void {
    const ids = [...this.sessions.rows.values()].map((r) => r.record.sessionId);
    for (const id of this.short.keys()) ids.push(id);
    this.short = shortIds(ids);
    for (const [key, row] of this.sessions.rows) {
      const shortId = this.short.get(row.record.sessionId) ?? row.shortId;
      if (shortId === row.shortId) continue;
      const next = { ...row, shortId };
      this.sessions.rows.set(key, next);
      if (announce && key !== except) this.emit({ bucket: "sessions", key, row: next });
    }
  }
}

const decoder = new TextDecoder();

function parseJson(e: KvFollowEntry): unknown {
  try {
    return JSON.parse(decoder.decode(e.value));
  } catch {
    return undefined;
  }
}
