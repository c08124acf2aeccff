/**
 * The in-memory view queries are answered from: every session record in a stable order (host, then session
 * id), with filters and opaque cursor paging. Pure data structure; no I/O.
 */
import type { HostRecord, SessionFilter, SessionRecord } from "../../schemas/registry.js";
import { sessionKey } from "../../schemas/registry-entry.js";
import { matchesFilter } from "../clients/session-filter.js";
import { matchingRefs, shortIds } from "../clients/session-ref.js";

/** One page of sessions, as `codex.registry.sessions.list` replies. */
export interface SessionPage {
  sessions: SessionRecord[];
  nextCursor: string | null;
  total: number;
}

/** A cursor this registry did not issue (or that was damaged in transit). */
export class InvalidCursorError extends Error {
  override readonly name = "InvalidCursorError";
}

type Position = readonly [host: string, sessionId: string];

const compareTuple = (a: Position, b: Position): number =>
  a[0] !== b[0] ? (a[0] < b[0] ? -1 : 1) : a[1] === b[1] ? 0 : a[1] < b[1] ? -1 : 1;

const positionOf = (r: SessionRecord): Position => [r.host, r.sessionId];

/** Encodes a position as an opaque cursor (base64url JSON). Pure. */
export function encodeCursor(position: Position): string {
  return Buffer.from(JSON.stringify(["s1", position[0], position[1]]), "utf8").toString("base64url");
}

/** Decodes a cursor made by `encodeCursor`; throws `InvalidCursorError` for anything else. Pure. */
export function decodeCursor(cursor: string): Position {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw new InvalidCursorError("cursor is not one this registry issued (pass the nextCursor of a previous reply)");
  }
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 3 ||
    parsed[0] !== "s1" ||
    typeof parsed[1] !== "string" ||
    typeof parsed[2] !== "string"
  ) {
    throw new InvalidCursorError("cursor is not one this registry issued (pass the nextCursor of a previous reply)");
  }
  return [parsed[1], parsed[2]];
}

/** Every session record, kept sorted by (host, sessionId) so paging is stable while records change. */
export class SessionIndex {
  private readonly byKey = new Map<string, SessionRecord>();
  private readonly ordered: SessionRecord[] = [];
  /** Where each key's record was in `ordered` when last replaced: a hint, checked before use. */
  private readonly places = new Map<string, number>();
  private readonly keysBySessionId = new Map<string, string[]>();
  private readonly countsByHost = new Map<string, number>();
  /** Each session id's short form over the whole index; null until asked for after a new session id came. */
  private shorts: Map<string, string> | null = null;

  /** Number of sessions held. */
  get size(): number {
    return this.byKey.size;
  }

  /**
   * Inserts or replaces a record (keyed by host and session id). A replacement is O(1) when the record's place
   * is the one it had last time (it moves only when a session is added or removed before it), else O(log n) to
   * find; O(n) only for a new one. `key` must be `sessionKey(record.host, record.sessionId)` (a caller that
   * holds it made once saves making and hashing a new one per change).
   */
  put(record: SessionRecord, key: string = sessionKey(record.host, record.sessionId)): void {
    const old = this.byKey.get(key);
    if (old !== undefined) {
      let at = this.places.get(key);
      if (at === undefined || this.ordered[at] !== old) {
        at = this.search(record.host, record.sessionId);
        this.places.set(key, at);
      }
      this.ordered[at] = record;
    } else {
      const at = this.search(record.host, record.sessionId);
      this.ordered.splice(at, 0, record);
      // A new session id can lengthen the short ids of those it shares digits with; a replaced record cannot.
      if (!this.keysBySessionId.has(record.sessionId)) this.shorts = null;
      this.keysBySessionId.set(record.sessionId, [...(this.keysBySessionId.get(record.sessionId) ?? []), key]);
      this.countsByHost.set(record.host, (this.countsByHost.get(record.host) ?? 0) + 1);
    }
    this.byKey.set(key, record);
  }

