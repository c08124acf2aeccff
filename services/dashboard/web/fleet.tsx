/**
 * `#/fleet`: every session, grouped by host, in one virtualized list (only the rows in view are in the DOM, so
 * 10,000 sessions stay fluid), with search and filters (status, host, repo, group, waiting). Keyboard: `/` focuses
 * the search, ArrowUp/ArrowDown or k/j move the selection, Enter opens the selected session.
 */
import { useEffect, useId, useMemo, useRef, useState } from "preact/hooks";
import type { SessionRow } from "../../../schemas/dashboard.js";
import type { SessionFilter } from "../../../schemas/registry.js";
import { matchesFilter } from "../../clients/session-filter.js";
import { FleetFilters, type FleetFilterState, NO_FILTERS, searchText, toSessionFilter } from "./fleet-filters.js";
import { HostLine, SessionLine, fleetRowId } from "./fleet-row.js";
import { sortedSessionKeys, useLive } from "./live.js";
import { markFirstRender } from "./metrics.js";
import { useNow } from "./relative-time.js";
import { useVirtualizer } from "./virtual-list.js";

const ROW_HEIGHT = 56;
const HOST_HEIGHT = 36;

/** A line of the list; a session line holds only its key, so the list outlives changes to the rows themselves. */
type Item = { kind: "host"; host: string; count: number } | { kind: "session"; key: string };

const isTyping = (el: Element | null): boolean =>
  el instanceof HTMLInputElement ||
  el instanceof HTMLTextAreaElement ||
  el instanceof HTMLSelectElement ||
  (el instanceof HTMLElement && el.isContentEditable);

/** Groups the matching sessions by host, in key order (so rows keep their place as they change). */
function buildItems(
  sortedKeys: readonly string[],
  sessions: Map<string, SessionRow>,
  keep: (r: SessionRow) => boolean,
) {
  const items: Item[] = [];
  let header: Extract<Item, { kind: "host" }> | null = null;
  let matched = 0;
  for (const key of sortedKeys) {
    const row = sessions.get(key);
    if (row === undefined || !keep(row)) continue;
    matched += 1;
    if (header === null || header.host !== row.record.host) {
      header = { kind: "host", host: row.record.host, count: 0 };
      items.push(header);
    }
    header.count += 1;
    items.push({ kind: "session", key });
  }
  return { items, matched };
}

