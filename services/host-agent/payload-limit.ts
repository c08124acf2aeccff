/** Keeps one event's payload under a byte budget so it fits a gateway frame. Pure. */

/** Longest string kept whole once a payload is over budget, in characters. */
export const TRUNCATED_STRING_CHARS = 2_048;

/** The JSON size of a value in UTF-8 bytes. */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? "null", "utf8");
}

/** Longest array kept whole once cutting strings was not enough: the first and last halves of this many stay. */
export const TRUNCATED_ARRAY_ITEMS = 40;

/**
 * Returns `payload` unchanged when its JSON is at most `maxBytes`. Otherwise a copy whose long strings are cut
 * to TRUNCATED_STRING_CHARS with a `…[truncated N chars]` marker; if still too big, long arrays also keep only
 * their first and last TRUNCATED_ARRAY_ITEMS/2 elements (shapes stay valid for their schemas); if still too
 * big, a stub `{ truncated: true, originalBytes, threadId?, turnId? }`.
 */
export function limitPayload(payload: unknown, maxBytes: number): unknown {
  const bytes = jsonBytes(payload);
  if (bytes <= maxBytes) return payload;
  const cut = truncateStrings(payload);
  if (jsonBytes(cut) <= maxBytes) return cut;
  const shortened = shortenArrays(cut);
  if (jsonBytes(shortened) <= maxBytes) return shortened;
  const stub: Record<string, unknown> = { truncated: true, originalBytes: bytes };
  if (isRecord(payload)) {
    for (const key of ["threadId", "turnId"]) if (typeof payload[key] === "string") stub[key] = payload[key];
  }
  return stub;
}

function truncateStrings(value: unknown): unknown {
  if (typeof value === "string") {
    return value.length > TRUNCATED_STRING_CHARS
      ? `${value.slice(0, TRUNCATED_STRING_CHARS)}…[truncated ${value.length - TRUNCATED_STRING_CHARS} chars]`
      : value;
  }
  if (Array.isArray(value)) return value.map(truncateStrings);
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, truncateStrings(v)]));
  return value;
}

function shortenArrays(value: unknown): unknown {
  if (Array.isArray(value)) {
    const half = TRUNCATED_ARRAY_ITEMS / 2;
    const kept = value.length > TRUNCATED_ARRAY_ITEMS ? [...value.slice(0, half), ...value.slice(-half)] : value;
    return kept.map(shortenArrays);
  }
  if (isRecord(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shortenArrays(v)]));
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
