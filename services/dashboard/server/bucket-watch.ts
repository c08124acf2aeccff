/**
 * One KV bucket followed for the dashboard's live feed: every key's current entry (delete markers included), then
 * every change, in revision order, through the bus's `followKvBucket` (an ordered pull consumer that nats.js
 * re-creates after a gap or a reconnect). `ready` settles once the entries present at the start were delivered.
 * If the follow ends (its consumer could not go on), it is re-opened after a pause from the revision after the
 * last one delivered, so nothing is skipped and nothing is delivered twice.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { followKvBucket, type KvFollow, type KvFollowEntry } from "../../bus/index.js";

/** How long to wait before re-opening a follow that ended. */
const REOPEN_AFTER_MS = 1_000;

/** A running watch of one bucket. */
export interface BucketWatch {
  /** Resolves once every entry present when the watch opened was delivered; rejects when it cannot open. */
  ready: Promise<void>;
  stop(): void;
}

/** Follows `bucket`, calling `onEntry` for each entry in revision order. `onEntry` must not throw. */
export function watchBucket(
  nc: NatsConnection,
  bucket: string,
  onEntry: (entry: KvFollowEntry) => void,
  log: Logger,
): BucketWatch {
  let stopped = false;
  let lastRevision = 0;
  let follow: KvFollow | null = null;
  let timer: NodeJS.Timeout | undefined;

  const open = async (markReady: () => void): Promise<void> => {
    const f = await followKvBucket(nc, bucket, lastRevision === 0 ? undefined : lastRevision + 1);
    if (stopped) return f.stop();
    follow = f;
    if (f.startedEmpty) markReady();
    void (async () => {
      try {
        for await (const entry of f) {
          if (entry.revision <= lastRevision) continue;
          lastRevision = entry.revision;
          onEntry(entry);
          if (entry.pending === 0) markReady();
        }
      } catch (err) {
        if (!stopped) log.warn({ bucket, err: (err as Error).message }, "the dashboard's follow of a KV bucket failed");
      }
      if (stopped) return;
      log.warn({ bucket, lastRevision }, "the dashboard's follow of a KV bucket ended; re-opening it");
      await f.stop();
      reopen();
    })();
  };

  const reopen = (): void => {
    timer = setTimeout(() => {
      if (stopped) return;
      open(() => undefined).catch((err: Error) => {
        log.warn({ bucket, err: err.message }, "cannot re-open the dashboard's follow of a KV bucket; retrying");
        reopen();
      });
    }, REOPEN_AFTER_MS);
  };

  const ready = new Promise<void>((resolve, reject) => {
    open(resolve).catch(reject);
  });
  return {
    ready,
    stop() {
      stopped = true;
      clearTimeout(timer);
      void follow?.stop();
    },
  };
}
