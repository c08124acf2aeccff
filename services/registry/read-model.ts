/**
 * The part of the view this instance does not write: it follows the `codex-sessions` and `codex-hosts` buckets
 * (services/bus/kv-follow.ts: each key's current entry, then every change) and keeps the records of the hosts
 * whose partition it does not serve in the shared query index, so any instance answers queries from the whole
 * view. Entries of served partitions are skipped by their key alone (their fold is the fresher source), so an
 * instance that serves every partition does not follow at all. When a partition stops being served the follow
 * restarts, so the records it held are replaced by the view's current entries.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { HostRecord, SessionRecord } from "../../schemas/registry.js";
import { KV_BUCKET_NAMES, followKvBucket, type KvFollow, type KvFollowEntry } from "../bus/index.js";
import type { RegistryLogger } from "./logger.js";
import { hostOfSessionKey } from "./partition.js";
import type { SessionIndex } from "./session-index.js";

const RETRY_DELAY_MS = 1_000;
const utf8 = new TextDecoder();

function recordOf(value: Uint8Array): Record<string, unknown> | undefined {
  try {
    const entry = JSON.parse(utf8.decode(value)) as { record?: unknown } | null;
    const record = entry?.record;
    return typeof record === "object" && record !== null ? (record as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Follows the view for the hosts this instance does not serve; see the module comment. */
export class ReadModel {
  private readonly hosts = new Map<string, HostRecord>();
  private follows: KvFollow[] = [];
  private generation = 0;
  private running = false;
  private retryTimer: NodeJS.Timeout | undefined;
  /** Starts and stops run one at a time, in the order asked. */
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly nc: NatsConnection,
    private readonly index: SessionIndex,
    /** True for a host whose partition this instance serves (its records come from the fold). */
    private readonly served: (hostId: string) => boolean,
    private readonly log: RegistryLogger,
  ) {}

  get following(): boolean {
    return this.running;
  }

  /**
   * Starts following (again, from each key's current entry, when `restart`); resolves once the current entries
   * are read, or after `catchUpMs` at most (a follow that cannot start keeps retrying in the background).
   */
  start(opts: { restart?: boolean; catchUpMs?: number } = {}): Promise<void> {
    return this.serially(() => this.doStart(opts));
  }

  /** Stops following; the records it put in the index stay until a fold or the next follow replaces them. */
  stop(): Promise<void> {
    return this.serially(() => this.doStop());
  }

  private serially(op: () => Promise<void>): Promise<void> {
    const run = this.queue.then(op);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async doStart(opts: { restart?: boolean; catchUpMs?: number }): Promise<void> {
    if (this.running && !opts.restart) return;
    await this.doStop();
    this.running = true;
    const generation = ++this.generation;
    const caughtUp = Promise.all([
      this.follow(KV_BUCKET_NAMES.sessions, generation, (e) => this.onSession(e)),
      this.follow(KV_BUCKET_NAMES.hosts, generation, (e) => this.onHost(e)),
    ]);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      caughtUp,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, opts.catchUpMs ?? 10_000);
        timer.unref();
      }),
    ]).catch((err: unknown) => this.log.warn({ err }, "registry: the read model could not start; retrying"));
    clearTimeout(timer);
  }

  private async doStop(): Promise<void> {
    this.running = false;
    this.generation++;
    clearTimeout(this.retryTimer);
    const follows = this.follows;
    this.follows = [];
    await Promise.all(follows.map((f) => f.stop()));
    this.hosts.clear();
  }

  /** Host records of the hosts not served here, as last read from the view. */
  hostRecords(): HostRecord[] {
    const out: HostRecord[] = [];
    for (const [hostId, record] of this.hosts) if (!this.served(hostId)) out.push(record);
    return out;
  }

  /** Follows one bucket; resolves once its current entries are all delivered. */
  private async follow(bucket: string, generation: number, onEntry: (e: KvFollowEntry) => void): Promise<void> {
    let follow: KvFollow;
    try {
      follow = await followKvBucket(this.nc, bucket);
    } catch (err) {
      this.retry(generation, err);
      throw err;
    }
    if (generation !== this.generation) {
      await follow.stop();
      return;
    }
    this.follows.push(follow);
    let caughtUp: () => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      caughtUp = resolve;
    });
    if (follow.startedEmpty) caughtUp();
    void (async () => {
      try {
        for await (const e of follow) {
          if (generation !== this.generation) break;
          onEntry(e);
          if (e.pending === 0) caughtUp();
        }
      } catch (err) {
        this.retry(generation, err);
      }
    })();
    return done;
  }

  private retry(generation: number, err: unknown): void {
    if (generation !== this.generation || !this.running) return;
    this.log.warn({ err }, "registry: following the view failed; starting over");
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => {
      if (generation === this.generation && this.running) void this.start({ restart: true });
    }, RETRY_DELAY_MS);
    this.retryTimer.unref();
  }

  private onSession(e: KvFollowEntry): void {
    const host = hostOfSessionKey(e.key);
    if (this.served(host)) return;
    const thread = e.key.slice(host.length + 1);
    if (e.operation !== "PUT") {
      this.index.remove(host, thread);
      return;
    }
    const record = recordOf(e.value);
    // Only the registry writes this bucket (deploy/nats permissions); still, keep a damaged entry out of the index.
    if (!record || record.host !== host || record.sessionId !== thread || typeof record.status !== "string") {
      this.log.warn({ key: e.key }, "registry: unreadable session entry in the view; not shown");
      return;
    }
    this.index.put(record as unknown as SessionRecord);
  }

  private onHost(e: KvFollowEntry): void {
    if (this.served(e.key)) return;
    if (e.operation !== "PUT") {
      this.hosts.delete(e.key);
      return;
    }
    const record = recordOf(e.value);
    if (!record || record.hostId !== e.key || typeof record.status !== "string") {
      this.log.warn({ key: e.key }, "registry: unreadable host entry in the view; not shown");
      return;
    }
    this.hosts.set(e.key, record as unknown as HostRecord);
  }
}
