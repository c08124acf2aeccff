/**
 * Budgets in force (issue 19): each policy instance follows the registry view (the session cache's KV watch hands
 * it every entry) and, while the document in force has `budgets.limits`, evaluates the sessions' spend against them
 * (services/clients/budget.ts) a moment after changes settle and on a timer (the UTC day and month roll over with
 * no change at all). For each warning or stop a session is due and its record does not show yet, it writes a
 * `budget` annotation through the session's host agent (as `mark` does), and for a stop interrupts the running
 * turn. Ids are deterministic (`<limitId>:<periodKey>:<scopeKey>`, and the host envelope's id made from it), so two
 * instances doing the same is harmless: the agent answers a repeated envelope id with its first result and the
 * registry's fold ignores a mark it already shows. Each action is audited like a command, caller `policy`.
 *
 * The interceptors ask it whether a session is stopped (its record, or this evaluation) and whether a spawn into a
 * group is refused; the `budget` verb asks it for the report, `budget-lift` for the stop to lift.
 */
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import { z } from "zod";
import type { AnnotationPayload } from "../../schemas/agent-events.js";
import type { BudgetMark, BudgetReport } from "../../schemas/budget.js";
import type { Caller } from "../../schemas/commands.js";
import type { HostRpcEnvelope, HostRpcRequest, HostRpcResult } from "../../schemas/host-rpc.js";
import type { PolicyDocument } from "../../schemas/policy.js";
import { SessionRecord } from "../../schemas/registry.js";
import { sessionKey } from "../../schemas/registry-entry.js";
import {
  BUDGET_ACTOR,
  type BudgetAction,
  type BudgetEvaluation,
  type BudgetRecord,
  budgetReport,
  dueActions,
  evaluateBudgets,
  type ReportOptions,
  spawnRefusal,
  stopReasonOf,
} from "../clients/budget.js";
import type { AuditLog } from "./audit-log.js";

/** The caller the watcher's actions are audited as. */
export const BUDGET_CALLER: Caller = { id: BUDGET_ACTOR, role: "host" };

/** Timings of the watcher, ms. */
export interface BudgetTimings {
  /** How long after a change the sessions are evaluated (changes meanwhile join it). */
  settleMs: number;
  /** Longest time between evaluations without a change (a day or month rolls over sooner: evaluated then). */
  tickMs: number;
  /** First wait before an action that failed is tried again (doubling, up to 5 minutes). */
  retryMs: number;
}

/** Defaults; `CLAW_BUDGET_SETTLE_MS`, `CLAW_BUDGET_TICK_MS` and `CLAW_BUDGET_RETRY_MS` override them (see budgetTimings). */
export const DEFAULT_BUDGET_TIMINGS: BudgetTimings = { settleMs: 200, tickMs: 60_000, retryMs: 5_000 };
const MAX_RETRY_MS = 300_000;

const ms = z.coerce.number().int().min(1).max(86_400_000);
/**
 * The watcher's timings: `given`, else the environment (`CLAW_BUDGET_SETTLE_MS`, `CLAW_BUDGET_TICK_MS`,
 * `CLAW_BUDGET_RETRY_MS`), else the defaults. A bad environment value is an error naming it.
 */
export function budgetTimings(given: Partial<BudgetTimings> = {}, env: NodeJS.ProcessEnv = process.env): BudgetTimings {
  const fromEnv = (name: string, fallback: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") return fallback;
    const parsed = ms.safeParse(raw);
    if (!parsed.success)
      throw new Error(`${name} must be a whole number of milliseconds (1 to 86400000), not '${raw}'`);
    return parsed.data;
  };
  return {
    settleMs: given.settleMs ?? fromEnv("CLAW_BUDGET_SETTLE_MS", DEFAULT_BUDGET_TIMINGS.settleMs),
    tickMs: given.tickMs ?? fromEnv("CLAW_BUDGET_TICK_MS", DEFAULT_BUDGET_TIMINGS.tickMs),
    retryMs: given.retryMs ?? fromEnv("CLAW_BUDGET_RETRY_MS", DEFAULT_BUDGET_TIMINGS.retryMs),
  };
}

