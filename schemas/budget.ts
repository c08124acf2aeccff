/**
 * Spend (issue 19): the tokens a session used, what they cost by the policy's price table, and the budgets a
 * policy sets on them. The host agent forwards Codex's `thread/tokenUsage/updated`; the session machine keeps
 * the tokens (machines/); the registry prices them with the active policy's `budgets.prices` when it writes the
 * record; the policy service checks them against `budgets.limits` and stops or warns (services/policy/budget*).
 */
import { z } from "zod";
import { TargetSelector } from "./selector.js";

const count = z.number().int().nonnegative();

/**
 * Token counts in Codex's terms: `input` includes `cachedInput`; `output` includes `reasoning`; `total` is what
 * Codex reports as total (input + output).
 */
export const TokenCounts = z.object({
  input: count,
  cachedInput: count,
  output: count,
  reasoning: count,
  total: count,
});
export type TokenCounts = z.infer<typeof TokenCounts>;

export const ZERO_TOKENS: TokenCounts = Object.freeze({ input: 0, cachedInput: 0, output: 0, reasoning: 0, total: 0 });

/** One model's price in US dollars per million tokens; `cachedInput` defaults to `input`. */
export const ModelPrice = z.strictObject({
  inputPerMTokUsd: z.number().nonnegative().max(10_000),
  cachedInputPerMTokUsd: z.number().nonnegative().max(10_000).optional(),
  outputPerMTokUsd: z.number().nonnegative().max(10_000),
});
export type ModelPrice = z.infer<typeof ModelPrice>;

/** Prices by model name as Codex reports it (`Thread.model`). A model not here is metered in tokens only, flagged. */
export const PriceTable = z.record(z.string().min(1).max(200), ModelPrice);
export type PriceTable = z.infer<typeof PriceTable>;

/** Over which time a limit counts: the session's whole life, the UTC day, or the UTC month. */
export const BudgetPeriod = z.enum(["total", "day", "month"]);
export type BudgetPeriod = z.infer<typeof BudgetPeriod>;

/**
 * One limit. `scope` `session`: each session the target covers has the allowance on its own; `group`: the
 * covered sessions of one group share it (sessions without a group share the group key `""`). At `warnAt` of
 * the limit (a fraction; the document's default when absent) a `budget-warning` notice goes out once per
 * limit, scope and period; at the limit an autonomous session is stopped (its turn interrupted, marked
 * `blocked`, `send`/`reply`/`spawn` refused with `budget_exceeded`) and a person's session is warned, unless
 * `stopPeople` is true.
 */
export const BudgetLimit = z
  .strictObject({
    id: z
      .string()
      .min(1)
      .max(63)
      .regex(/^[A-Za-z0-9_-]+$/, "a limit id is letters, digits, '-' and '_'"),
    scope: z.enum(["session", "group"]).default("session"),
    period: BudgetPeriod.default("total"),
    target: TargetSelector.default({}),
    maxTokens: z.number().int().positive().optional(),
    maxCostUsd: z.number().positive().optional(),
    warnAt: z.number().gt(0).lt(1).optional(),
    /** Also stop a person's (non-autonomous) session at the limit, not only warn it. */
    stopPeople: z.boolean().default(false),
  })
  .refine((l) => l.maxTokens !== undefined || l.maxCostUsd !== undefined, {
    message: "a limit needs maxTokens, maxCostUsd or both",
  });
export type BudgetLimit = z.infer<typeof BudgetLimit>;

/** `budgets` in the policy document. */
export const Budgets = z
  .strictObject({
    prices: PriceTable.default({}),
    /** Default warning threshold, a fraction of each limit. */
    warnAt: z.number().gt(0).lt(1).default(0.8),
    limits: z.array(BudgetLimit).max(200).default([]),
  })
  .superRefine((b, ctx) => {
    const seen = new Set<string>();
    b.limits.forEach((l, i) => {
      if (seen.has(l.id))
        ctx.addIssue({ code: "custom", path: ["limits", i, "id"], message: `duplicate limit id '${l.id}'` });
      seen.add(l.id);
    });
  });
