/**
 * A session's spend as the session machine keeps it (issue 19): the tokens Codex reports, folded from its
 * cumulative totals into a SessionUsage (per session and per UTC day), and the budget annotations the policy
 * service writes, folded into a BudgetState. Pure and total: a malformed input changes nothing, never throws.
 * The machine never prices: `costUsd` stays null and `priced` false until the registry prices the record.
 */
import {
  addTokens,
  BudgetMark,
  MAX_USAGE_DAYS,
  ZERO_TOKENS,
  utcDay,
  type BudgetState,
  type DayUsage,
  type SessionUsage,
  type TokenCounts,
} from "../schemas/budget.js";
import type { TokenUsageBreakdown } from "../schemas/codex/thread.js";
import type { Disposition } from "../schemas/registry.js";

/** Most stop ids a BudgetState keeps in `lifted` (the schema's bound); the oldest go first. */
export const MAX_LIFTED = 50;

const isCount = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;

/** True when `value` holds five non-negative whole counts (an event may reach the machine unchecked). */
export function isTokenCounts(value: unknown): value is TokenCounts {
  if (typeof value !== "object" || value === null) return false;
  const t = value as Partial<Record<keyof TokenCounts, unknown>>;
  return isCount(t.input) && isCount(t.cachedInput) && isCount(t.output) && isCount(t.reasoning) && isCount(t.total);
}

/** Codex's breakdown (`thread/tokenUsage/updated`'s `total` or `last`) in our terms; null when a count is not a non-negative whole number. */
export function tokenCountsOf(b: TokenUsageBreakdown): TokenCounts | null {
  const counts = {
    input: b.inputTokens,
    cachedInput: b.cachedInputTokens,
    output: b.outputTokens,
    reasoning: b.reasoningOutputTokens,
    total: b.totalTokens,
  };
  return isTokenCounts(counts) ? counts : null;
}

/**
 * What a new cumulative `total` adds to the last one seen: field by field, clamped at 0. A total below the last
 * one (Codex began counting again, e.g. after its app-server restarted) is all new: the delta is the total.
 * With no last total, the whole total is new.
 */
export function tokenDelta(last: TokenCounts | null, total: TokenCounts): TokenCounts {
  if (last === null || total.total < last.total) return total;
  return {
    input: Math.max(0, total.input - last.input),
    cachedInput: Math.max(0, total.cachedInput - last.cachedInput),
    output: Math.max(0, total.output - last.output),
    reasoning: Math.max(0, total.reasoning - last.reasoning),
    total: Math.max(0, total.total - last.total),
  };
}

const isZero = (t: TokenCounts): boolean =>
  t.input === 0 && t.cachedInput === 0 && t.output === 0 && t.reasoning === 0 && t.total === 0;

/** Largest unix ms a Date can hold. */
const MAX_DATE_MS = 8.64e15;

/** The UTC day (`YYYY-MM-DD`) of `atMs`, or of `fallbackMs` when `atMs` is no usable time. Never throws. */
export function usageDayOf(atMs: unknown, fallbackMs: number): string {
  const ms = typeof atMs === "number" && Number.isFinite(atMs) && atMs >= 0 && atMs <= MAX_DATE_MS ? atMs : fallbackMs;
  return utcDay(ms >= 0 && ms <= MAX_DATE_MS ? ms : 0);
}

/**
 * `usage` (null: none yet) with `delta` added to the session's tokens and to `day`'s, under `model`; only the
 * newest MAX_USAGE_DAYS days are kept. Unpriced: costs null, `priced` false. A zero delta adds no day. Pure: a
 * new object, `usage` untouched.
 */
export function addUsage(
  usage: SessionUsage | null,
  model: string | null,
  delta: TokenCounts,
  day: string,
): SessionUsage {
  const days = usage?.days ?? {};
  if (isZero(delta)) {
    return usage !== null && usage.model === model
      ? usage
      : { model, tokens: usage?.tokens ?? { ...ZERO_TOKENS }, costUsd: null, priced: false, days };
  }
  const nextDays: Record<string, DayUsage> = {
    ...days,
    [day]: { tokens: addTokens(days[day]?.tokens ?? ZERO_TOKENS, delta), costUsd: null },
  };
  const keys = Object.keys(nextDays);
  if (keys.length > MAX_USAGE_DAYS) {
    keys.sort();
    for (const old of keys.slice(0, keys.length - MAX_USAGE_DAYS)) delete nextDays[old];
  }
  return {
    model,
    tokens: addTokens(usage?.tokens ?? ZERO_TOKENS, delta),
    costUsd: null,
    priced: false,
    days: nextDays,
  };
}

/** `usage` under `model` (the same object when it is already, or when there is no usage). Pure. */
export function usageWithModel(usage: SessionUsage | null, model: string | null): SessionUsage | null {
  return usage === null || usage.model === model ? usage : { ...usage, model };
}

/**
 * A `budget` annotation folded into the session's budget state and disposition; null when it changes nothing.
 * - the same id and state as now: nothing (two policy instances writing the same mark is harmless);
 * - `stopped`: the state, and disposition `blocked`;
 * - `warned`: the state, unless a stop stands (not lifted): a warning does not hide it;
 * - `lifted`: the id joins `lifted`; when it lifts the stop in force, the state becomes the lift and a
 *   `blocked` disposition clears; a lift of another id leaves the standing stop in force;
 * - a `warned` or `stopped` for an id in `lifted`: nothing (a lifted stop does not come back).
 * `mark` is checked (an event may reach the machine unchecked): a malformed one changes nothing. Pure.
 */
export function foldBudget(
  current: BudgetState | null,
  disposition: Disposition | null,
  mark: unknown,
): { budget: BudgetState; disposition: Disposition | null } | null {
  const parsed = BudgetMark.safeParse(mark);
  if (!parsed.success) return null;
  const m = parsed.data;
  if (current !== null && current.id === m.id && current.state === m.state) return null;
  const lifted = current?.lifted ?? [];
  const stopStands = current !== null && current.state === "stopped";
  if (m.state === "lifted") {
    const nextLifted = lifted.includes(m.id) ? lifted : [...lifted, m.id].slice(-MAX_LIFTED);
    if (stopStands && current.id !== m.id) return { budget: { ...current, lifted: nextLifted }, disposition };
    return {
      budget: { ...m, lifted: nextLifted },
      disposition: stopStands && disposition === "blocked" ? null : disposition,
    };
  }
  if (lifted.includes(m.id)) return null;
  if (m.state === "warned") return stopStands ? null : { budget: { ...m, lifted }, disposition };
  return { budget: { ...m, lifted }, disposition: "blocked" };
}
