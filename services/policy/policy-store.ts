/**
 * The active policy document: KV `codex-policy` key `active`, validated with zod, watched and applied live.
 * Until a document is stored the built-in DEFAULT_POLICY applies; a stored document that fails validation is
 * refused (logged and reported) and the previous one stays in force.
 */
import type { Logger } from "pino";
import { issuesText } from "../../schemas/commands.js";
import { ACTIVE_POLICY_KEY, DEFAULT_POLICY, PolicyDocument } from "../../schemas/policy.js";
import type { KvBucket, KvWatchEntry } from "../bus/index.js";

/** A policy change as the store saw it: applied, or refused with the reason. */
export interface PolicyChange {
  revision: number;
  applied: boolean;
  reason: string | null;
}

/** Holds the document in force and follows the bucket. */
export class PolicyStore {
  private doc: PolicyDocument = DEFAULT_POLICY;
  private rev: number | null = null;
  private stopWatch: (() => void) | undefined;

  private constructor(
    private readonly log: Logger,
    private readonly onChange: (change: PolicyChange, doc: PolicyDocument) => void,
  ) {}

  /** Reads the stored document (if any) and starts watching; resolves once the initial value is applied. */
  static async open(
    kv: KvBucket,
    log: Logger,
    onChange: (change: PolicyChange, doc: PolicyDocument) => void = () => undefined,
  ): Promise<PolicyStore> {
    const store = new PolicyStore(log, onChange);
    const entry = await kv.get(ACTIVE_POLICY_KEY);
    if (entry) store.apply(entry);
    const watch = await kv.watch({ key: ACTIVE_POLICY_KEY, include: "updates" });
    store.stopWatch = () => watch.stop();
    void (async () => {
      for await (const e of watch) store.apply(e);
    })().catch((err: Error) =>
      log.error({ err: err.message }, "policy watch ended: the document in force no longer follows the bucket"),
    );
    return store;
  }

  /** The document in force. */
  get current(): PolicyDocument {
    return this.doc;
  }

  /** The KV revision in force; null while the built-in default applies. */
  get revision(): number | null {
    return this.rev;
  }

  /** Stops following the bucket. */
  stop(): void {
    this.stopWatch?.();
  }

  private apply(entry: Pick<KvWatchEntry, "revision" | "operation" | "string">): void {
    if (this.rev !== null && entry.revision <= this.rev) return;
    if (entry.operation !== "PUT") {
      this.doc = DEFAULT_POLICY;
      this.rev = entry.revision;
      this.log.warn({ revision: entry.revision }, "policy document deleted: the built-in default applies");
      return this.onChange({ revision: entry.revision, applied: true, reason: "deleted: built-in default" }, this.doc);
    }
    let json: unknown;
    try {
      json = JSON.parse(entry.string());
    } catch {
      json = undefined;
    }
    const parsed = PolicyDocument.safeParse(json);
    if (!parsed.success) {
      const reason = json === undefined ? "not JSON" : issuesText(parsed.error);
      this.log.error(
        { revision: entry.revision, reason },
        "refused an invalid policy document; the previous one stays in force",
      );
      return this.onChange({ revision: entry.revision, applied: false, reason }, this.doc);
    }
    this.doc = parsed.data;
    this.rev = entry.revision;
    this.log.info({ revision: entry.revision, rules: parsed.data.rules.length }, "policy document applied");
    this.onChange({ revision: entry.revision, applied: true, reason: null }, this.doc);
  }
}