export type Budgets = z.infer<typeof Budgets>;
export type BudgetsInput = z.input<typeof Budgets>;

/** What a session used on one UTC day. */
export const DayUsage = z.object({ tokens: TokenCounts, costUsd: z.number().nonnegative().nullable() });
export type DayUsage = z.infer<typeof DayUsage>;

/** Most days a session record keeps (enough for this month and the last). */
export const MAX_USAGE_DAYS = 62;

/**
 * A session's spend (SessionRecord.usage). `costUsd` is null when the model has no price (`priced` false:
 * shown as tokens only, flagged); priced when the registry wrote the record, with the price table then active.
 * `days` is keyed by UTC date `YYYY-MM-DD`, the newest MAX_USAGE_DAYS.
 */
export const SessionUsage = z.object({
  model: z.string().nullable(),
  tokens: TokenCounts,
  costUsd: z.number().nonnegative().nullable(),
  priced: z.boolean(),
  days: z.record(z.string(), DayUsage),
});
export type SessionUsage = z.infer<typeof SessionUsage>;

/**
 * The budget state of a session (SessionRecord.budget), from `budget` annotations the policy service writes.
 * `id` is `<limitId>:<periodKey>:<scopeKey>`: one warning and one stop per limit, period and scope. `lifted`
 * lists the stop ids an operator lifted (`budget lift`): those no longer stop the session.
 */
export const BudgetState = z.object({
  state: z.enum(["warned", "stopped", "lifted"]),
  id: z.string(),
  limitId: z.string(),
  /** `total`, `YYYY-MM-DD` or `YYYY-MM`. */
  periodKey: z.string(),
  reason: z.string(),
  /** `policy` for a warning or stop, the operator's id for a lift. */
  by: z.string(),
  atMs: z.number().int().nonnegative(),
  lifted: z.array(z.string()).max(50).default([]),
});
export type BudgetState = z.infer<typeof BudgetState>;

/** True when the budget state is a stop no operator lifted: the session is stopped now. Pure. */
export function budgetStopsNow(b: BudgetState | null): boolean {
  return b !== null && b.state === "stopped" && !b.lifted.includes(b.id);
}

/** Payload of a `budget` annotation (one BudgetState change; `lifted` is the fold's). */
export const BudgetMark = BudgetState.omit({ lifted: true });
export type BudgetMark = z.infer<typeof BudgetMark>;

/** `budget` verb: use against every limit, and totals by group and day. */
export const BudgetArgs = z.strictObject({
  group: z.string().min(1).max(200).optional(),
  /** The UTC day to total (`YYYY-MM-DD`); today when absent. */
  day: z
    .string()
    .regex(/^\d{4}-\d{2}-\d{2}$/, "day is YYYY-MM-DD")
    .refine((d) => !Number.isNaN(Date.parse(d)) && utcDay(Date.parse(d)) === d, "day is not a date in the calendar")
    .optional(),
});
/** `budget-lift` verb: an operator lets a stopped session go on (audited); `limitId` narrows to one stop. */
export const BudgetLiftArgs = z.strictObject({
  target: z.strictObject({
    sessionId: z.string().min(1).max(200),
    hostId: z.string().min(1).max(200).optional(),
  }),
  limitId: z.string().min(1).max(63).optional(),
});

