/**
 * The fleet's search box and filters (status, host, repo, group, waiting), each labelled; the choices come from
 * what the live view holds. `toSessionFilter` turns them into the registry's SessionFilter, so the fleet filters
 * as `list` and `sessions --watch` do.
 */
import type { RefObject } from "preact";
import { useId, useMemo } from "preact/hooks";
import type { HostRow, SessionRow } from "../../../schemas/dashboard.js";
import { type SessionFilter, SessionStatus } from "../../../schemas/registry.js";
import { statusLabel } from "./session-status.js";

/** What the operator chose ("" means any). */
export interface FleetFilterState {
  search: string;
  status: string;
  host: string;
  repo: string;
  group: string;
  waiting: "" | "yes" | "no";
}

/** No filter at all. */
export const NO_FILTERS: FleetFilterState = { search: "", status: "", host: "", repo: "", group: "", waiting: "" };

/** The chosen filters as the registry's SessionFilter (the search is separate). Pure. */
export function toSessionFilter(f: FleetFilterState): SessionFilter {
  const parsed = SessionStatus.safeParse(f.status);
  return {
    ...(parsed.success ? { status: parsed.data } : {}),
    ...(f.host ? { host: f.host } : {}),
    ...(f.repo ? { repo: f.repo } : {}),
    ...(f.group ? { group: f.group } : {}),
    ...(f.waiting === "" ? {} : { waiting: f.waiting === "yes" }),
  };
}

const haystacks = new WeakMap<SessionRow, string>();

/** What the search box matches in a row, lower-cased (cached per row object). */
export function searchText(row: SessionRow): string {
  let text = haystacks.get(row);
  if (text === undefined) {
    const r = row.record;
    text = [
      row.shortId,
      r.sessionId,
      r.host,
      r.workspace,
      r.repo,
      r.branch,
      r.group,
      r.owner,
      r.summary,
      r.preview,
      r.disposition,
      r.usage?.model ?? r.model,
      statusLabel(r),
    ]
      .filter((v): v is string => typeof v === "string")
      .join("\n")
      .toLowerCase();
    haystacks.set(row, text);
  }
  return text;
}

function distinct(sessions: Map<string, SessionRow>, pick: (r: SessionRow) => string | null): string[] {
  const set = new Set<string>();
  for (const row of sessions.values()) {
    const v = pick(row);
    if (v) set.add(v);
  }
  return [...set].sort();
}

function Choice(props: {
  id: string;
  label: string;
  value: string;
  options: readonly (string | [string, string])[];
  onChange(v: string): void;
  testId: string;
}) {
  return (
    <div class="filter">
      <label for={props.id}>{props.label}</label>
      <select
        id={props.id}
        data-testid={props.testId}
        value={props.value}
        onChange={(e) => props.onChange(e.currentTarget.value)}
      >
        <option value="">any</option>
        {props.options.map((o) => {
          const [value, text] = typeof o === "string" ? [o, o] : o;
          return (
            <option key={value} value={value}>
              {text}
            </option>
          );
        })}
      </select>
    </div>
  );
}

/** The search box and the filters. */
export function FleetFilters(props: {
  value: FleetFilterState;
  onChange(next: FleetFilterState): void;
  sessions: Map<string, SessionRow>;
  hosts: Map<string, HostRow>;
  keysVersion: number;
  version: number;
  searchRef: RefObject<HTMLInputElement | null>;
}) {
  const id = useId();
  const f = props.value;
  const set = (patch: Partial<FleetFilterState>) => props.onChange({ ...f, ...patch });
  // Choices are recomputed when keys come or go, and about once a second otherwise (not on every frame).
  const tick = Math.floor(props.version / 60);
  const choices = useMemo(
    () => ({
      hosts: [...new Set([...props.hosts.keys(), ...distinct(props.sessions, (r) => r.record.host)])].sort(),
      repos: distinct(props.sessions, (r) => r.record.repo),
      groups: distinct(props.sessions, (r) => r.record.group),
    }),
    [props.keysVersion, tick],
  );
  const any = f !== NO_FILTERS && JSON.stringify(f) !== JSON.stringify(NO_FILTERS);
  return (
    <search>
      <form class="filters" aria-label="Filter sessions" onSubmit={(e) => e.preventDefault()}>
        <div class="filter search">
          <label for={`${id}-q`}>Search</label>
          <input
            ref={props.searchRef}
            id={`${id}-q`}
            type="search"
            data-testid="fleet-search"
            placeholder="id, host, repo, workspace, summary…"
            autocomplete="off"
            value={f.search}
            onInput={(e) => set({ search: e.currentTarget.value })}
          />
        </div>
        <Choice
          id={`${id}-status`}
          label="Status"
          testId="fleet-filter-status"
          value={f.status}
          options={SessionStatus.options}
          onChange={(status) => set({ status })}
        />
        <Choice
          id={`${id}-host`}
          label="Host"
          testId="fleet-filter-host"
          value={f.host}
          options={choices.hosts}
          onChange={(host) => set({ host })}
        />
        <Choice
          id={`${id}-repo`}
          label="Repo"
          testId="fleet-filter-repo"
          value={f.repo}
          options={choices.repos}
          onChange={(repo) => set({ repo })}
        />
        <Choice
          id={`${id}-group`}
          label="Group"
          testId="fleet-filter-group"
          value={f.group}
          options={choices.groups}
          onChange={(group) => set({ group })}
        />
        <Choice
          id={`${id}-waiting`}
          label="Waiting"
          testId="fleet-filter-waiting"
          value={f.waiting}
          options={[
            ["yes", "waiting on a person"],
            ["no", "not waiting"],
          ]}
          onChange={(w) => set({ waiting: w === "yes" || w === "no" ? w : "" })}
        />
        {any && (
          <button type="button" class="secondary" onClick={() => props.onChange(NO_FILTERS)}>
            Clear filters
          </button>
        )}
      </form>
    </search>
  );
}
