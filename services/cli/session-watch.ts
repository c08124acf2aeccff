/**
 * `sessions --watch`, like `kubectl get -w`: the table once, then one line per change as it happens (the
 * session's row and what changed, `status idle→active`), or one JSON line per change. Changes come from a watch
 * on the `codex-sessions` KV bucket (event-driven, no polling), filtered by the same rule the registry applies.
 * After the bus comes back, `resync()` re-opens the watch and prints what changed while it was away.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { SessionEntry } from "../../schemas/registry-entry.js";
import type { SessionFilter, SessionRecord } from "../../schemas/registry.js";
import { KV_BUCKET_NAMES, type KvBucket, type KvWatchEntry, openKvBucket } from "../bus/index.js";
import { listAllSessions, RegistryQueryError } from "../clients/registry-queries.js";
import { matchesFilter } from "../clients/session-filter.js";
import { longShortId } from "../clients/session-ref.js";
import { queryFailure } from "./connection.js";
import {
  alignedLine,
  budgetText,
  columnWidths,
  modeText,
  needsText,
  oneLine,
  sessionCells,
  sessionHeader,
  statusText,
} from "./format.js";
import type { CliIo } from "./io.js";
import { jsonOk } from "./output.js";

/** How long, after the bus comes back, a watch waits for the registry to answer again before it says it does not. */
const REGISTRY_RETURN_MS = 10_000;

/** One field of a session that changed, as the table shows it. */
export interface FieldChange {
  field: string;
  from: string;
  to: string;
}

/** What happened to a listed session: new, changed, deleted, or no longer matching the filter. */
export type ChangeKind = "added" | "changed" | "removed" | "left";

const FIELDS: readonly [string, (r: SessionRecord) => string][] = [
  ["status", statusText],
  ["needs", needsText],
  ["mode", modeText],
  ["group", (r) => r.group ?? "-"],
  ["owner", (r) => r.owner ?? "-"],
  ["budget", budgetText],
  ["workspace", (r) => r.workspace ?? "-"],
  ["branch", (r) => r.branch ?? "-"],
  ["summary", (r) => oneLine(r.summary ?? "-", 60)],
];

/** The shown fields that differ between two versions of a session (activity alone changes none). Pure. */
export function sessionChanges(before: SessionRecord, after: SessionRecord): FieldChange[] {
  return FIELDS.flatMap(([field, show]) => {
    const from = show(before);
    const to = show(after);
    return from === to ? [] : [{ field, from, to }];
  });
}

/** `status idle→active, owner -→erin`, `new`, `removed`, `…; left the filter`. Pure. */
export function changeText(kind: ChangeKind, changes: readonly FieldChange[]): string {
  if (kind === "added") return "new";
  if (kind === "removed") return "removed";
  const text = changes.map((c) => (c.field === "summary" ? `summary: ${c.to}` : `${c.field} ${c.from}→${c.to}`));
  if (kind === "left") text.push("left the filter");
  return text.join(", ");
}

/** How `sessions --watch` lists and prints. */
export interface FollowOptions {
  filter: SessionFilter;
  /** Most sessions in the first table. */
  limit: number;
  timeoutMs: number;
  json: boolean;
  wide: boolean;
  headers: boolean;
  io: CliIo;
  /** The first table (or JSON line) from the listed sessions and their short ids; the watch lines follow it. */
  printInitial(sessions: SessionRecord[], total: number, short: ReadonlyMap<string, string>): void;
  /** Prints one change; default: the session's row and what changed (or its JSON line). */
  report?(change: SessionChange): void;
}

/** One change of a followed session: its new version (the last one, when removed), the one before, what differs. */
export interface SessionChange {
  kind: ChangeKind;
  record: SessionRecord;
  before: SessionRecord | null;
  changes: FieldChange[];
  /** Its short id as the registry gave it (unique fleet-wide); its whole last id group when it was not listed. */
  shortId: string;
}

const keyOf = (r: Pick<SessionRecord, "host" | "sessionId">): string => `${r.host}.${r.sessionId}`;