/** One limit's use in one scope and period. */
export const BudgetUse = z.object({
  limitId: z.string(),
  scope: z.enum(["session", "group"]),
  /** The group name (scope group; `""` for no group) or `<hostId>.<sessionId>` (scope session). */
  scopeKey: z.string(),
  period: BudgetPeriod,
  periodKey: z.string(),
  tokens: z.number().int().nonnegative(),
  /** Null when some of the spend is unpriced and the limit counts dollars. */
  costUsd: z.number().nonnegative().nullable(),
  maxTokens: z.number().int().positive().nullable(),
  maxCostUsd: z.number().positive().nullable(),
  /** The larger of tokens/maxTokens and cost/maxCostUsd. */
  fraction: z.number().nonnegative(),
  state: z.enum(["ok", "warning", "over"]),
  sessions: z.number().int().nonnegative(),
});
export type BudgetUse = z.infer<typeof BudgetUse>;

/** Tokens and cost of one group on one day (`group` `""`: sessions without a group). */
export const GroupDayUsage = z.object({
  group: z.string(),
  day: z.string(),
  tokens: z.number().int().nonnegative(),
  costUsd: z.number().nonnegative(),
  /** True when some of it is unpriced (tokens of a model with no price, not in costUsd). */
  unpriced: z.boolean(),
  sessions: z.number().int().nonnegative(),
});
export type GroupDayUsage = z.infer<typeof GroupDayUsage>;

/** `budget` result. Only uses in scopes with some spend, or over/warning, are listed. */
export const BudgetReport = z.object({
  day: z.string(),
  limits: z.array(BudgetUse),
  groups: z.array(GroupDayUsage),
  /** Sessions stopped by a budget now (not lifted). */
  stopped: z.array(z.object({ hostId: z.string(), sessionId: z.string(), reason: z.string() })),
  /** Models seen with no price in the table. */
  unpricedModels: z.array(z.string()),
});
export type BudgetReport = z.infer<typeof BudgetReport>;

/** `budget-lift` result. */
export const BudgetLiftResult = z.object({ hostId: z.string(), sessionId: z.string(), lifted: z.string() });
export type BudgetLiftResult = z.infer<typeof BudgetLiftResult>;

// ---- pure helpers shared by the registry, the policy service, the CLI and the dashboard ----

/** UTC `YYYY-MM-DD` of a unix-ms time. Pure. */
export function utcDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** Key of the period a time falls in: `total`, `YYYY-MM-DD` or `YYYY-MM`. Pure. */
export function periodKeyOf(period: BudgetPeriod, ms: number): string {
  if (period === "total") return "total";
  const day = utcDay(ms);
  return period === "day" ? day : day.slice(0, 7);
}

/** a + b, field by field. Pure. */
export function addTokens(a: TokenCounts, b: TokenCounts): TokenCounts {
  return {
    input: a.input + b.input,
    cachedInput: a.cachedInput + b.cachedInput,
    output: a.output + b.output,
    reasoning: a.reasoning + b.reasoning,
    total: a.total + b.total,
  };
}

/** Dollars for these tokens at this price (uncached input, cached input, output), or null without a price. Pure. */
export function priceTokens(tokens: TokenCounts, price: ModelPrice | undefined): number | null {
  if (price === undefined) return null;
  const cached = Math.min(tokens.cachedInput, tokens.input);
  const cachedRate = price.cachedInputPerMTokUsd ?? price.inputPerMTokUsd;
  const usd =
    ((tokens.input - cached) * price.inputPerMTokUsd + cached * cachedRate + tokens.output * price.outputPerMTokUsd) /
    1_000_000;
  return Math.round(usd * 1e6) / 1e6;
}

/**
 * The usage with `costUsd` (whole session and each day) priced by `prices` for its model; a model the table
 * lacks (or none) leaves costs null and `priced` false. Pure: the registry applies it when it writes a record.
 */
export function priceSessionUsage(usage: SessionUsage, prices: PriceTable): SessionUsage {
  const price = usage.model === null ? undefined : prices[usage.model];
  const days: Record<string, DayUsage> = {};
  for (const [day, d] of Object.entries(usage.days))
    days[day] = { tokens: d.tokens, costUsd: priceTokens(d.tokens, price) };
  return { ...usage, costUsd: priceTokens(usage.tokens, price), priced: price !== undefined, days };
}
