/**
 * The policy document in force: KV `codex-policy` key `active`, validated with zod, watched and applied live,
 * failing closed (schemas/policy-history.ts has the rule). At open the key's history is read, so a restart with an
 * invalid latest document applies the newest valid one before it (and remembers the refused one); with documents
 * stored but none valid, nobody may do anything (DENY_ALL_POLICY). Until a document is stored, or after the key
 * is deleted, the built-in DEFAULT_POLICY applies.
 */
import type { Logger } from "pino";
import { ACTIVE_POLICY_KEY, type PolicyDocument } from "../../schemas/policy.js";
import {
  NOTHING_STORED,
  policyFromHistory,
  stepPolicy,
  type PolicyChange,
  type PolicyHistoryEntry,
  type PolicyInForce,
  type PolicyRefusal,
  type PolicyState,
} from "../../schemas/policy-history.js";
import type { KvBucket, KvWatchEntry } from "../bus/index.js";

/** A change as the store reports it: the pure change, and the stored text of a put (null for a delete). */
export interface StoredPolicyChange extends PolicyChange {
  text: string | null;
}

/** Called for each change, and at open for what is in force and a newer refused document. */
export type PolicyChangeListener = (change: StoredPolicyChange, doc: PolicyDocument) => void;

function historyEntry(e: Pick<KvWatchEntry, "revision" | "operation" | "string">): PolicyHistoryEntry {
  return { revision: e.revision, operation: e.operation, text: e.operation === "PUT" ? e.string() : "" };
}

/** Every entry the bucket keeps of the active document (the bucket's history depth), oldest first. */
export async function readPolicyHistory(kv: KvBucket): Promise<PolicyHistoryEntry[]> {
  const entries: PolicyHistoryEntry[] = [];
  for await (const e of await kv.history({ key: ACTIVE_POLICY_KEY })) entries.push(historyEntry(e));
  return entries.sort((a, b) => a.revision - b.revision);
}

/** Holds the document in force and follows the bucket. */
export class PolicyStore {
  private state: PolicyState = NOTHING_STORED;
  private stopWatch: (() => void) | undefined;
  private readonly waiters = new Set<{ revision: number; done(reached: boolean): void }>();

  private constructor(
    private readonly log: Logger,
    private readonly onChange: PolicyChangeListener,
  ) {}

  /**
   * Reads the key's history, applies what it says is in force and starts watching from the next revision, so no
   * change between the read and the watch is missed; resolves once the initial state is applied.
   */
  static async open(kv: KvBucket, log: Logger, onChange: PolicyChangeListener = () => undefined): Promise<PolicyStore> {
    const store = new PolicyStore(log, onChange);
    const history = await readPolicyHistory(kv);
    store.state = policyFromHistory(history);
    store.reportOpened(history);
    const watch = await kv.watch({ key: ACTIVE_POLICY_KEY, resumeFromRevision: (store.state.revision ?? 0) + 1 });
    store.stopWatch = () => watch.stop();
    void (async () => {
      for await (const e of watch) store.apply(historyEntry(e));
    })().catch((err: Error) =>
      log.error({ err: err.message }, "policy watch ended: the document in force no longer follows the bucket"),
    );
    return store;
  }

  /** The document in force. */
  get current(): PolicyDocument {
    return this.state.inForce.document;
  }

  /** The KV revision in force; null while the built-in default or the fail-closed deny-all applies. */
  get revision(): number | null {
    return this.state.inForce.revision;
  }

  /** The document in force with its revision and source, and a newer refused document, if any. */
  get inForce(): { inForce: PolicyInForce; refused: PolicyRefusal | null } {
    return { inForce: this.state.inForce, refused: this.state.refused };
  }

  /**
   * Resolves true once the store has taken `revision` into account (applied or refused it), or false after
   * `timeoutMs`: `policy set` answers once its own instance enforces what it stored.
   */
  waitFor(revision: number, timeoutMs: number): Promise<boolean> {
    if ((this.state.revision ?? 0) >= revision) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        revision,
        done: (reached: boolean) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(reached);
        },
      };
      const timer = setTimeout(() => waiter.done(false), timeoutMs);
      timer.unref();
      this.waiters.add(waiter);
    });
  }

  /** Stops following the bucket. */
  stop(): void {
    this.stopWatch?.();
    for (const waiter of this.waiters) waiter.done(false);
  }

  /** Logs and reports the state read at open: the document in force, and the newer refused one. */
  private reportOpened(history: PolicyHistoryEntry[]): void {
    const { inForce, refused, revision } = this.state;
    const textOf = (rev: number | null) => history.find((e) => e.revision === rev)?.text ?? null;
    if (inForce.source === "stored" && inForce.revision !== null) {
      this.log.info({ revision: inForce.revision, rules: inForce.document.rules.length }, "policy document applied");
      this.onChange(
        { revision: inForce.revision, applied: true, reason: null, inForce: "stored", text: textOf(inForce.revision) },
        inForce.document,
      );
    } else if (inForce.source === "default" && revision !== null) {
      this.log.warn({ revision }, "policy document deleted: the built-in default applies");
      this.onChange(
        { revision, applied: true, reason: "deleted: the built-in default applies", inForce: "default", text: null },
        inForce.document,
      );
    }
    if (refused) this.reportRefused({ ...refused, inForce: inForce.source, text: textOf(refused.revision) });
  }

  private reportRefused(r: {
    revision: number;
    reason: string;
    inForce: PolicyChange["inForce"];
    text: string | null;
  }) {
    if (r.inForce === "fail-closed")
      this.log.error(
        { revision: r.revision, reason: r.reason },
        "refused an invalid policy document and no stored one is valid: every command is denied until a valid document is stored",
      );
    else
      this.log.error(
        { revision: r.revision, reason: r.reason },
        "refused an invalid policy document; the previous one stays in force",
      );
    this.onChange(
      { revision: r.revision, applied: false, reason: r.reason, inForce: r.inForce, text: r.text },
      this.state.inForce.document,
    );
  }

  private apply(entry: PolicyHistoryEntry): void {
    const { state, change } = stepPolicy(this.state, entry);
    if (change === null) return;
    this.state = state;
    for (const waiter of this.waiters) if (waiter.revision <= entry.revision) waiter.done(true);
    if (!change.applied) return this.reportRefused({ ...change, reason: change.reason ?? "", text: entry.text });
    if (change.inForce === "default") {
      this.log.warn({ revision: change.revision }, "policy document deleted: the built-in default applies");
      return this.onChange({ ...change, text: null }, state.inForce.document);
    }
    this.log.info({ revision: change.revision, rules: state.inForce.document.rules.length }, "policy document applied");
    this.onChange({ ...change, text: entry.text }, state.inForce.document);
  }
}