/** The fleet view. */
export function FleetView() {
  const live = useLive();
  const id = useId();
  const now = useNow(5_000);
  const [filters, setFilters] = useState<FleetFilterState>(NO_FILTERS);
  const [selected, setSelectedState] = useState<string | null>(null);
  // Key presses can come faster than renders: moves read the latest selection from here.
  const selectedRef = useRef<string | null>(null);
  const setSelected = (key: string | null) => {
    selectedRef.current = key;
    setSelectedState(key);
  };
  const scrollRef = useRef<HTMLDivElement>(null);
  const searchRef = useRef<HTMLInputElement>(null);

  // Sorted keys change only when a key comes or goes, not on every frame.
  const sortedKeys = sortedSessionKeys();
  const filter: SessionFilter = toSessionFilter(filters);
  const needle = filters.search.trim().toLowerCase();
  const filtered = Object.keys(filter).length > 0 || needle !== "";
  // Unfiltered, the list is the sorted keys grouped by host: rebuilt only when a key comes or goes, not on every
  // frame of changes (rebuilding all 10,000 items per frame was the page's top cost under load). Filtered, a change
  // may move a row in or out, so it follows every applied frame.
  const filterKey = JSON.stringify([filter, needle]);
  const { items, matched } = useMemo(
    () =>
      buildItems(
        sortedKeys,
        live.sessions,
        filtered
          ? (r) => matchesFilter(r.record, filter) && (needle === "" || searchText(r).includes(needle))
          : () => true,
      ),
    [sortedKeys, filterKey, filtered ? live.version : 0],
  );

  const virtualizer = useVirtualizer({
    count: items.length,
    getScrollElement: () => scrollRef.current,
    estimateSize: (i) => (items[i]?.kind === "host" ? HOST_HEIGHT : ROW_HEIGHT),
    getItemKey: (i) => {
      const it = items[i];
      return it === undefined ? i : it.kind === "host" ? `host:${it.host}` : it.key;
    },
    overscan: 8,
  });
  const virtualItems = virtualizer.getVirtualItems();

  useEffect(() => {
    if (virtualItems.some((v) => items[v.index]?.kind === "session")) markFirstRender();
  });

  const move = (delta: number) => {
    if (items.length === 0) return;
    const current = selectedRef.current;
    let index = current === null ? -1 : items.findIndex((it) => it.kind === "session" && it.key === current);
    if (index === -1) index = delta > 0 ? -1 : items.length;
    for (let i = index + delta; i >= 0 && i < items.length; i += delta) {
      const it = items[i];
      if (it?.kind === "session") {
        setSelected(it.key);
        virtualizer.scrollToIndex(i, { align: "auto" });
        return;
      }
    }
  };
  const openKey = (key: string | null) => {
    if (key !== null && live.sessions.has(key)) location.hash = `#/session/${key}`;
  };
  const open = () => openKey(selectedRef.current);

  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey) return;
      const typing = isTyping(document.activeElement);
      const inSearch = document.activeElement === searchRef.current;
      if (e.key === "/" && !typing) {
        e.preventDefault();
        searchRef.current?.focus();
        return;
      }
      if ((e.key === "ArrowDown" || (e.key === "j" && !typing)) && (!typing || inSearch)) {
        e.preventDefault();
        move(1);
      } else if ((e.key === "ArrowUp" || (e.key === "k" && !typing)) && (!typing || inSearch)) {
        e.preventDefault();
        move(-1);
      } else if (e.key === "Enter" && (inSearch || document.activeElement === scrollRef.current)) {
        e.preventDefault();
        open();
      }
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  });

  const selectedVisible = selected !== null && items.some((it) => it.kind === "session" && it.key === selected);
  return (
    <section class="view fleet-view" aria-labelledby={`${id}-h`}>
      <div class="view-head">
        <h1 id={`${id}-h`}>Fleet</h1>
        <p class="count" data-testid="fleet-count">
          {live.rev === null
            ? "Waiting for the live view…"
            : filtered
              ? `${matched} of ${plural(live.sessions.size, "session")} match`
              : `${plural(live.sessions.size, "session")} on ${plural(live.hosts.size, "host")}`}
        </p>
      </div>
      <FleetFilters
        value={filters}
        onChange={setFilters}
        sessions={live.sessions}
        hosts={live.hosts}
        keysVersion={live.keysVersion}
        version={live.version}
        searchRef={searchRef}
      />
      <p class="hint" id={`${id}-keys`}>
        Keys: <kbd>/</kbd> search, <kbd>↑</kbd>/<kbd>↓</kbd> or <kbd>k</kbd>/<kbd>j</kbd> select, <kbd>Enter</kbd> open.
      </p>
      <div
        ref={scrollRef}
        class="fleet-list"
        role="listbox"
        aria-label="Sessions by host"
        aria-describedby={`${id}-keys`}
        aria-activedescendant={selectedVisible && selected !== null ? fleetRowId(selected) : undefined}
        tabIndex={0}
      >
        {items.length === 0 && live.rev !== null ? (
          <p class="empty">{filtered ? "No session matches." : "No session in the fleet yet."}</p>
        ) : (
          <div class="fleet-canvas" style={{ height: `${virtualizer.getTotalSize()}px` }}>
            {virtualItems.map((v) => {
              const it = items[v.index];
              if (it === undefined) return null;
              const row = it.kind === "session" ? live.sessions.get(it.key) : undefined;
              if (it.kind === "session" && row === undefined) return null;
              return it.kind === "host" ? (
                <HostLine
                  key={`host:${it.host}`}
                  host={it.host}
                  hostRow={live.hosts.get(it.host)}
                  count={it.count}
                  now={now}
                  top={v.start}
                  height={v.size}
                />
              ) : (
                <SessionLine
                  key={it.key}
                  row={row as SessionRow}
                  selected={it.key === selected}
                  claws={live.claws}
                  now={now}
                  top={v.start}
                  height={v.size}
                  onSelect={setSelected}
                  onOpen={openKey}
                />
              );
            })}
          </div>
        )}
      </div>
    </section>
  );
}

/** `1 session`, `2 sessions`. Pure. */
function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
