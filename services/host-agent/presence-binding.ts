/**
 * Ties presence records (attached TUIs) to threads. Pure. A record with a resume thread id is that thread's;
 * otherwise it takes the first non-ephemeral thread that started after the record (allowing one second for
 * threads known only by their createdAt, which has second precision) in the same workspace, not taken by
 * another record. The binder returns the `agent/presence` changes to send.
 */
import path from "node:path";
import type { PresencePayload } from "../../schemas/agent-events.js";
import type { PresenceRecord } from "./presence-record.js";

/** One `agent/presence` event to send. */
export interface PresenceChange {
  threadId: string;
  payload: PresencePayload;
}

/** What the binder needs to know of a thread. */
export interface ThreadStart {
  id: string;
  cwd: string;
  startedAtMs: number;
}

const SLACK_MS = 1_000;
const RECENT_LIMIT = 256;

interface Bound {
  record: PresenceRecord;
  threadId: string | null;
}

/** Keeps records, recent thread starts and the bindings between them; see the module comment. */
export class PresenceBinder {
  private readonly records = new Map<number, Bound>();
  private readonly recent: ThreadStart[] = [];

  /** Replaces the set of live records; returns attach events for newly bound ones and detach events for gone ones. */
  setRecords(records: readonly PresenceRecord[]): PresenceChange[] {
    const changes: PresenceChange[] = [];
    const next = new Map(records.map((r) => [r.tuiPid, r]));
    for (const [pid, bound] of [...this.records]) {
      if (next.has(pid)) continue;
      this.records.delete(pid);
      if (bound.threadId && !this.humanAttached(bound.threadId)) {
        changes.push({ threadId: bound.threadId, payload: { humanAttached: false, pid, tty: bound.record.tty } });
      }
    }
    const added = records.filter((r) => !this.records.has(r.tuiPid)).sort((a, b) => a.startedAtMs - b.startedAtMs);
    for (const record of added) {
      const bound: Bound = { record, threadId: null };
      this.records.set(record.tuiPid, bound);
      const threadId = record.resumeThreadId ?? this.recent.find((t) => this.fits(record, t))?.id ?? null;
      if (threadId) changes.push(this.bind(bound, threadId));
    }
    return changes;
  }

  /** A non-ephemeral thread is tracked; binds the oldest waiting record it fits. */
  threadTracked(thread: ThreadStart): PresenceChange[] {
    this.recent.push(thread);
    if (this.recent.length > RECENT_LIMIT) this.recent.shift();
    const waiting = [...this.records.values()]
      .filter((b) => b.threadId === null && this.fits(b.record, thread))
      .sort((a, b) => a.record.startedAtMs - b.record.startedAtMs)[0];
    return waiting ? [this.bind(waiting, thread.id)] : [];
  }

  /** True while a live record is bound to the thread. */
  humanAttached(threadId: string): boolean {
    for (const b of this.records.values()) if (b.threadId === threadId) return true;
    return false;
  }

  private bind(bound: Bound, threadId: string): PresenceChange {
    bound.threadId = threadId;
    return { threadId, payload: { humanAttached: true, pid: bound.record.tuiPid, tty: bound.record.tty } };
  }

  private fits(record: PresenceRecord, thread: ThreadStart): boolean {
    if (record.resumeThreadId !== null) return false;
    if (thread.startedAtMs < record.startedAtMs - SLACK_MS) return false;
    if (samePath(thread.cwd, record.workspace) === false) return false;
    for (const b of this.records.values()) if (b.threadId === thread.id) return false;
    return true;
  }
}

function samePath(a: string, b: string): boolean {
  return path.resolve(a) === path.resolve(b);
}
