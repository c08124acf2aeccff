/** The target selector policy rules, approval rules and budgets share. */
import { z } from "zod";

/** Which sessions a rule covers: every given field must match the session's registry record; `{}` is any. */
export const TargetSelector = z.strictObject({
  group: z.string().min(1).optional(),
  host: z.string().min(1).optional(),
  repo: z.string().min(1).optional(),
  session: z.string().min(1).optional(),
  autonomous: z.boolean().optional(),
  humanAttached: z.boolean().optional(),
});
export type TargetSelector = z.infer<typeof TargetSelector>;

/** What a selector is matched against: a session's registry fields (absent when unknown). */
export interface TargetFacts {
  host?: string;
  repo?: string | null;
  session?: string;
  group?: string | null;
  autonomous?: boolean;
  humanAttached?: boolean;
}

const selectorFields = [
  "group",
  "host",
  "repo",
  "session",
  "autonomous",
  "humanAttached",
] as const satisfies readonly (keyof TargetSelector & keyof TargetFacts)[];

/**
 * True when every field the selector gives equals the fact of the same name; a missing (undefined or null) fact
 * never matches a given field; `{}` matches anything. Shared by policy rules (services/policy/decide.ts, which
 * adds `self`) and budgets (services/clients/budget.ts). Pure.
 */
export function selectorCovers(selector: TargetSelector, facts: TargetFacts): boolean {
  return selectorFields.every((field) => {
    const wanted = selector[field];
    if (wanted === undefined) return true;
    const actual = facts[field];
    return actual !== undefined && actual !== null && actual === wanted;
  });
}

/** The registry fields of a session a selector looks at. */
export interface SelectorRecord {
  host: string;
  repo: string | null;
  sessionId: string;
  group: string | null;
  autonomous: boolean;
  humanAttached: boolean;
}

/** The facts of a session record that selectors match on (policy rules and budgets alike). Pure. */
export function factsOfRecord(record: SelectorRecord): TargetFacts {
  return {
    host: record.host,
    repo: record.repo,
    session: record.sessionId,
    group: record.group,
    autonomous: record.autonomous,
    humanAttached: record.humanAttached,
  };
}