/** A stop `budget-lift` can lift. */
export type Liftable = Pick<BudgetMark, "id" | "limitId" | "periodKey" | "reason">;

/** What the watcher needs from the service around it. */
export interface BudgetWatcherDeps {
  /** The document in force now. */
  policy(): PolicyDocument;
  callHost(envelope: HostRpcEnvelope): Promise<HostRpcResult>;
  /** The audit writer (`write` rejects when AUDIT did not store the record; `writeLate` logs instead). */
  audit: Pick<AuditLog, "write" | "writeLate">;
  log: Logger;
  timings?: Partial<BudgetTimings>;
  now?: () => number;
  /** Host op timeouts, ms. */
  opTimeoutMs?: { annotate: number; interrupt: number };
}

// The registry's entry holds more; the fields budgets look at are all we parse.
const EntryRecord = z.object({
  record: SessionRecord.pick({
    sessionId: true,
    host: true,
    group: true,
    repo: true,
    autonomous: true,
    humanAttached: true,
    activeTurnId: true,
    model: true,
    usage: true,
    budget: true,
  }),
});
const decoder = new TextDecoder();

/** One session as the watcher holds it: the newest bytes not parsed yet, or its parsed record (null: unreadable). */
interface Held {
  raw: Uint8Array | null;
  record: BudgetRecord | null;
}

/** An action's progress on one session. */
interface Progress {
  /** `<id>|<state>` of the mark written last (until the record shows something else, not written again). */
  written?: string;
  /** The turn interrupted last. */
  interrupted?: string;
  /** Failed attempts of the current action, and when to try again. */
  failures: number;
  retryAtMs: number;
  /** What the failures were of (a different action starts counting afresh). */
  failing?: string;
}

