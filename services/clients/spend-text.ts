/**
 * Token counts and dollars in a few characters (issue 19), as the CLI's tables and the Claw's notices and summaries
 * say them. Pure. (The dashboard's cells show more: thousands separators and the whole breakdown on hover.)
 */

/** A token count in at most 5 characters: `812`, `12.3k`, `123k`, `1.2M`, `45M`, `1.2B`. Pure. */
export function tokensText(n: number): string {
  if (n < 1000) return String(n);
  for (const [unit, size] of [
    ["k", 1e3],
    ["M", 1e6],
    ["B", 1e9],
  ] as const) {
    const v = n / size;
    // One decimal below 100 of the unit; a value that rounds up to 1000 goes to the next unit.
    const text = v < 99.95 ? v.toFixed(1).replace(/\.0$/, "") : v.toFixed(0);
    if (Number(text) < 1000 || unit === "B") return `${text}${unit}`;
  }
  return String(n);
}

/**
 * Dollars as the tables show them: `$0`, `<$0.0001`, `$0.0123` (4 decimals below a dollar), `$12.34`, `$1234`;
 * `?` for null (spend of a model with no price). Pure.
 */
export function costText(usd: number | null): string {
  if (usd === null) return "?";
  if (usd === 0) return "$0";
  if (usd < 0.00005) return "<$0.0001";
  if (usd < 1) return `$${usd.toFixed(4)}`;
  if (usd < 1000) return `$${usd.toFixed(2)}`;
  return `$${usd.toFixed(0)}`;
}
