/**
 * The policy's operator requests (`codex.admin.policy.get|set`) and who wrote each stored document.
 *
 * `set` validates the document (an invalid one is refused, naming every bad field, and the refusal is audited
 * with its caller; nothing is written), audits the request, writes who is setting it (KV key `active-writer`:
 * caller, request id, the document's digest) and then the document, and answers with the document's revision.
 * Every policy instance then sees the change through its watch and audits it once (a deterministic message id);
 * `writerOf` finds the `active-writer` record written just before it, so the change is recorded with its caller,
 * or, with no such record, as written straight into the bucket by someone unknown. `get` answers what the store
 * holds: the document in force with its revision and source, and a newer refused document.
 */
import { hash, randomUUID } from "node:crypto";
import {
  POLICY_WRITER_KEY,
  PolicyGetRequest,
  PolicySetRequest,
  PolicyWriterRecord,
  type PolicySetResult,
} from "../../schemas/admin.js";
import { failure, issuesText } from "../../schemas/commands.js";
import { ACTIVE_POLICY_KEY, PolicyDocument } from "../../schemas/policy.js";
import { KV_BUCKET_NAMES, type KvBucket } from "../bus/index.js";
import { adminOp, type AdminOps, type AdminReply } from "./admin.js";
import type { AuditInput, AuditLog } from "./audit-log.js";
import { commandIdOf } from "./ledger.js";
import type { PolicyStore, StoredPolicyChange } from "./policy-store.js";

/** SHA-256 of a stored document's text, hex. */
export function documentDigest(text: string): string {
  return hash("sha256", text, "hex");
}

/** How long `set` waits for its own instance to apply the stored document before answering anyway, ms. */
const APPLY_WAIT_MS = 2_000;

/** What the policy ops need. */
export interface PolicyAdminDeps {
  /** KV `codex-policy`. */
  kv: KvBucket;
  store: PolicyStore;
  audit: AuditLog;
  now?: () => number;
}

/** `policy.get` and `policy.set`, for the admin table. */
export function policyAdminOps(deps: PolicyAdminDeps): AdminOps {
  return {
    "policy.get": adminOp("policy get", PolicyGetRequest, async () => {
      const { inForce, refused } = deps.store.inForce;
      return { ok: true, inForce, ...(refused === null ? {} : { refused }) };
    }),
    "policy.set": adminOp("policy set", PolicySetRequest, (request) => setPolicy(deps, request)),
  };
}

async function setPolicy(deps: PolicyAdminDeps, request: PolicySetRequest): Promise<AdminReply & PolicySetResult> {
  const { caller } = request;
  const requestId = request.requestId ?? randomUUID();
  const record = (outcome: AuditInput["outcome"], detail: Record<string, unknown>): AuditInput => ({
    kind: "admin",
    commandId: commandIdOf(caller, requestId),
    verb: null,
    caller,
    target: null,
    decision: null,
    outcome,
    detail: { request: "policy.set", requestId, ...detail },
  });
  const parsed = PolicyDocument.safeParse(request.document);
  if (!parsed.success) {
    const message = `invalid policy document: ${issuesText(parsed.error)}; nothing was stored`;
    await deps.audit.writeLate(record({ ok: false, code: "invalid", message }, {}), "result");
    return failure("invalid", message);
  }
  const text = JSON.stringify(parsed.data);
  const digest = documentDigest(text);
  try {
    await deps.audit.write(record(null, { digest, bytes: Buffer.byteLength(text) }), "request");
  } catch (err) {
    return failure(
      "timeout",
      `could not write the audit record of policy set (${(err as Error).message}); nothing was stored`,
    );
  }
  let revision: number;
  try {
    const writer: PolicyWriterRecord = { caller, requestId, digest, atMs: (deps.now ?? Date.now)() };
    await deps.kv.put(POLICY_WRITER_KEY, JSON.stringify(writer));
    revision = await deps.kv.put(ACTIVE_POLICY_KEY, text);
  } catch (err) {
    const message = `could not store the policy document in KV ${KV_BUCKET_NAMES.policy}: ${(err as Error).message}`;
    await deps.audit.writeLate(record({ ok: false, code: "timeout", message }, {}), "result");
    return failure("timeout", message);
  }
  await deps.audit.writeLate(record({ ok: true, code: null, message: null }, { revision }), "result");
  // Answer once this instance enforces it, so a `policy get` right after sees it (others follow within moments).
  await deps.store.waitFor(revision, APPLY_WAIT_MS);
  return { ok: true, revision };
}