/** Follows the sessions a filter matches and prints each change; see the file comment. */
export class SessionFollower {
  private readonly known = new Map<string, SessionRecord>();
  /** Short ids from the registry's last list (unique fleet-wide), by session id. */
  private short: ReadonlyMap<string, string> = new Map();
  /** False when the last list was cut by `limit`: then only the listed sessions are followed. */
  private complete = true;
  /**
   * The bucket's last revision just before the last list was asked for: the registry updates its index before it
   * writes KV, so the list already holds every entry up to it, and the watch's older entries are skipped.
   */
  private listedFrom = 0;
  /** Per key, the KV revision its last applied entry had; an entry not newer than it is skipped. */
  private readonly revisions = new Map<string, number>();
  private kv: KvBucket | null = null;
  private widths: number[] = [];
  private watch: AsyncIterable<KvWatchEntry> & { stop(): void } = emptyWatch();
  private loop: Promise<void> = Promise.resolve();
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly o: FollowOptions,
  ) {}

  /** Lists the sessions, prints the first table, and starts printing changes. */
  async start(): Promise<void> {
    await this.openWatch();
    const { sessions, total, shortIds: short } = await this.list();
    for (const r of sessions) this.known.set(keyOf(r), r);
    this.widths = columnWidths([
      sessionHeader(this.o.wide),
      ...sessions.map((r) => sessionCells(r, short.get(r.sessionId) ?? r.sessionId, Date.now(), this.o.wide)),
    ]);
    this.o.printInitial(sessions, total, short);
    this.consume();
  }

  /**
   * Re-opens the KV watch and prints a line for each session that changed since the last one printed (for after
   * the bus comes back: a watch may have missed changes, or ended). Calls are queued, never concurrent.
   */
  resync(): Promise<void> {
    this.queue = this.queue
      .catch(() => undefined)
      .then(async () => {
        if (this.stopped) return;
        this.watch.stop();
        await this.loop;
        await this.openWatch();
        // The new watch buffers what comes meanwhile; it is read after the list, even when the list fails (the
        // registry may not be back yet: the watch then goes on, and the list is tried at the next return).
        try {
          const { sessions, total } = await this.list(Date.now() + REGISTRY_RETURN_MS);
          const seen = new Set<string>();
          for (const r of sessions) {
            seen.add(keyOf(r));
            this.apply(r.host, r.sessionId, r, true);
          }
          // Only a complete list says a session is gone; a limited one may just not show it.
          if (sessions.length === total) {
            for (const [key, r] of [...this.known]) {
              if (seen.has(key)) continue;
              this.known.delete(key);
              this.report("left", r, r, []);
            }
          }
        } finally {
          this.consume();
        }
      });
    return this.queue.catch((err: unknown) => this.warn(err));
  }

  /** Stops the watch; no line is printed after it resolves. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.queue.catch(() => undefined);
    this.watch.stop();
    await this.loop;
  }

  /** Lists the sessions (after noting the bucket's revision, see `listedFrom`) and keeps their short ids. */
  private async list(
    retryUntilMs = 0,
  ): Promise<{ sessions: SessionRecord[]; total: number; shortIds: ReadonlyMap<string, string> }> {
    const kv = this.kv ?? (await openKvBucket(this.nc, KV_BUCKET_NAMES.sessions));
    const listedFrom = (await kv.status()).streamInfo.state.last_seq;
    const listed = await this.listAll(retryUntilMs);
    this.listedFrom = listedFrom;
    this.revisions.clear();
    this.short = listed.shortIds;
    this.complete = listed.sessions.length >= listed.total;
    return listed;
  }

  /**
   * Every session the filter matches. Until `retryUntilMs` (unix ms), "no registry answers" is asked again every
   * 250 ms: after a restart of `up` the bus is back a moment before its registry subscribes.
   */
  private async listAll(retryUntilMs: number): ReturnType<typeof listAllSessions> {
    for (;;) {
      try {
        return await listAllSessions(this.nc, this.o.filter, this.o.limit, this.o.timeoutMs);
      } catch (err) {
        const notYet = err instanceof RegistryQueryError && err.code === "no_registry";
        if (!notYet || this.stopped || Date.now() >= retryUntilMs) return queryFailure(err);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
  }

  private async openWatch(): Promise<void> {
    this.kv = await openKvBucket(this.nc, KV_BUCKET_NAMES.sessions);
    this.watch = await this.kv.watch({ include: "updates" });
  }

  private consume(): void {
    const watch = this.watch;
    this.loop = (async () => {
      try {
        for await (const entry of watch) this.onEntry(entry);
      } catch (err) {
        if (!this.stopped) this.warn(err);
      }
    })();
  }

  private onEntry(entry: KvWatchEntry): void {
    if (this.stopped) return;
    const dot = entry.key.indexOf(".");
    const [host, sessionId] = [entry.key.slice(0, dot), entry.key.slice(dot + 1)];
    // The watch opens before the list: what it buffered meanwhile may be older than the listed record.
    if (entry.revision <= (this.revisions.get(entry.key) ?? this.listedFrom)) return;
    this.revisions.set(entry.key, entry.revision);
    if (entry.operation !== "PUT") return this.apply(host, sessionId, null);
    let parsed: ReturnType<typeof SessionEntry.safeParse>;
    try {
      parsed = SessionEntry.safeParse(entry.json());
    } catch {
      return;
    }
    if (parsed.success) this.apply(host, sessionId, parsed.data.record);
  }

  /**
   * Folds one session's new version (null: deleted) into what is shown, printing a line when it shows. A session
   * not shown before is `added` when the list was complete or it comes `fromList`; after a list cut by `limit`
   * the others are not followed (they may be old sessions the table left out, not new ones).
   */
  private apply(host: string, sessionId: string, next: SessionRecord | null, fromList = false): void {
    const key = keyOf({ host, sessionId });
    const before = this.known.get(key);
    const matches = next !== null && matchesFilter(next, this.o.filter);
    if (before === undefined) {
      if (matches && (fromList || this.complete)) {
        this.known.set(key, next);
        this.report("added", next, null, []);
      }
      return;
    }
    if (next !== null && matches) this.known.set(key, next);
    else this.known.delete(key);
    if (next === null) return this.report("removed", before, before, []);
    const changes = sessionChanges(before, next);
    if (!matches) return this.report("left", next, before, changes);
    if (changes.length > 0) this.report("changed", next, before, changes);
  }

  private report(kind: ChangeKind, record: SessionRecord, before: SessionRecord | null, changes: FieldChange[]): void {
    if (this.stopped) return;
    const shortId = this.short.get(record.sessionId) ?? longShortId(record.sessionId);
    if (this.o.report) return this.o.report({ kind, record, before, changes, shortId });
    if (this.o.json) {
      this.o.io.stdout(jsonOk({ change: kind, shortId, changes, session: record }, true));
      return;
    }
    const cells = sessionCells(record, shortId, Date.now(), this.o.wide);
    this.o.io.stdout(`${alignedLine(cells, this.widths)}  (${changeText(kind, changes)})\n`);
  }

  private warn(err: unknown): void {
    this.o.io.stderr(`claw-supervisor sessions: ${(err as Error)?.message ?? String(err)}\n`);
  }
}

function emptyWatch(): AsyncIterable<KvWatchEntry> & { stop(): void } {
  return { stop: () => undefined, async *[Symbol.asyncIterator]() {} };
}