  /** Removes the record of `<host>.<sessionId>` (a key deleted from the view); O(n). */
  remove(host: string, sessionId: string): void {
    const key = sessionKey(host, sessionId);
    const record = this.byKey.get(key);
    if (!record) return;
    this.byKey.delete(key);
    this.places.delete(key);
    this.ordered.splice(this.search(record.host, record.sessionId), 1);
    const keys = (this.keysBySessionId.get(sessionId) ?? []).filter((k) => k !== key);
    if (keys.length) this.keysBySessionId.set(sessionId, keys);
    else this.keysBySessionId.delete(sessionId);
    const count = (this.countsByHost.get(host) ?? 1) - 1;
    if (count > 0) this.countsByHost.set(host, count);
    else this.countsByHost.delete(host);
    this.shorts = null;
  }

  /** The record of `<host>.<sessionId>`, if known. */
  get(host: string, sessionId: string): SessionRecord | undefined {
    return this.byKey.get(sessionKey(host, sessionId));
  }

  /** Every record with this session id (normally one; more only if two hosts reuse a thread id). */
  findBySessionId(sessionId: string): SessionRecord[] {
    return (this.keysBySessionId.get(sessionId) ?? []).map((k) => this.byKey.get(k) as SessionRecord);
  }

  /**
   * The short form of `sessionId` (services/clients/session-ref.ts `shortIds`), unique over every session id in
   * the index, so a short id copied from any listing names one session fleet-wide. Recomputed (O(n)) on the
   * first call after a new session id came; O(1) otherwise.
   */
  shortId(sessionId: string): string {
    this.shorts ??= shortIds(this.ordered.map((r) => r.sessionId));
    return this.shorts.get(sessionId) ?? sessionId;
  }

  /** `shortId` of each record's session id, keyed by session id (as the list and resolve replies carry it). */
  shortIdsOf(records: readonly SessionRecord[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const r of records) out[r.sessionId] = this.shortId(r.sessionId);
    return out;
  }

  /** Every record, in order. */
  all(): readonly SessionRecord[] {
    return this.ordered;
  }

  /** Number of sessions of one host. O(1). */
  countByHost(host: string): number {
    return this.countsByHost.get(host) ?? 0;
  }

  /** One page of the records matching `filter`, after `cursor`; `total` counts every match. O(n). */
  list(filter: SessionFilter, limit: number, cursor: string | null | undefined): SessionPage {
    const after = cursor ? decodeCursor(cursor) : undefined;
    const sessions: SessionRecord[] = [];
    let total = 0;
    let more = false;
    for (const record of this.ordered) {
      if (!matchesFilter(record, filter)) continue;
      total++;
      if (after !== undefined && compareTuple(positionOf(record), after) <= 0) continue;
      if (sessions.length < limit) sessions.push(record);
      else more = true;
    }
    const last = sessions.at(-1);
    return { sessions, nextCursor: more && last ? encodeCursor(positionOf(last)) : null, total };
  }

  /**
   * The sessions `ref` names (services/clients/session-ref.ts: a whole id wins over prefixes), on `host` when
   * given: the first `limit` in order and how many there are. O(n).
   */
  resolve(ref: string, host: string | undefined, limit: number): { matches: SessionRecord[]; total: number } {
    const onHost = host === undefined ? this.ordered : this.ordered.filter((r) => r.host === host);
    const all = matchingRefs(onHost, (r) => r.sessionId, ref);
    return { matches: all.slice(0, limit), total: all.length };
  }

  /** Where `(host, sessionId)` is or would go in `ordered` (no tuple per comparison: this runs on every change). */
  private search(host: string, sessionId: string): number {
    let lo = 0;
    let hi = this.ordered.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.ordered[mid] as SessionRecord;
      if (r.host < host || (r.host === host && r.sessionId < sessionId)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Hosts sorted by id. Pure. */
export function sortedHosts(hosts: Iterable<HostRecord>): HostRecord[] {
  return [...hosts].sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
}
