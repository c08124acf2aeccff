/**
 * The approvals the host agent holds for an answer (an `ask` rule matched, approval-owner.ts): each waits, with
 * its app-server request unanswered, until an operator or the Claw answers it (`approve`, through the policy
 * service), or its deadline declines it, so none hangs. The first answer wins; a later one is a `conflict`. A
 * request the app-server resolved otherwise (a person's TUI answered it, the turn ended) is let go unanswered, and
 * so is every request when the app-server connection goes (nothing can be answered on a dead connection, and a
 * restarted app-server numbers its requests from the start again). Each hold gets its own random public id: the
 * app-server's id stays inside, so a late `approve <session> <id>` can never reach a newer request that reuses
 * the app-server's number. Answers and releases are reported through `onAnswered` and `onReleased` (the agent
 * turns them into `agent/approval` events).
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { ApprovalAnswerer } from "../../schemas/agent-events.js";
import { failure, type Caller } from "../../schemas/commands.js";
import type { RequestId, ServerRequestMethod } from "../../schemas/codex/index.js";
import type { HostRpcResult } from "../../schemas/host-rpc.js";
import { leaveToOwner } from "../codex-rpc/index.js";
import { approvalReply, type AnyServerRequestReply } from "./approval-policy.js";

/** What the app-server gets for a held request: the reply, or nothing (it was resolved otherwise). */
export type HeldOutcome = AnyServerRequestReply | typeof leaveToOwner;

/** One held request, as reported. */
export interface HeldApproval {
  threadId: string;
  /** This hold's own random id (what `approve <session> <request>` names); never the app-server's id. */
  requestId: string;
  /** The app-server's own id, as it sent it (internal: it is reused after an app-server restart). */
  rawId: RequestId;
  method: ServerRequestMethod;
  kind: string;
  summary: string;
  atMs: number;
  deadlineAtMs: number;
}

/** How a held request was answered. */
export interface HeldAnswer {
  decision: "accept" | "decline";
  by: ApprovalAnswerer;
  reason: string;
}

/** What the holds need. */
export interface ApprovalHoldsOptions {
  /** Called once per answer the agent gives (caller or deadline), before the reply goes out; must not throw. */
  onAnswered(held: HeldApproval, answer: HeldAnswer): void;
  /** Called once per request let go unanswered (resolved elsewhere, turn ended, TUI attached, connection lost, stop), with why; must not throw. */
  onReleased?(held: HeldApproval, why: string): void;
  /** The public ids of new holds (tests pass their own); default 8 random hex digits. */
  newId?: () => string;
  now?: () => number;
  /** Timers (tests pass their own); default setTimeout/clearTimeout, unref'd. */
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  logger?: Logger;
}

interface Entry extends HeldApproval {
  promise: Promise<HeldOutcome>;
  settle(outcome: HeldOutcome): void;
  timer: unknown;
}

/** How many settled requests are remembered, so a late second answer is a `conflict` rather than `not_found`. */
const REMEMBERED = 500;

const keyOf = (threadId: string, requestId: string): string => `${threadId}\u0000${requestId}`;
/** The app-server's id as a key that keeps its type: 3 and "3" are different requests. */
const rawKeyOf = (threadId: string, rawId: RequestId): string =>
  `${threadId}\u0000${typeof rawId === "number" ? `n:${rawId}` : `s:${rawId}`}`;
const randomId = (): string => randomBytes(4).toString("hex");

