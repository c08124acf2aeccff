/**
 * Budgets against spend (issue 19), pure: for each limit of a policy's `budgets`, each scope it covers (a session,
 * or a group the covered sessions share) and the current period, how much was used (BudgetUse); from that, which
 * sessions are due a warning or a stop, what `claw-supervisor budget` shows (BudgetReport), and whether a spawn
 * into a group is refused. The policy service's BudgetWatcher acts on it (services/policy/budget-watcher.ts); the
 * CLI and dashboard may show it. No I/O, no clock: the time is an argument.
 */
import {
  budgetStopsNow,
  type BudgetLimit,
  type BudgetMark,
  type BudgetReport,
  type BudgetUse,
  type Budgets,
  type GroupDayUsage,
  type SessionUsage,
  periodKeyOf,
  utcDay,
} from "../../schemas/budget.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { sessionKey } from "../../schemas/registry-entry.js";
import { factsOfRecord, selectorCovers, type TargetFacts } from "../../schemas/selector.js";

/** The fields of a session record budgets look at. */
export type BudgetRecord = Pick<
  SessionRecord,
  | "sessionId"
  | "host"
  | "group"
  | "repo"
  | "autonomous"
  | "humanAttached"
  | "activeTurnId"
  | "model"
  | "usage"
  | "budget"
>;

/** Who writes budget warnings and stops (BudgetMark.by; the audit caller id of the watcher's actions). */
export const BUDGET_ACTOR = "policy";

/** The id of one limit's warning or stop in one period and scope: `<limitId>:<periodKey>:<scopeKey>`. Pure. */
export function budgetStopId(limitId: string, periodKey: string, scopeKey: string): string {
  return `${limitId}:${periodKey}:${scopeKey}`;
}

/** The scope key a limit counts a session under: `<host>.<sessionId>`, or its group (`""` for none). Pure. */
export function scopeKeyOf(
  limit: Pick<BudgetLimit, "scope">,
  record: Pick<BudgetRecord, "host" | "sessionId" | "group">,
) {
  return limit.scope === "session" ? sessionKey(record.host, record.sessionId) : (record.group ?? "");
}

/** Spend in one period: total tokens, the priced part's dollars, and the tokens with no price. */
export interface PeriodSpend {
  tokens: number;
  costUsd: number;
  unpricedTokens: number;
}

const NO_SPEND: PeriodSpend = Object.freeze({ tokens: 0, costUsd: 0, unpricedTokens: 0 });

/**
 * A session's spend in a period: the whole usage for `total`, the day's entry for a day (`YYYY-MM-DD`), the sum
 * of the month's days for a month (`YYYY-MM`). Unpriced spend (cost null) counts in tokens only. Pure.
 */
export function periodSpend(usage: SessionUsage | null, periodKey: string): PeriodSpend {
  if (usage === null) return NO_SPEND;
  if (periodKey === "total") {
    const tokens = usage.tokens.total;
    return usage.costUsd === null
      ? { tokens, costUsd: 0, unpricedTokens: tokens }
      : { tokens, costUsd: usage.costUsd, unpricedTokens: 0 };
  }
  const days =
    periodKey.length === 10
      ? [usage.days[periodKey]]
      : Object.entries(usage.days)
          .filter(([day]) => day.startsWith(`${periodKey}-`))
          .map(([, d]) => d);
  let tokens = 0;
  let costUsd = 0;
  let unpricedTokens = 0;
  for (const d of days) {
    if (!d) continue;
    tokens += d.tokens.total;
    if (d.costUsd === null) unpricedTokens += d.tokens.total;
    else costUsd += d.costUsd;
  }
  return { tokens, costUsd: roundUsd(costUsd), unpricedTokens };
}

const roundUsd = (usd: number): number => Math.round(usd * 1e6) / 1e6;

/** A warning or stop one session is due, with the use that made it due. */
export interface BudgetDue {
  state: "warned" | "stopped";
  mark: BudgetMark;
  use: BudgetUse;
}

/** What the budgets say about one session now. */
export interface SessionBudget {
  key: string;
  record: BudgetRecord;
  /** Over a limit that stops this session, not lifted: the first such limit in document order. */
  stop: BudgetDue | null;
  /** At a warning threshold, or a person's session over (not stopped): the first in document order; null with a stop. */
  warn: BudgetDue | null;
}