/** Follows the registry view and enforces the budgets of the document in force. */
export class BudgetWatcher {
  private readonly held = new Map<string, Held>();
  private readonly progress = new Map<string, Progress>();
  /** Stop ids this instance lifted, by session key, until the record shows them. */
  private readonly lifts = new Map<string, Set<string>>();
  private readonly running = new Map<string, Promise<void>>();
  private readonly liftWaiters = new Map<string, { id: string; done(seen: boolean): void }[]>();
  private readonly timings: BudgetTimings;
  private readonly now: () => number;
  private current: BudgetEvaluation | null = null;
  private settleTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly deps: BudgetWatcherDeps) {
    this.timings = budgetTimings(deps.timings);
    this.now = deps.now ?? Date.now;
  }

  /** Hears one registry view entry (from the session cache's watch). Never throws. */
  readonly onEntry = (key: string, raw: Uint8Array | null): void => {
    if (raw === null) this.held.delete(key);
    else {
      const h: Held = { raw, record: null };
      this.held.set(key, h);
      if (this.liftWaiters.has(key)) this.checkLifts(key, this.parsed(key, h));
    }
    if (this.active()) this.schedule();
  };

  /** The document in force changed: evaluate soon (or stop evaluating when it has no limits). */
  policyChanged(): void {
    if (this.active()) this.schedule();
    else {
      this.current = null;
      clearTimeout(this.tickTimer);
      this.tickTimer = undefined;
    }
  }

  /** The latest evaluation (null while the document has no limits). */
  get evaluation(): BudgetEvaluation | null {
    return this.active() ? this.current : null;
  }

  /**
   * Why a command to this session is refused with `budget_exceeded` (its record shows a stop, or this instance's
   * evaluation has one due, not lifted), or null.
   */
  stopOf(record: SessionRecord): { id: string; limitId: string; reason: string } | null {
    const key = sessionKey(record.host, record.sessionId);
    return stopReasonOf(record, this.evaluation?.sessions.get(key), this.lifts.get(key));
  }

  /** Why a spawn into `group` on `host` is refused with `budget_exceeded`, or null. */
  spawnStop(group: string | null, host?: string): { id: string; limitId: string; reason: string } | null {
    const budgets = this.deps.policy().budgets;
    const ev = this.evaluation;
    return budgets && ev ? spawnRefusal(budgets, ev, group, host) : null;
  }

  /** The `budget` verb's report: the newest records (parsed now), evaluated now. Works without limits. */
  report(options: ReportOptions): BudgetReport {
    return budgetReport(this.deps.policy().budgets, this.records(), this.now(), options, (k) => this.lifts.get(k));
  }

  /**
   * The stop `budget-lift` lifts on this session: the one its record shows, or the one this evaluation has due;
   * with `limitId`, only that limit's. Null when the session is not stopped (by that limit).
   */
  liftable(record: SessionRecord, limitId?: string): Liftable | null {
    const key = sessionKey(record.host, record.sessionId);
    const lifted = this.lifts.get(key);
    const b = record.budget;
    if (b?.state === "stopped" && !lifted?.has(b.id) && (limitId === undefined || b.limitId === limitId))
      return { id: b.id, limitId: b.limitId, periodKey: b.periodKey, reason: b.reason };
    const due = this.evaluation?.sessions.get(key)?.stop;
    if (due && !b?.lifted.includes(due.mark.id) && !lifted?.has(due.mark.id)) {
      if (limitId === undefined || due.mark.limitId === limitId)
        return { id: due.mark.id, limitId: due.mark.limitId, periodKey: due.mark.periodKey, reason: due.mark.reason };
    }
    if (limitId === undefined) return null;
    // A later limit may stop it too, once the first is lifted: look for that limit's stop among the uses.
    const budgets = this.deps.policy().budgets;
    const ev = this.evaluation;
    if (!budgets || !ev) return null;
    const alone = evaluateBudgets(
      { ...budgets, limits: budgets.limits.filter((l) => l.id === limitId) },
      [record],
      ev.atMs,
      () => lifted,
    );
    const stop = alone.sessions.get(key)?.stop;
    return stop ? { id: stop.mark.id, limitId, periodKey: stop.mark.periodKey, reason: stop.mark.reason } : null;
  }

  /** A lift this instance wrote: the session goes on here at once, before the registry's record shows it. */
  noteLifted(record: SessionRecord, id: string): void {
    const key = sessionKey(record.host, record.sessionId);
    let set = this.lifts.get(key);
    if (!set) this.lifts.set(key, (set = new Set()));
    set.add(id);
    if (this.active()) this.schedule();
  }

  /**
   * Resolves true once the registry view shows the stop lifted on this session (the registry folded the lift),
   * false after `timeoutMs`: `budget-lift` answers once every instance can see it, as far as it can wait.
   */
  waitForLift(record: SessionRecord, id: string, timeoutMs: number): Promise<boolean> {
    const key = sessionKey(record.host, record.sessionId);
    const h = this.held.get(key);
    if (h && this.parsed(key, h)?.budget?.lifted.includes(id)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter = {
        id,
        done: (seen: boolean) => {
          clearTimeout(timer);
          const rest = this.liftWaiters.get(key)?.filter((w) => w !== waiter) ?? [];
          if (rest.length) this.liftWaiters.set(key, rest);
          else this.liftWaiters.delete(key);
          resolve(seen);
        },
      };
      const timer = setTimeout(() => waiter.done(false), timeoutMs).unref();
      this.liftWaiters.set(key, [...(this.liftWaiters.get(key) ?? []), waiter]);
    });
  }

  /** Stops evaluating and waits for the actions under way. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.settleTimer);
    clearTimeout(this.tickTimer);
    for (const waiters of [...this.liftWaiters.values()]) for (const w of waiters) w.done(false);
    await Promise.allSettled([...this.running.values()]);
  }

  private active(): boolean {
    const b = this.deps.policy().budgets;
    return !this.stopped && b !== undefined && b.limits.length > 0;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.settleTimer ??= setTimeout(() => {
      this.settleTimer = undefined;
      this.evaluate();
    }, this.timings.settleMs).unref();
  }

  /** Parses what changed since and returns every readable record. */
  private records(): BudgetRecord[] {
    const out: BudgetRecord[] = [];
    for (const [key, h] of this.held) {
      const record = this.parsed(key, h);
      if (record !== null) out.push(record);
    }
    return out;
  }

  /** A held entry's record, parsed now if it changed since (null: unreadable). */
  private parsed(key: string, h: Held): BudgetRecord | null {
    if (h.raw !== null) {
      h.record = parseEntry(key, h.raw);
      h.raw = null;
      if (h.record === null) this.deps.log.debug({ key }, "budget watcher: unreadable session entry skipped");
    }
    return h.record;
  }

  private checkLifts(key: string, record: BudgetRecord | null): void {
    for (const w of this.liftWaiters.get(key) ?? []) if (record?.budget?.lifted.includes(w.id)) w.done(true);
  }

  private evaluate(): void {
    if (!this.active()) return;
    const policy = this.deps.policy();
    const budgets = policy.budgets!;
    const now = this.now();
    const records = this.records();
    // Lifts the records show now need no remembering here.
    for (const r of records) {
      const key = sessionKey(r.host, r.sessionId);
      const mine = this.lifts.get(key);
      if (mine && [...mine].every((id) => r.budget?.lifted.includes(id))) this.lifts.delete(key);
    }
    const ev = evaluateBudgets(budgets, records, now, (k) => this.lifts.get(k));
    this.current = ev;
    for (const action of dueActions(ev)) this.start(action, now);
    this.scheduleTick(now);
  }

  /** The next evaluation without a change: after tickMs, or just after the next UTC midnight if sooner. */
  private scheduleTick(now: number): void {
    clearTimeout(this.tickTimer);
    const midnight = Date.UTC(
      new Date(now).getUTCFullYear(),
      new Date(now).getUTCMonth(),
      new Date(now).getUTCDate() + 1,
    );
    const wait = Math.max(1, Math.min(this.timings.tickMs, midnight - now + 50));
    this.tickTimer = setTimeout(() => {
      this.tickTimer = undefined;
      this.evaluate();
    }, wait).unref();
  }

  private start(action: BudgetAction, now: number): void {
    const { key } = action;
    if (this.running.has(key)) return;
    const p = this.progress.get(key) ?? { failures: 0, retryAtMs: 0 };
    const markTag = action.write ? `${action.write.id}|${action.write.state}` : null;
    const write = markTag !== null && p.written !== markTag ? action.write : null;
    const turn =
      action.interruptTurnId !== null && p.interrupted !== action.interruptTurnId ? action.interruptTurnId : null;
    if (write === null && turn === null) return;
    const what = `${markTag ?? action.due.mark.id}|${turn ?? ""}`;
    if (p.failing === what && now < p.retryAtMs) return;
    if (p.failing !== what) {
      p.failing = what;
      p.failures = 0;
    }
    this.progress.set(key, p);
    const run = this.act(action, write, turn, p)
      .catch((err: Error) => this.deps.log.error({ key, err: err.message }, "budget action failed unexpectedly"))
      .finally(() => this.running.delete(key));
    this.running.set(key, run);
  }

  /** Writes the mark and/or interrupts the turn, audited as one command of caller `policy`. */
  private async act(
    action: BudgetAction,
    write: BudgetAction["write"],
    turnId: string | null,
    p: Progress,
  ): Promise<void> {
    const { record: r, due } = action;
    const stop = due.state === "stopped";
    const what = write ? `${write.id}|${write.state}` : `${due.mark.id}|interrupt|${turnId}`;
    const hash = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 24);
    const commandId = `budget-${hash(`${action.key}|${what}`)}`;
    const interruptId = `budget-${hash(`${action.key}|${due.mark.id}|interrupt|${turnId}`)}`;
    const attempt = p.failures + 1;
    const part = attempt === 1 ? undefined : `a${attempt}`;
    const verb = stop ? ("interrupt" as const) : ("mark" as const);
    const base = {
      commandId,
      verb,
      caller: BUDGET_CALLER,
      target: { hostId: r.host, sessionId: r.sessionId },
    };
    const detail = {
      action: stop ? (write ? "budget-stop" : "budget-interrupt") : "budget-warning",
      budget: due.mark,
      use: due.use,
      ...(turnId ? { turnId } : {}),
      attempt,
    };
    // As with a command, nothing acts unaudited: the request and decision are stored first (else tried again later).
    try {
      await Promise.all([
        this.deps.audit.write({ ...base, kind: "request", decision: null, outcome: null, detail }, part),
        this.deps.audit.write(
          {
            ...base,
            kind: "decision",
            decision: { allow: true, code: null, reason: due.mark.reason, ruleId: `budget:${due.mark.limitId}` },
            outcome: null,
            detail: null,
          },
          part,
        ),
      ]);
    } catch (err) {
      this.failed(action, p, `could not write the audit record (${(err as Error).message}); nothing was done`);
      return;
    }
    const timeouts = this.deps.opTimeoutMs ?? { annotate: 5_000, interrupt: 10_000 };
    const onHost = async (request: HostRpcRequest, op: "annotate" | "interrupt"): Promise<HostRpcResult> => {
      // An interrupt's id names the stop and the turn alone: every instance interrupting that turn sends the same.
      const id = [op === "interrupt" ? interruptId : commandId, part].filter(Boolean).join(":");
      const result = await this.deps.callHost({ id, hostId: r.host, request, timeoutMs: timeouts[op] });
      const { annotation: _a, ...shown } = request as HostRpcRequest & { annotation?: unknown };
      await this.deps.audit.writeLate(
        {
          ...base,
          verb: op === "interrupt" ? "interrupt" : "mark",
          kind: "execution",
          decision: null,
          outcome: result.ok
            ? { ok: true, code: null, message: null }
            : { ok: false, code: result.code, message: result.message },
          detail: op === "annotate" ? { ...shown, budget: write } : shown,
        },
        [op, part].filter(Boolean).join(":"),
      );
      return result;
    };
    let outcome: HostRpcResult = { ok: true, data: null };
    let retry = false;
    if (write) {
      const annotation: AnnotationPayload = { kind: "budget", budget: write };
      outcome = await onHost({ op: "annotate", threadId: r.sessionId, annotation }, "annotate");
      if (outcome.ok) p.written = `${write.id}|${write.state}`;
      else retry = true;
    }
    if (turnId && !retry) {
      const interrupted = await onHost({ op: "interrupt", threadId: r.sessionId, turnId }, "interrupt");
      // A turn that already ended is not interrupted again; an unreachable host is tried again.
      if (interrupted.ok || (interrupted.code !== "host_offline" && interrupted.code !== "timeout"))
        p.interrupted = turnId;
      else retry = true;
      if (outcome.ok) outcome = interrupted;
    }
    await this.deps.audit.writeLate(
      {
        ...base,
        kind: "result",
        decision: null,
        outcome: outcome.ok
          ? { ok: true, code: null, message: null }
          : { ok: false, code: outcome.code, message: outcome.message },
        detail: { attempt },
      },
      part,
    );
    if (retry) this.failed(action, p, outcome.ok ? "the interrupt did not reach the host" : outcome.message);
    else {
      p.failures = 0;
      p.failing = undefined;
      this.deps.log.info(
        { key: action.key, id: due.mark.id, state: due.state, interrupted: turnId },
        stop ? "budget stop enforced" : "budget warning written",
      );
    }
  }

  /** Counts a failed attempt: the same action is tried again after a doubling wait. */
  private failed(action: BudgetAction, p: Progress, why: string): void {
    p.failures += 1;
    const wait = Math.min(MAX_RETRY_MS, this.timings.retryMs * 2 ** (p.failures - 1));
    p.retryAtMs = this.now() + wait;
    setTimeout(() => this.active() && this.schedule(), wait).unref();
    this.deps.log.warn(
      { key: action.key, id: action.due.mark.id, failures: p.failures, why },
      "budget action failed; trying again later",
    );
  }
}

/** The budget fields of a session entry, null when the bytes are not one for `key`. */
function parseEntry(key: string, raw: Uint8Array): BudgetRecord | null {
  let json: unknown;
  try {
    json = JSON.parse(decoder.decode(raw));
  } catch {
    return null;
  }
  const parsed = EntryRecord.safeParse(json);
  if (!parsed.success || sessionKey(parsed.data.record.host, parsed.data.record.sessionId) !== key) return null;
  return parsed.data.record;
}