/** The held approvals of one host agent; see the module comment. */
export class ApprovalHolds {
  private readonly held = new Map<string, Entry>();
  /** The same entries by the app-server's id (typed), to find a replayed or resolved request. */
  private readonly byRaw = new Map<string, Entry>();
  /** Settled requests: how each ended, in one line. */
  private readonly settled = new Map<string, string>();
  private readonly now: () => number;
  private readonly newId: () => string;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  constructor(private readonly opts: ApprovalHoldsOptions) {
    this.now = opts.now ?? Date.now;
    this.newId = opts.newId ?? randomId;
    this.setTimer =
      opts.setTimer ??
      ((fn, ms) => {
        const t = setTimeout(fn, ms);
        t.unref?.();
        return t;
      });
    this.clearTimer = opts.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout));
  }

  /**
   * Holds a request until it is answered or `deadlineMs` passes; resolves with what to send the app-server.
   * The same request (same thread and app-server id, of the same type) held again while the first is held shares
   * the first hold: its deadline, its public id and its answer. `fresh` is false then.
   */
  hold(
    req: { threadId: string; rawId: RequestId; method: ServerRequestMethod; kind: string; summary: string },
    deadlineMs: number,
  ): { outcome: Promise<HeldOutcome>; held: HeldApproval; fresh: boolean } {
    const existing = this.byRaw.get(rawKeyOf(req.threadId, req.rawId));
    if (existing) return { outcome: existing.promise, held: publicOf(existing), fresh: false };
    const requestId = this.uniqueId(req.threadId);
    const key = keyOf(req.threadId, requestId);
    const atMs = this.now();
    let settle!: (outcome: HeldOutcome) => void;
    const promise = new Promise<HeldOutcome>((resolve) => (settle = resolve));
    const entry: Entry = {
      ...req,
      requestId,
      atMs,
      deadlineAtMs: atMs + deadlineMs,
      promise,
      settle,
      timer: undefined,
    };
    entry.timer = this.setTimer(() => {
      this.answerEntry(entry, {
        decision: "decline",
        by: { kind: "deadline" },
        reason: `nobody answered within ${Math.round(deadlineMs / 1000)} s (the ask rule's deadline), so the host agent declined it`,
      });
    }, deadlineMs);
    this.held.set(key, entry);
    this.byRaw.set(rawKeyOf(req.threadId, req.rawId), entry);
    return { outcome: promise, held: publicOf(entry), fresh: true };
  }

  /** The requests held for a thread (all threads when omitted), oldest first. */
  list(threadId?: string): HeldApproval[] {
    return [...this.held.values()].filter((e) => threadId === undefined || e.threadId === threadId).map(publicOf);
  }

  /**
   * Answers a held request of `threadId` as `by` said: by id, or the only one held when `requestId` is omitted.
   * `not_found` when none is held (by that id), `conflict` when it was answered or resolved already, `invalid`
   * when several are held and none is named. Never throws.
   */
  answer(threadId: string, requestId: string | undefined, decision: "accept" | "decline", by: Caller): HostRpcResult {
    let entry: Entry | undefined;
    if (requestId === undefined) {
      const mine = [...this.held.values()].filter((e) => e.threadId === threadId);
      if (mine.length === 0)
        return failure("not_found", `session ${threadId} has no approval held for an answer; nothing was answered`);
      if (mine.length > 1)
        return failure(
          "invalid",
          `session ${threadId} has ${mine.length} approvals held (${mine.map((e) => e.requestId).join(", ")}): name the one to answer`,
        );
      entry = mine[0];
    } else {
      const key = keyOf(threadId, requestId);
      entry = this.held.get(key);
      if (!entry) {
        const before = this.settled.get(key);
        return before
          ? failure("conflict", `approval ${requestId} of session ${threadId} was already ${before}; nothing changed`)
          : failure(
              "not_found",
              `session ${threadId} holds no approval ${requestId} (see the session's approval field); nothing was answered`,
            );
      }
    }
    const e = entry as Entry;
    this.answerEntry(e, {
      decision,
      by: { kind: "caller", caller: by },
      reason: `${decision === "accept" ? "accepted" : "declined"} by ${by.role} ${by.id}`,
    });
    return { ok: true, data: { requestId: e.requestId, decision, method: e.method, summary: e.summary } };
  }

  /** The app-server resolved the request otherwise (a person's TUI answered it): let it go, answering nothing. */
  resolved(threadId: string, rawId: RequestId, why = "answered elsewhere (the app-server resolved it)"): boolean {
    const entry = this.byRaw.get(rawKeyOf(threadId, rawId));
    if (!entry) return false;
    this.release(entry, why);
    return true;
  }

  /** Lets go of every request held for a thread (its turn ended, or a person's TUI took it over); answers nothing. */
  releaseThread(threadId: string, why: string): number {
    const mine = [...this.held.values()].filter((e) => e.threadId === threadId);
    for (const e of mine) this.release(e, why);
    return mine.length;
  }

  /**
   * Lets go of everything, answering nothing: the app-server connection went (no answer could reach it, and a
   * restarted app-server reuses its request ids), or the agent stops (the app-server replays them to whoever
   * resumes). Returns how many were let go.
   */
  releaseAll(why: string): number {
    const all = [...this.held.values()];
    for (const e of all) this.release(e, why);
    return all.length;
  }

  /** Lets go of everything (the agent stops). */
  stop(): void {
    this.releaseAll("let go when the host agent stopped");
  }

  /** A public id no held or remembered request of the thread has. */
  private uniqueId(threadId: string): string {
    for (let tries = 0; tries < 100; tries++) {
      const id = this.newId();
      const key = keyOf(threadId, id);
      if (!this.held.has(key) && !this.settled.has(key)) return id;
    }
    throw new Error("could not find an unused approval id");
  }

  private answerEntry(entry: Entry, answer: HeldAnswer): void {
    const key = keyOf(entry.threadId, entry.requestId);
    if (this.held.get(key) !== entry) return;
    this.forget(entry, `${answer.decision === "accept" ? "accepted" : "declined"} (${describe(answer.by)})`);
    try {
      this.opts.onAnswered(publicOf(entry), answer);
    } catch (err) {
      this.opts.logger?.error({ err: (err as Error).message }, "reporting an approval answer failed");
    }
    entry.settle(approvalReply(entry.method, answer.decision === "accept") ?? leaveToOwner);
  }

  private release(entry: Entry, why: string): void {
    if (this.held.get(keyOf(entry.threadId, entry.requestId)) !== entry) return;
    this.forget(entry, why);
    try {
      this.opts.onReleased?.(publicOf(entry), why);
    } catch (err) {
      this.opts.logger?.error({ err: (err as Error).message }, "reporting a released approval failed");
    }
    entry.settle(leaveToOwner);
  }

  private forget(entry: Entry, how: string): void {
    const key = keyOf(entry.threadId, entry.requestId);
    this.held.delete(key);
    const raw = rawKeyOf(entry.threadId, entry.rawId);
    if (this.byRaw.get(raw) === entry) this.byRaw.delete(raw);
    this.clearTimer(entry.timer);
    this.settled.set(key, how);
    if (this.settled.size > REMEMBERED) this.settled.delete(this.settled.keys().next().value as string);
  }
}

function publicOf(e: Entry): HeldApproval {
  return {
    threadId: e.threadId,
    requestId: e.requestId,
    rawId: e.rawId,
    method: e.method,
    kind: e.kind,
    summary: e.summary,
    atMs: e.atMs,
    deadlineAtMs: e.deadlineAtMs,
  };
}

function describe(by: ApprovalAnswerer): string {
  if (by.kind === "caller") return `by ${by.caller.role} ${by.caller.id}`;
  return by.kind === "deadline" ? "at its deadline" : "by the approval rules";
}