/** Every limit's use, and the sessions with a warning or stop due, at one time. */
export interface BudgetEvaluation {
  atMs: number;
  /** One per limit and scope key with at least one covered session, in document order. */
  uses: BudgetUse[];
  /** Sessions (by `<host>.<sessionId>`) with a warning or stop due. */
  sessions: Map<string, SessionBudget>;
  /** Stop ids lifted on any session (a group's stop lifted on one of its sessions no longer refuses spawns). */
  liftedAnywhere: ReadonlySet<string>;
}

/** Lifts this caller knows of beyond the records (one it just wrote, before the registry folded it). */
export type ExtraLifted = (key: string) => ReadonlySet<string> | undefined;

/** The threshold a limit warns at. Pure. */
export function warnAtOf(budgets: Pick<Budgets, "warnAt">, limit: Pick<BudgetLimit, "warnAt">): number {
  return limit.warnAt ?? budgets.warnAt;
}

/** How one scope's spend stands against a limit. Pure. */
export function useOf(
  budgets: Pick<Budgets, "warnAt">,
  limit: BudgetLimit,
  scopeKey: string,
  periodKey: string,
  spend: PeriodSpend,
  sessions: number,
): BudgetUse {
  const maxTokens = limit.maxTokens ?? null;
  const maxCostUsd = limit.maxCostUsd ?? null;
  const fraction = Math.max(
    maxTokens === null ? 0 : spend.tokens / maxTokens,
    maxCostUsd === null ? 0 : spend.costUsd / maxCostUsd,
  );
  return {
    limitId: limit.id,
    scope: limit.scope,
    scopeKey,
    period: limit.period,
    periodKey,
    tokens: spend.tokens,
    // Dollars with a part unpriced are not a figure to compare with a dollar limit: flagged (the priced part counts).
    costUsd: maxCostUsd !== null && spend.unpricedTokens > 0 ? null : spend.costUsd,
    maxTokens,
    maxCostUsd,
    fraction,
    state: fraction >= 1 ? "over" : fraction >= warnAtOf(budgets, limit) ? "warning" : "ok",
    sessions,
  };
}

const fmtTokens = (n: number): string => n.toLocaleString("en-US");
const fmtUsd = (usd: number): string => `$${usd.toFixed(usd >= 100 ? 2 : 4)}`;

/** `120,000 of 100,000 tokens, $1.2000 of $1.0000` (with what is unpriced). Pure. */
function amountPhrase(use: BudgetUse, spend: PeriodSpend): string {
  const parts: string[] = [];
  if (use.maxTokens !== null) parts.push(`${fmtTokens(use.tokens)} of ${fmtTokens(use.maxTokens)} tokens`);
  if (use.maxCostUsd !== null)
    parts.push(
      `${fmtUsd(spend.costUsd)} of ${fmtUsd(use.maxCostUsd)}${spend.unpricedTokens > 0 ? ` (and ${fmtTokens(spend.unpricedTokens)} tokens of a model with no price)` : ""}`,
    );
  return parts.join(", ");
}

/** `budget 'daily' (day 2026-01-05, group release)`. Pure. */
function limitPhrase(use: BudgetUse): string {
  const period = use.period === "total" ? "session total" : `${use.period} ${use.periodKey}`;
  const scope =
    use.scope === "session"
      ? `session ${use.scopeKey}`
      : use.scopeKey === ""
        ? "sessions without a group"
        : `group ${use.scopeKey}`;
  return `budget '${use.limitId}' (${period}, ${scope})`;
}

/**
 * Every limit's use at `atMs` over `records`, and each session's due warning or stop:
 * - a session over a limit is stopped when it is autonomous or the limit has `stopPeople`, unless that stop's id is
 *   lifted (in its record's `budget.lifted`, or in `extraLifted`); a lifted stop neither stops nor warns again;
 * - a person's session over a limit that does not stop it is warned, as is any session at the warning threshold.
 * Uses are counted over the sessions each limit's target covers. Pure.
 */
