/**
 * The one JSON shape of every CLI outcome: `{ "ok": true, "data": ... }` on success and
 * `{ "ok": false, "code": ..., "message": ... }` on failure (a command's typed result code, or `usage` for an
 * argument error and `failure` for a local one). Times leave the CLI as ISO-8601 strings: a field named `…At`
 * or `…AtMs` that holds a number becomes a string, and `…AtMs` loses its `Ms` (`atMs` becomes `at`). Pure.
 */

/** A failure code the CLI adds to the commands' typed result codes. */
export type LocalFailureCode = "usage" | "failure";

/** What `--json` prints. */
export type CliJson =
  | { ok: true; data: unknown }
  | { ok: false; code: string; message: string; [extra: string]: unknown };

/**
 * Below this a `…At` number is read as unix seconds (Codex's turn times are seconds), else milliseconds:
 * 1e11 ms is March 1973, 1e11 s is the year 5138, so no real time is read wrong.
 */
const SECONDS_BELOW = 1e11;

/** A unix time (seconds or milliseconds, see above) as an ISO-8601 string. Pure. */
export function isoTime(value: number): string {
  return new Date(value < SECONDS_BELOW ? value * 1000 : value).toISOString();
}

const TIME_KEY = /(^at|At)(Ms)?$/;

/**
 * `value` with every time field (`…At`, `…AtMs`, `at`, `atMs`) as an ISO-8601 string, recursively; a null one
 * stays null, under the name without `Ms`. Pure.
 */
export function withIsoTimes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withIsoTimes);
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (TIME_KEY.test(key) && typeof v === "number" && Number.isFinite(v) && v >= 0) {
      // `…AtMs` says its unit; a bare `…At` may be Codex's seconds.
      out[key.endsWith("Ms") ? key.slice(0, -2) : key] = key.endsWith("Ms") ? new Date(v).toISOString() : isoTime(v);
    } else if (TIME_KEY.test(key) && v === null) {
      // A time not (yet) set keeps its null under the same name a set one gets.
      out[key.endsWith("Ms") ? key.slice(0, -2) : key] = null;
    } else {
      out[key] = withIsoTimes(v);
    }
  }
  return out;
}

/** The JSON text of a success (times as ISO strings), pretty unless `compact` (one line, for streams). Pure. */
export function jsonOk(data: unknown, compact = false): string {
  return `${JSON.stringify({ ok: true, data: withIsoTimes(data) }, null, compact ? undefined : 2)}\n`;
}

/** The JSON text of a failure. `extra` fields (e.g. `candidates`) go beside code and message. Pure. */
export function jsonFailure(
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
  compact = false,
): string {
  const body = { ok: false, code, message, ...(withIsoTimes(extra) as Record<string, unknown>) };
  return `${JSON.stringify(body, null, compact ? undefined : 2)}\n`;
}

/**
 * Whether a command line asks for JSON: `--json`, `-o json` / `-ojson` / `-o=json`, or `--output json` /
 * `--output=json`, before any `--`. The CLI shell uses it to print failures as JSON too. Pure.
 */
export function wantsJson(argv: readonly string[]): boolean {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") return false;
    if (arg === "--json" || arg === "-ojson" || arg === "-o=json" || arg === "--output=json") return true;
    if ((arg === "-o" || arg === "--output") && argv[i + 1] === "json") return true;
  }
  return false;
}
