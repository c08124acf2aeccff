/**
 * Seen and unseen, per operator, in this browser: localStorage `claw-seen:<name>` holds `{ <key>: <revision seen> }`.
 * A row is new when its key is not there or it changed since (a higher revision).
 */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";

type SeenMap = Record<string, number>;

const storageKey = (name: string): string => `claw-seen:${name}`;

function load(name: string): SeenMap {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(storageKey(name)) ?? "{}");
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return {};
    const out: SeenMap = {};
    for (const [k, v] of Object.entries(parsed)) if (typeof v === "number" && Number.isFinite(v)) out[k] = v;
    return out;
  } catch {
    return {};
  }
}

function save(name: string, seen: SeenMap): void {
  try {
    localStorage.setItem(storageKey(name), JSON.stringify(seen));
  } catch {
    // storage full or refused: seen marks stay in memory for this tab
  }
}

/** The operator's seen marks and the ways to set them. */
export interface Seen {
  /** True when the row at `revision` is new to the operator. */
  isNew(key: string, revision: number): boolean;
  /** Marks rows seen at their revisions; keys not in `keep` (when given) are forgotten. */
  mark(rows: readonly { key: string; revision: number }[], keep?: ReadonlySet<string>): void;
}

/**
 * The seen marks of operator `name` (re-renders after a mark; other tabs' marks are read on the storage event).
 * The returned object always acts on the latest marks, so a row that kept an older one marks correctly.
 */
export function useSeen(name: string): Seen {
  const [initial] = useState(() => load(name));
  const seen = useRef<SeenMap>(initial);
  const [version, setVersion] = useState(0);
  useEffect(() => {
    seen.current = load(name);
    setVersion((v) => v + 1);
    const onStorage = (e: StorageEvent) => {
      if (e.key !== storageKey(name)) return;
      seen.current = load(name);
      setVersion((v) => v + 1);
    };
    window.addEventListener("storage", onStorage);
    return () => window.removeEventListener("storage", onStorage);
  }, [name]);
  return useMemo(
    (): Seen => ({
      isNew: (key, revision) => {
        const at = seen.current[key];
        return at === undefined || at < revision;
      },
      mark: (rows, keep) => {
        const next: SeenMap = {};
        for (const [k, v] of Object.entries(seen.current)) if (keep === undefined || keep.has(k)) next[k] = v;
        for (const r of rows) next[r.key] = r.revision;
        seen.current = next;
        save(name, next);
        setVersion((v) => v + 1);
      },
    }),
    [name, version],
  );
}