export function evaluateBudgets(
  budgets: Budgets,
  records: Iterable<BudgetRecord>,
  atMs: number,
  extraLifted?: ExtraLifted,
): BudgetEvaluation {
  const all = [...records];
  const liftedAnywhere = new Set<string>();
  const liftedOf = (key: string, r: BudgetRecord): ReadonlySet<string> => {
    const extra = extraLifted?.(key);
    const own = r.budget?.lifted ?? [];
    if (!extra || extra.size === 0) return new Set(own);
    return new Set([...own, ...extra]);
  };
  const keys = all.map((r) => sessionKey(r.host, r.sessionId));
  const lifted = all.map((r, i) => liftedOf(keys[i]!, r));
  for (const set of lifted) for (const id of set) liftedAnywhere.add(id);

  const uses: BudgetUse[] = [];
  const sessions = new Map<string, SessionBudget>();
  const facts = all.map(factsOfRecord);
  for (const limit of budgets.limits) {
    const periodKey = periodKeyOf(limit.period, atMs);
    // Covered sessions by scope key, with their spend in the period.
    const scopes = new Map<string, { members: number[]; spend: PeriodSpend[] }>();
    all.forEach((r, i) => {
      if (!selectorCovers(limit.target, facts[i]!)) return;
      const scopeKey = scopeKeyOf(limit, r);
      let scope = scopes.get(scopeKey);
      if (!scope) scopes.set(scopeKey, (scope = { members: [], spend: [] }));
      scope.members.push(i);
      scope.spend.push(periodSpend(r.usage, periodKey));
    });
    for (const [scopeKey, scope] of scopes) {
      const spend = scope.spend.reduce<PeriodSpend>(
        (a, b) => ({
          tokens: a.tokens + b.tokens,
          costUsd: roundUsd(a.costUsd + b.costUsd),
          unpricedTokens: a.unpricedTokens + b.unpricedTokens,
        }),
        NO_SPEND,
      );
      const use = useOf(budgets, limit, scopeKey, periodKey, spend, scope.members.length);
      uses.push(use);
      if (use.state === "ok") continue;
      const id = budgetStopId(limit.id, periodKey, scopeKey);
      const amount = amountPhrase(use, spend);
      for (const i of scope.members) {
        const r = all[i]!;
        const key = keys[i]!;
        const stops = use.state === "over" && (r.autonomous || limit.stopPeople);
        if (stops && lifted[i]!.has(id)) continue;
        let entry = sessions.get(key);
        if (entry?.stop) continue; // an earlier limit stops it already
        const reason =
          use.state === "warning"
            ? `${limitPhrase(use)} at ${Math.floor(use.fraction * 100)}%: ${amount}`
            : stops
              ? `over ${limitPhrase(use)}: ${amount}`
              : `over ${limitPhrase(use)}: ${amount}; a person's session is warned, not stopped`;
        const due: BudgetDue = {
          state: stops ? "stopped" : "warned",
          mark: {
            state: stops ? "stopped" : "warned",
            id,
            limitId: limit.id,
            periodKey,
            reason,
            by: BUDGET_ACTOR,
            atMs,
          },
          use,
        };
        if (!entry) sessions.set(key, (entry = { key, record: r, stop: null, warn: null }));
        if (stops) {
          entry.stop = due;
          entry.warn = null;
        } else entry.warn ??= due;
      }
    }
  }
  return { atMs, uses, sessions, liftedAnywhere };
}

/** One action the watcher owes a session: the budget annotation to write (null: it is there) and a turn to interrupt. */
export interface BudgetAction {
  key: string;
  record: BudgetRecord;
  due: BudgetDue;
  /** The mark to write, or null when the record already shows it (same id and state). */
  write: BudgetMark | null;
  /** For a stop: the session's running turn, to interrupt (null when none). */
  interruptTurnId: string | null;
}

/**
 * What is owed, session by session: a due stop not yet in the record (same id and state), and the interruption of
 * a stopped session's running turn (the caller remembers which turns it interrupted); a due warning not yet in
 * the record, unless the record shows a stop (a warning never replaces a stop). Pure.
 */
export function dueActions(evaluation: BudgetEvaluation): BudgetAction[] {
  const out: BudgetAction[] = [];
  for (const s of evaluation.sessions.values()) {
    const shown = s.record.budget;
    const due = s.stop ?? s.warn;
    if (!due) continue;
    const reflected = shown !== null && shown.id === due.mark.id && shown.state === due.state;
    if (due.state === "warned" && (reflected || shown?.state === "stopped")) continue;
    const interruptTurnId = due.state === "stopped" ? s.record.activeTurnId : null;
    if (reflected && interruptTurnId === null) continue;
    out.push({ key: s.key, record: s.record, due, write: reflected ? null : due.mark, interruptTurnId });
  }
  return out;
}

/**
 * Why a command to this session is refused with `budget_exceeded`, or null: its record shows a stop not lifted,
 * or the evaluation has a stop due for it. `lifted` are lifts known beyond the record (one just written). Pure.
 */
export function stopReasonOf(
  record: Pick<BudgetRecord, "budget">,
  due: SessionBudget | undefined,
  lifted?: ReadonlySet<string>,
): { id: string; limitId: string; reason: string } | null {
  const b = record.budget;
  if (b && budgetStopsNow(b) && !lifted?.has(b.id)) return { id: b.id, limitId: b.limitId, reason: b.reason };
  const stop = due?.stop;
  if (stop && !b?.lifted.includes(stop.mark.id) && !lifted?.has(stop.mark.id))
    return { id: stop.mark.id, limitId: stop.mark.limitId, reason: stop.mark.reason };
  return null;
}

