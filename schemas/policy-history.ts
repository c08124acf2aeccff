/**
 * Which policy document is in force, given what KV `codex-policy` key `active` holds: the pure rule the policy
 * service applies at start and on every change, and that `claw-supervisor policy get|check` use when no policy
 * service answers.
 *
 * The rule fails closed. The newest valid stored document is in force; a stored document that does not validate
 * is refused and the one before stays. While nothing is stored (no entry, or the key was deleted or purged) the
 * built-in DEFAULT_POLICY applies. When documents are stored but none since the last delete is valid (the
 * key's history holds only refused ones), DENY_ALL_POLICY applies: nobody may do anything until a valid document
 * is stored. The default never applies while a stored document exists.
 */
import { z } from "zod";
import { issuesText } from "./commands.js";
import { DEFAULT_POLICY, PolicyDocument } from "./policy.js";

/** What is in force when stored documents exist but none is valid: no rules, so every capability is denied. */
export const DENY_ALL_POLICY: PolicyDocument = PolicyDocument.parse({ version: 1, rules: [] });

/** Where the document in force comes from: a stored revision, the built-in default, or the fail-closed deny-all. */
export const PolicySource = z.enum(["stored", "default", "fail-closed"]);
export type PolicySource = z.infer<typeof PolicySource>;

/** The document in force; `revision` is its KV revision (null unless `source` is `stored`). */
export const PolicyInForce = z.strictObject({
  document: PolicyDocument,
  revision: z.number().int().positive().nullable(),
  source: PolicySource,
});
export type PolicyInForce = z.infer<typeof PolicyInForce>;

/** A stored document newer than the one in force that was refused, and why (every bad field named). */
export const PolicyRefusal = z.strictObject({
  revision: z.number().int().positive(),
  reason: z.string(),
});
export type PolicyRefusal = z.infer<typeof PolicyRefusal>;

/** One entry of the key's history: a put (with the stored text) or a delete/purge marker. */
export interface PolicyHistoryEntry {
  revision: number;
  /** `PUT`, `DEL` or `PURGE` (anything but `PUT` removes the document). */
  operation: string;
  /** The stored text (empty for a delete or purge). */
  text: string;
}

/** What the history says: the document in force, the newest refused one after it, and the newest revision seen. */
export interface PolicyState {
  inForce: PolicyInForce;
  refused: PolicyRefusal | null;
  /** The newest revision the state has taken into account (null: none). */
  revision: number | null;
}

/** One change a history entry made: applied (a valid document, or a delete) or refused, and what is in force after it. */
export interface PolicyChange {
  revision: number;
  applied: boolean;
  /** Why it was refused; for a delete, what now applies; null for an applied document. */
  reason: string | null;
  /** Where the document in force after this change comes from. */
  inForce: PolicySource;
}

/** The state while nothing is stored: the built-in default. */
export const NOTHING_STORED: PolicyState = {
  inForce: { document: DEFAULT_POLICY, revision: null, source: "default" },
  refused: null,
  revision: null,
};

/** Longest refusal reason kept, in characters (a document with a thousand bad rules names them all otherwise). */
export const MAX_REFUSAL_REASON = 2_000;

/** Parses and validates a stored document's text; the reason names every bad field. Pure. */
export function parsePolicyText(text: string): { ok: true; document: PolicyDocument } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const parsed = PolicyDocument.safeParse(json);
  if (parsed.success) return { ok: true, document: parsed.data };
  const reason = issuesText(parsed.error);
  return {
    ok: false,
    reason: reason.length > MAX_REFUSAL_REASON ? `${reason.slice(0, MAX_REFUSAL_REASON)}…` : reason,
  };
}

/**
 * Takes one entry into account. Entries at or below the state's revision change nothing (change null). A valid
 * document is in force; an invalid one is refused, keeping a stored document in force, but replacing the default
 * or deny-all by deny-all (a document is stored, and it is not valid); a delete or purge brings the default
 * back. Pure.
 */
export function stepPolicy(
  state: PolicyState,
  entry: PolicyHistoryEntry,
): { state: PolicyState; change: PolicyChange | null } {
  if (state.revision !== null && entry.revision <= state.revision) return { state, change: null };
  const { revision } = entry;
  if (entry.operation !== "PUT") {
    return {
      state: { ...NOTHING_STORED, revision },
      change: { revision, applied: true, reason: "deleted: the built-in default applies", inForce: "default" },
    };
  }
  const parsed = parsePolicyText(entry.text);
  if (parsed.ok) {
    return {
      state: { inForce: { document: parsed.document, revision, source: "stored" }, refused: null, revision },
      change: { revision, applied: true, reason: null, inForce: "stored" },
    };
  }
  const inForce: PolicyInForce =
    state.inForce.source === "stored"
      ? state.inForce
      : { document: DENY_ALL_POLICY, revision: null, source: "fail-closed" };
  return {
    state: { inForce, refused: { revision, reason: parsed.reason }, revision },
    change: { revision, applied: false, reason: parsed.reason, inForce: inForce.source },
  };
}

/**
 * The state a key's history (any order) leads to. Folding oldest to newest with {@link stepPolicy} gives what
 * walking it newest-first does: the newest valid document after the last delete is in force, the newest
 * refused one after it is remembered, and stored documents with none valid among them fail closed. Pure.
 */
export function policyFromHistory(entries: readonly PolicyHistoryEntry[]): PolicyState {
  return [...entries]
    .sort((a, b) => a.revision - b.revision)
    .reduce((state, entry) => stepPolicy(state, entry).state, NOTHING_STORED);
}
