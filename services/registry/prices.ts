/**
 * The price table the registry prices session records with (issue 19): the active policy document's
 * `budgets.prices`, followed from KV `codex-policy` key `active` by the rule the policy service applies
 * (schemas/policy-history.ts: the newest valid document is in force, a refused one changes nothing, a delete
 * brings back the default, which has no prices). Empty until read, and while the bucket cannot be read.
 *
 * It follows the bucket with an ordered pull consumer from its first stored revision (the key's history, then
 * every change: services/bus `followKvBucket`), which needs only the JetStream API and inboxes (the registry's
 * bus user has both; a KV watch's flow-control replies would need `$JS.FC.>`). A follow that ends is started
 * again after the last revision taken, so no change is missed and none is applied twice.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { PriceTable } from "../../schemas/budget.js";
import { ACTIVE_POLICY_KEY } from "../../schemas/policy.js";
import { NOTHING_STORED, stepPolicy, type PolicyState } from "../../schemas/policy-history.js";
import { KV_BUCKET_NAMES, followKvBucket, type KvFollow } from "../bus/index.js";
import type { RegistryLogger } from "./logger.js";

/** The prices of the document a policy state has in force (none for the default or deny-all). Pure. */
export function pricesOf(state: PolicyState): PriceTable {
  return state.inForce.document.budgets?.prices ?? {};
}

/** A running follow of the price table. */
export interface PriceFollow {
  /** The table in force now (`{}` until read). */
  readonly table: PriceTable;
  /** Resolves once the bucket was read up to its end, or the first attempt failed (the table then stays empty until read). */
  readonly ready: Promise<void>;
  stop(): Promise<void>;
}

export interface PriceFollowOptions {
  logger: RegistryLogger;
  /** Called with the new table each time the table in force changes (not for the first read's history entries one by one). */
  onChange(table: PriceTable): void;
  /** Wait before following again after a failure (default 2 s). */
  retryMs?: number;
}

const utf8 = new TextDecoder();

/** Follows the active policy's prices; see the module comment. */
export function followPrices(nc: NatsConnection, opts: PriceFollowOptions): PriceFollow {
  const retryMs = opts.retryMs ?? 2_000;
  let state: PolicyState = NOTHING_STORED;
  let table: PriceTable = {};
  let tableJson = "{}";
  let lastRevision = 0;
  let caughtUp = false;
  let stopped = false;
  let follow: KvFollow | undefined;
  let timer: NodeJS.Timeout | undefined;
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });

  /** Takes the state's prices once the history is read; tells the listener when they differ. */
  const publish = (): void => {
    caughtUp = true;
    markReady();
    const next = pricesOf(state);
    const json = JSON.stringify(next);
    if (json === tableJson) return;
    table = next;
    tableJson = json;
    opts.logger.info({ revision: state.inForce.revision, models: Object.keys(next).length }, "registry: price table");
    opts.onChange(next);
  };

  const run = async (): Promise<void> => {
    timer = undefined;
    if (stopped) return;
    try {
      follow = await followKvBucket(nc, KV_BUCKET_NAMES.policy, lastRevision + 1);
      if (stopped) return void (await follow.stop());
      if (follow.startedEmpty) publish();
      for await (const e of follow) {
        lastRevision = e.revision;
        if (e.key === ACTIVE_POLICY_KEY) {
          const text = e.operation === "PUT" ? utf8.decode(e.value) : "";
          state = stepPolicy(state, { revision: e.revision, operation: e.operation, text }).state;
        }
        if (e.pending === 0 || caughtUp) publish();
      }
    } catch (err) {
      if (stopped) return;
      opts.logger.warn(
        { err: (err as Error).message, retryInMs: retryMs },
        "registry: cannot follow the policy document for its prices; records are priced with the last table read",
      );
    }
    await follow?.stop();
    follow = undefined;
    markReady();
    if (!stopped && !nc.isClosed()) {
      timer = setTimeout(() => void run(), retryMs);
      timer.unref();
    }
  };
  void run();

  return {
    get table() {
      return table;
    },
    ready,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await follow?.stop();
    },
  };
}