/** One entry of a key's history as attribution needs it. */
interface Revision<T> {
  revision: number;
  value: T | null;
}

/**
 * The `active-writer` record that announced the document stored at `revision` (digest `digest`): the newest one
 * before it with the same digest, written after any earlier revision of that same document (so a document set
 * once and later written again by hand is not attributed twice). Null: written straight into the bucket. Pure.
 */
export function attributeWriter(
  active: readonly Revision<string>[],
  writers: readonly Revision<PolicyWriterRecord>[],
  revision: number,
  digest: string,
): PolicyWriterRecord | null {
  const since = Math.max(
    0,
    ...active.filter((a) => a.revision < revision && a.value === digest).map((a) => a.revision),
  );
  const found = writers
    .filter((w) => w.revision > since && w.revision < revision && w.value?.digest === digest)
    .sort((a, b) => b.revision - a.revision)[0];
  return found?.value ?? null;
}

async function keyHistory<T>(kv: KvBucket, key: string, read: (text: string) => T | null): Promise<Revision<T>[]> {
  const out: Revision<T>[] = [];
  for await (const e of await kv.history({ key }))
    out.push({ revision: e.revision, value: e.operation === "PUT" ? read(e.string()) : null });
  return out;
}

/** Who stored the document at `revision` through `policy.set`, or null when it was written straight into KV. */
export async function writerOf(kv: KvBucket, revision: number, text: string): Promise<PolicyWriterRecord | null> {
  const [active, writers] = await Promise.all([
    keyHistory(kv, ACTIVE_POLICY_KEY, documentDigest),
    keyHistory(kv, POLICY_WRITER_KEY, (t) => {
      try {
        const parsed = PolicyWriterRecord.safeParse(JSON.parse(t));
        return parsed.success ? parsed.data : null;
      } catch {
        return null;
      }
    }),
  ]);
  return attributeWriter(active, writers, revision, documentDigest(text));
}

const DIRECT = `unknown: written directly into KV ${KV_BUCKET_NAMES.policy}, not through 'policy set'`;

/** The `policy` audit record of a change the store saw, with its writer when `policy set` stored it. */
export async function policyChangeRecord(kv: KvBucket, change: StoredPolicyChange): Promise<AuditInput> {
  let writer: PolicyWriterRecord | null = null;
  let unreadable: string | null = null;
  if (change.text !== null)
    writer = await writerOf(kv, change.revision, change.text).catch((err: Error) => {
      unreadable = err.message;
      return null;
    });
  const failClosed =
    change.inForce === "fail-closed" ? "; no stored document is valid: every command is denied (fail closed)" : "";
  return {
    kind: "policy",
    commandId: `policy-${change.revision}`,
    verb: null,
    caller: writer?.caller ?? null,
    target: null,
    decision: null,
    outcome: {
      ok: change.applied,
      code: change.applied ? null : "invalid",
      message: change.reason === null ? null : `${change.reason}${failClosed}`,
    },
    detail: {
      revision: change.revision,
      inForce: change.inForce,
      ...(writer !== null
        ? { via: "policy set", requestId: writer.requestId }
        : unreadable === null
          ? { via: "bucket", writer: DIRECT }
          : {
              via: "unknown",
              writer: `unknown: could not read KV ${KV_BUCKET_NAMES.policy}'s history (${unreadable})`,
            }),
    },
  };
}
