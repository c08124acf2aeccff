/**
 * The broadcast view's plan: its form's fields as a session filter, the live sessions that filter matches (the
 * same rule the registry applies, services/clients/session-filter.ts), the required bound, and whether it may be
 * sent. The page shows the matches before anything is sent and refuses to send over the bound. Pure; no DOM.
 */
import type { z } from "zod";
import { BroadcastArgs, MAX_BROADCAST_TARGETS, type SendMode, issuesText } from "../../../schemas/commands.js";
import type { SessionRow } from "../../../schemas/dashboard.js";
import { SessionStatus, type SessionFilter } from "../../../schemas/registry.js";
import { matchesFilter } from "../../clients/session-filter.js";

/** The form as typed: empty strings are "any". */
export interface BroadcastForm {
  host: string;
  repo: string;
  status: string;
  group: string;
  owner: string;
  /** `human`: only sessions a person's TUI is attached to; `autonomous`: only supervisor-started ones. */
  presence: "" | "human" | "autonomous";
  /** `yes`: only sessions waiting on an approval, input or an answer; `no`: only the others. */
  waiting: "" | "yes" | "no";
  maxTargets: string;
  text: string;
  mode: SendMode;
}

/** A blank form. */
export const EMPTY_BROADCAST_FORM: BroadcastForm = {
  host: "",
  repo: "",
  status: "",
  group: "",
  owner: "",
  presence: "",
  waiting: "",
  maxTargets: "",
  text: "",
  mode: "auto",
};

/** What the form would send, what it matches now, and why it may not be sent yet. */
export interface BroadcastPlan {
  filter: SessionFilter;
  /** True when no filter field is set (a broadcast needs at least one). */
  filterEmpty: boolean;
  /** The live sessions the filter matches, in key order. */
  matches: SessionRow[];
  /** The bound as a number, or null when it is missing or not a whole number in 1..MAX_BROADCAST_TARGETS. */
  maxTargets: number | null;
  /** True when the matches exceed the bound. */
  over: boolean;
  /** Why it cannot be sent (first reason), or null when it can. */
  blocked: string | null;
  /** The command's arguments when it can be sent. */
  args: z.infer<typeof BroadcastArgs> | null;
}

/** The form's filter: only the fields given. Pure. */
export function formFilter(form: BroadcastForm): SessionFilter {
  const t = (s: string) => s.trim();
  const status = SessionStatus.safeParse(form.status);
  return {
    ...(t(form.host) ? { host: t(form.host) } : {}),
    ...(t(form.repo) ? { repo: t(form.repo) } : {}),
    ...(status.success ? { status: status.data } : {}),
    ...(t(form.group) ? { group: t(form.group) } : {}),
    ...(t(form.owner) ? { owner: t(form.owner) } : {}),
    ...(form.presence === "human" ? { humanAttached: true } : {}),
    ...(form.presence === "autonomous" ? { autonomous: true } : {}),
    ...(form.waiting === "" ? {} : { waiting: form.waiting === "yes" }),
  };
}

/** The bound typed in the form, or null when it is not a whole number in 1..MAX_BROADCAST_TARGETS. Pure. */
export function formBound(text: string): number | null {
  if (!/^\s*\d+\s*$/.test(text)) return null;
  const n = Number(text);
  return n >= 1 && n <= MAX_BROADCAST_TARGETS ? n : null;
}

/** The plan for `form` over the live `sessions`. Pure. */
export function broadcastPlan(form: BroadcastForm, sessions: Iterable<SessionRow>): BroadcastPlan {
  const filter = formFilter(form);
  const filterEmpty = Object.keys(filter).length === 0;
  const matches = filterEmpty
    ? []
    : [...sessions].filter((row) => matchesFilter(row.record, filter)).sort((a, b) => a.key.localeCompare(b.key));
  const maxTargets = formBound(form.maxTargets);
  const over = maxTargets !== null && matches.length > maxTargets;
  const blocked = filterEmpty
    ? "set at least one filter field"
    : maxTargets === null
      ? `set the bound: the most sessions it may reach (1 to ${MAX_BROADCAST_TARGETS})`
      : over
        ? `the filter matches ${matches.length} sessions, over the bound of ${maxTargets}: narrow the filter`
        : matches.length === 0
          ? "the filter matches no live session"
          : form.text.trim() === ""
            ? "write the text to send"
            : null;
  if (blocked !== null) return { filter, filterEmpty, matches, maxTargets, over, blocked, args: null };
  const parsed = BroadcastArgs.safeParse({ filter, maxTargets, text: form.text.trim(), mode: form.mode });
  return parsed.success
    ? { filter, filterEmpty, matches, maxTargets, over, blocked: null, args: parsed.data }
    : { filter, filterEmpty, matches, maxTargets, over, blocked: issuesText(parsed.error), args: null };
}
