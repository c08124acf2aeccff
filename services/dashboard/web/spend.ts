/**
 * A session's spend and budget in words (issue 19): the fleet row's cost cell, the session view's usage and budget
 * facts. Costs come priced from the registry (`record.usage.costUsd`, null when the policy's price table has no
 * price for the model: tokens only, flagged `?`). Pure; no DOM.
 */
import { type BudgetState, type SessionUsage, type TokenCounts, utcDay } from "../../../schemas/budget.js";
import type { SessionRecord } from "../../../schemas/registry.js";

const UNITS = ["k", "M", "G", "T"] as const;

/** A token count in a few characters: `950`, `1.5k`, `12.3k`, `123k`, `4.56M`. Pure. */
export function compactTokens(n: number): string {
  if (n < 1_000) return String(Math.max(0, Math.round(n)));
  let value = n;
  for (const unit of UNITS) {
    value /= 1_000;
    const shown = Number(value.toPrecision(3));
    if (shown < 1_000 || unit === "T") return `${shown}${unit}`;
  }
  return String(n);
}

/** A whole number with thousands separators: `12,345`. Pure. */
export function fullNumber(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/**
 * Dollars as the fleet shows them: `$0.00` for nothing, `<$0.0001`, four decimals under a dollar (`$0.0123`), two
 * from a dollar (`$12.34`), thousands separated (`$1,234.50`). Pure.
 */
export function usdText(usd: number): string {
  if (usd <= 0) return "$0.00";
  if (usd < 0.0001) return "<$0.0001";
  if (usd < 1) return `$${usd.toFixed(4)}`;
  return `$${usd.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

/** `12,345 tokens: 10,000 in (2,000 cached), 2,345 out (300 reasoning)`. Pure. */
export function tokensBreakdown(t: TokenCounts): string {
  const cached = t.cachedInput > 0 ? ` (${fullNumber(t.cachedInput)} cached)` : "";
  const reasoning = t.reasoning > 0 ? ` (${fullNumber(t.reasoning)} reasoning)` : "";
  return `${fullNumber(t.total)} token${t.total === 1 ? "" : "s"}: ${fullNumber(t.input)} in${cached}, ${fullNumber(t.output)} out${reasoning}`;
}

/** The model a session's usage is counted for: the usage's own, else the record's; null when unknown. Pure. */
export function usageModel(r: SessionRecord): string | null {
  return r.usage?.model ?? r.model;
}

/** Why a cost is missing: `no price for gpt-x`, or `no price: model unknown`. Pure. */
export function noPriceText(model: string | null): string {
  return model === null ? "no price: model unknown" : `no price for ${model}`;
}

/** What the session used on the UTC day of `nowMs` (null when nothing that day). Pure. */
export function usageOnDay(usage: SessionUsage, nowMs: number): SessionUsage["days"][string] | null {
  return usage.days[utcDay(nowMs)] ?? null;
}

/** One day's (or the whole session's) tokens and cost: `3,400 tokens · $0.0100`, or `· ? no price for m`. Pure. */
export function tokensAndCost(tokens: number, costUsd: number | null, model: string | null): string {
  const t = `${fullNumber(tokens)} token${tokens === 1 ? "" : "s"}`;
  return costUsd === null ? `${t} · ? ${noPriceText(model)}` : `${t} · ${usdText(costUsd)}`;
}

/** The budget state's words for a badge and a line. */
export type BudgetTone = "stopped" | "warned" | "lifted";

/** The fleet's cost cell: what it shows, its hover text, and whether the cost is known. */
export interface SpendCell {
  /** `none`: no token usage reported yet; `priced`: cost known; `unpriced`: tokens only, flagged `?`. */
  kind: "none" | "priced" | "unpriced";
  /** `$0.0123`, `12.3k tok` (unpriced; the `?` is the `flag`), or `-`. */
  main: string;
  /** Unpriced: why (`no price for gpt-x`), shown as a `?` after `main`; else empty. */
  flag: string;
  /** Under it: the tokens (`12.3k tok`), the missing price, or the budget state (`stopped by budget`). */
  sub: string;
  /** The whole story on hover: tokens in, cached, out, model, cost, today's, the budget's reason. */
  title: string;
  /** The budget's state when it is one the row should show (not a lifted stop: that one is over). */
  budget: Exclude<BudgetTone, "lifted"> | null;
}

/** The fleet row's cost cell for `r` as of `nowMs` (for "today", a UTC day). Pure. */
export function spendCell(r: SessionRecord, nowMs: number): SpendCell {
  const u = r.usage;
  const b = r.budget;
  const budget = b !== null && b.state !== "lifted" ? b.state : null;
  const budgetSub = budget === "stopped" ? "stopped by budget" : budget === "warned" ? "budget warning" : null;
  const budgetTitle = b === null || budget === null ? "" : `\n${budgetLine(b)}`;
  if (u === null)
    return {
      kind: "none",
      main: "-",
      flag: "",
      sub: budgetSub ?? "",
      title: `No token usage reported yet${budgetTitle}`,
      budget,
    };
  const model = usageModel(r);
  const today = usageOnDay(u, nowMs);
  const todayText =
    today === null ? "today: nothing" : `today: ${tokensAndCost(today.tokens.total, today.costUsd, model)}`;
  const lines = [
    `${tokensBreakdown(u.tokens)}`,
    `model ${model ?? "unknown"}`,
    u.costUsd === null ? `cost: ? ${noPriceText(model)}` : `cost ${usdText(u.costUsd)}`,
    todayText,
  ];
  const title = `${lines.join("\n")}${budgetTitle}`;
  const tokens = `${compactTokens(u.tokens.total)} tok`;
  if (u.costUsd === null)
    return {
      kind: "unpriced",
      main: tokens,
      flag: noPriceText(model),
      sub: budgetSub ?? noPriceText(model),
      title,
      budget,
    };
  return { kind: "priced", main: usdText(u.costUsd), flag: "", sub: budgetSub ?? tokens, title, budget };
}

/** A budget period key in words: `the whole session`, `day 2025-03-01`, `month 2025-03`. Pure. */
export function periodText(periodKey: string): string {
  if (periodKey === "total") return "the whole session";
  if (/^\d{4}-\d{2}-\d{2}$/.test(periodKey)) return `day ${periodKey}`;
  if (/^\d{4}-\d{2}$/.test(periodKey)) return `month ${periodKey}`;
  return periodKey;
}

/**
 * The budget state in one line: `stopped by budget auto-day (day 2025-03-01): <reason>`, `budget warning …`, or
 * `stop auto-day (…) lifted by olga: <reason>`. Pure.
 */
export function budgetLine(b: BudgetState): string {
  const which = `${b.limitId} (${periodText(b.periodKey)})`;
  const reason = b.reason ? `: ${b.reason}` : "";
  switch (b.state) {
    case "stopped":
      return `stopped by budget ${which}${reason}`;
    case "warned":
      return `budget warning ${which}${reason}`;
    case "lifted":
      return `stop by budget ${which} lifted by ${b.by}${reason}`;
  }
}

/** The command an operator lifts a budget stop with, for the session view. Pure. */
export function budgetLiftCommand(shortId: string, hostId: string): string {
  return `claw-supervisor budget lift ${hostId}/${shortId}`;
}
