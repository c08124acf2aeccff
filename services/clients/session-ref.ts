/**
 * Short session ids and the references a person types for a session. Session ids are Codex thread ids, UUIDv7:
 * their first 12 hex digits are a millisecond timestamp, so sessions made close together share them; the
 * last group (48 random bits) tells them apart. Shared by the CLI, the registry's `resolve` query and the
 * dashboard. Pure.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Shortest short id, in hex digits of the last UUID group. */
export const SHORT_ID_LENGTH = 8;
/** Shortest prefix `matchesRef` accepts (the whole id is always accepted). */
export const MIN_REF_LENGTH = 4;

const LAST_GROUP_LENGTH = 12;

/** The random last group of a UUID (lower case), or null when `id` is not a UUID. Pure. */
function lastGroup(id: string): string | null {
  return UUID.test(id) ? id.slice(-LAST_GROUP_LENGTH).toLowerCase() : null;
}

/**
 * True when `ref` names the session `id`: `ref` is the id, or a prefix of it at least {@link MIN_REF_LENGTH}
 * long, or (for a UUID) a prefix of its last group at least that long. UUIDs compare without case. Pure.
 */
export function matchesRef(id: string, ref: string): boolean {
  if (ref === id) return true;
  if (ref.length < MIN_REF_LENGTH) return false;
  const last = lastGroup(id);
  if (last === null) return id.startsWith(ref);
  const lower = ref.toLowerCase();
  return id.toLowerCase().startsWith(lower) || last.startsWith(lower);
}

/**
 * The items `ref` names: those whose id equals `ref` when there are any (a whole id always wins), else every
 * item `matchesRef` accepts. Order is kept. Pure.
 */
export function matchingRefs<T>(items: Iterable<T>, idOf: (item: T) => string, ref: string): T[] {
  const exact: T[] = [];
  const prefix: T[] = [];
  for (const item of items) {
    const id = idOf(item);
    if (id === ref) exact.push(item);
    else if (matchesRef(id, ref)) prefix.push(item);
  }
  return exact.length > 0 ? exact : prefix;
}

/**
 * Each id's short form: the first {@link SHORT_ID_LENGTH} hex digits of its last UUID group, lengthened (up to
 * the whole group, then the whole id) until no other of `ids` matches it as a ref; an id that is not a UUID is
 * its own short form. Duplicate ids share one entry. O(n). Pure.
 */
export function shortIds(ids: Iterable<string>): Map<string, string> {
  const unique = [...new Set(ids)];
  // Every ref of a short id's length that names each id; a candidate is unique when one id owns it.
  const owners = new Map<string, number>();
  const keysOf = (id: string): Set<string> => {
    const keys = new Set<string>([id]);
    const last = lastGroup(id);
    const lower = last === null ? id : id.toLowerCase();
    for (let n = SHORT_ID_LENGTH; n <= LAST_GROUP_LENGTH; n++) {
      if (lower.length >= n) keys.add(lower.slice(0, n));
      if (last !== null) keys.add(last.slice(0, n));
    }
    return keys;
  };
  for (const id of unique) for (const key of keysOf(id)) owners.set(key, (owners.get(key) ?? 0) + 1);
  const out = new Map<string, string>();
  for (const id of unique) {
    const last = lastGroup(id);
    let short = id;
    if (last !== null) {
      for (let n = SHORT_ID_LENGTH; n <= LAST_GROUP_LENGTH; n++) {
        const candidate = last.slice(0, n);
        if (owners.get(candidate) === 1) {
          short = candidate;
          break;
        }
      }
    }
    out.set(id, short);
  }
  return out;
}

/**
 * The longest short form of `id`: its whole last UUID group (48 random bits, so unique in any real fleet), or the
 * id itself when it is not a UUID. For a session whose fleet-wide short id is not known yet. Pure.
 */
export function longShortId(id: string): string {
  return lastGroup(id) ?? id;
}

/** `<host>/<ref>` or `<ref>` as typed: the host part when there is a slash. Pure. */
export function parseSessionRef(text: string): { host?: string; ref: string } {
  const slash = text.indexOf("/");
  return slash < 0 ? { ref: text } : { host: text.slice(0, slash), ref: text.slice(slash + 1) };
}