/**
 * Why a spawn into `group` (null: no group) is refused, or null: a group-scope limit whose target would cover the
 * spawned (autonomous) session, over in the current period and not lifted on any session of the group. `host` is
 * the host the spawn would run on, when chosen. Pure.
 */
export function spawnRefusal(
  budgets: Budgets,
  evaluation: BudgetEvaluation,
  group: string | null,
  host?: string,
): { id: string; limitId: string; reason: string } | null {
  const facts: TargetFacts = { group, autonomous: true, humanAttached: false, ...(host ? { host } : {}) };
  const scopeKey = group ?? "";
  for (const limit of budgets.limits) {
    if (limit.scope !== "group" || !selectorCovers(limit.target, facts)) continue;
    const use = evaluation.uses.find((u) => u.limitId === limit.id && u.scopeKey === scopeKey);
    if (use?.state !== "over") continue;
    const id = budgetStopId(limit.id, use.periodKey, scopeKey);
    if (evaluation.liftedAnywhere.has(id)) continue;
    const spent = [
      use.maxTokens === null ? null : `${fmtTokens(use.tokens)} of ${fmtTokens(use.maxTokens)} tokens`,
      use.maxCostUsd === null || use.costUsd === null ? null : `${fmtUsd(use.costUsd)} of ${fmtUsd(use.maxCostUsd)}`,
    ].filter((p) => p !== null);
    return { id, limitId: limit.id, reason: `over ${limitPhrase(use)}${spent.length ? `: ${spent.join(", ")}` : ""}` };
  }
  return null;
}

/** Options of a report. */
export interface ReportOptions {
  /** Only this group's sessions (and its group-scope uses). */
  group?: string | undefined;
  /** The UTC day to total (`YYYY-MM-DD`); the day of `atMs` when absent. */
  day?: string | undefined;
}

/**
 * Tokens and cost of each group (`""`: sessions without a group) on the UTC `day`, from the sessions' own day
 * entries; groups with no spend that day are left out; by group name. Pure.
 */
export function groupsOnDay(records: Iterable<Pick<BudgetRecord, "group" | "usage">>, day: string): GroupDayUsage[] {
  const groups = new Map<string, GroupDayUsage>();
  for (const r of records) {
    const d = r.usage?.days[day];
    if (!d || d.tokens.total === 0) continue;
    const name = r.group ?? "";
    const g = groups.get(name) ?? { group: name, day, tokens: 0, costUsd: 0, unpriced: false, sessions: 0 };
    g.tokens += d.tokens.total;
    if (d.costUsd === null) g.unpriced = true;
    else g.costUsd = roundUsd(g.costUsd + d.costUsd);
    g.sessions += 1;
    groups.set(name, g);
  }
  return [...groups.values()].sort((a, b) => a.group.localeCompare(b.group));
}

/**
 * `claw-supervisor budget`: every limit's use in scopes with some spend or at a threshold, tokens and cost by
 * group on one day, the sessions a budget stops now, and models seen with no price. Works without budgets (no
 * limits: only totals). Pure.
 */
export function budgetReport(
  budgets: Budgets | undefined,
  records: Iterable<BudgetRecord>,
  atMs: number,
  options: ReportOptions = {},
  extraLifted?: ExtraLifted,
): BudgetReport {
  const day = options.day ?? utcDay(atMs);
  const all = [...records].filter((r) => options.group === undefined || r.group === options.group);
  const evaluation = budgets ? evaluateBudgets(budgets, all, atMs, extraLifted) : null;
  const unpricedModels = new Set<string>();
  for (const r of all) {
    const u = r.usage;
    if (u !== null && !u.priced && u.tokens.total > 0 && u.model !== null) unpricedModels.add(u.model);
  }
  const stopped: BudgetReport["stopped"] = [];
  for (const r of all) {
    const key = sessionKey(r.host, r.sessionId);
    const stop = stopReasonOf(r, evaluation?.sessions.get(key), extraLifted?.(key));
    if (stop) stopped.push({ hostId: r.host, sessionId: r.sessionId, reason: stop.reason });
  }
  return {
    day,
    limits: (evaluation?.uses ?? []).filter((u) => u.tokens > 0 || u.state !== "ok"),
    groups: groupsOnDay(all, day),
    stopped,
    unpricedModels: [...unpricedModels].sort(),
  };
}
