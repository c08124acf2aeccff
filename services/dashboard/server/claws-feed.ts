/**
 * Who owns which session when Claw groups are configured (issue 18), for the dashboard's `claws` frames: the
 * policy service's answer to the `claws` command (as `claw-supervisor claws` and `sessions` ask it), asked every
 * `intervalMs` (5 s) while at least one page is connected, and handed to every page over its live socket.
 *
 * One poll per dashboard server, whatever the number of pages: every command is audited and rate-limited by the
 * policy service, so the pages share one asking instead of each polling an API route. It asks as caller
 * `viewer:dashboard` (it only looks; a viewer may never be granted more than list and read, and `claws` is gated
 * on `list` like the fleet itself, which every signed-in page gets whatever its role).
 *
 * A new answer goes out only when something other than the ages changed (a lease moved, a Claw went down, the
 * groups changed): a page ages what it holds from when it received it. A page that connects gets the latest
 * answer at once, its ages brought up to date. An answer that does not come (no policy service, a refusal, a
 * timeout) leaves the last one standing and is logged once until an answer comes again.
 */
import { randomUUID } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { ClawsResult } from "../../../schemas/claw-groups.js";
import type { Caller } from "../../../schemas/commands.js";
import { requestCommand } from "../../clients/command-request.js";

/** Who the dashboard is when it asks `claws`. */
export const CLAWS_CALLER: Caller = { role: "viewer", id: "dashboard" };

/** How often `claws` is asked while a page is connected, and how long an answer may take. */
export const DEFAULT_CLAWS_POLL_MS = 5_000;
const ANSWER_TIMEOUT_MS = 4_000;

/** Asks the policy service for `claws` once: the result, or why there is none. */
export type AskClaws = () => Promise<{ ok: true; result: ClawsResult } | { ok: false; why: string }>;

/** Asks through the policy service (`codex.cmd.claws`) as {@link CLAWS_CALLER}. */
export function busAskClaws(nc: NatsConnection, timeoutMs = ANSWER_TIMEOUT_MS): AskClaws {
  return async () => {
    const answer = await requestCommand(
      nc,
      { verb: "claws", caller: CLAWS_CALLER, idempotencyKey: `dash-claws:${randomUUID()}`, args: {} },
      timeoutMs,
    );
    if (!answer.ok) return { ok: false, why: answer.reason };
    if (!answer.result.ok) return { ok: false, why: `${answer.result.code}: ${answer.result.message}` };
    const parsed = ClawsResult.safeParse(answer.result.data);
    return parsed.success ? { ok: true, result: parsed.data } : { ok: false, why: "the answer is not a claws result" };
  };
}

/** What changes a page must hear about: the answer without its ages. Pure. */
export function clawsSignature(r: ClawsResult): string {
  return JSON.stringify([
    r.configured,
    r.leaseTtlMs,
    r.groups,
    r.claws.map((c) => [c.clawId, c.group, c.live, c.sessions]),
    r.sessions.map((s) => [s.sessionId, s.clawId, s.epoch, s.group, s.escalatedFrom]),
  ]);
}

/** `r` as it would read `elapsedMs` later: every age grown by that much. Pure. */
export function agedClaws(r: ClawsResult, elapsedMs: number): ClawsResult {
  const by = Math.max(0, Math.round(elapsedMs));
  if (by === 0) return r;
  return {
    ...r,
    claws: r.claws.map((c) => ({ ...c, seenAgoMs: c.seenAgoMs === null ? null : c.seenAgoMs + by })),
    sessions: r.sessions.map((s) => ({ ...s, heldForMs: s.heldForMs + by, renewedAgoMs: s.renewedAgoMs + by })),
  };
}

/** The `claws` poll; see the file comment. */
export class ClawsFeed {
  private readonly listeners = new Set<(result: ClawsResult) => void>();
  private latest: { result: ClawsResult; atMs: number; signature: string } | null = null;
  private timer: NodeJS.Timeout | undefined;
  private asking = false;
  private failing = false;
  private stopped = false;

  constructor(
    private readonly ask: AskClaws,
    private readonly log: Logger,
    private readonly intervalMs = DEFAULT_CLAWS_POLL_MS,
  ) {}

  /**
   * Calls `listener` with each answer that changed from now on (polling while anyone listens); returns the
   * unsubscribe. Call {@link ClawsFeed.current} for the answer known so far.
   */
  subscribe(listener: (result: ClawsResult) => void): () => void {
    this.listeners.add(listener);
    if (this.listeners.size === 1 && !this.stopped) {
      // The first page after a quiet spell: an answer at once (the latest may be long out of date), then each interval.
      void this.poll();
      this.timer = setInterval(() => void this.poll(), this.intervalMs);
    }
    return () => {
      if (!this.listeners.delete(listener) || this.listeners.size > 0) return;
      clearInterval(this.timer);
      this.timer = undefined;
    };
  }

  /** The latest answer with its ages as of now; null before the first one came. */
  current(now = Date.now()): ClawsResult | null {
    return this.latest === null ? null : agedClaws(this.latest.result, now - this.latest.atMs);
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.timer = undefined;
    this.listeners.clear();
  }

  private async poll(): Promise<void> {
    if (this.asking || this.stopped) return;
    this.asking = true;
    try {
      const answer = await this.ask();
      if (this.stopped) return;
      if (!answer.ok) {
        if (!this.failing) this.log.warn({ why: answer.why }, "the dashboard cannot ask who owns which session");
        this.failing = true;
        return;
      }
      if (this.failing) this.log.info("the dashboard asks who owns which session again");
      this.failing = false;
      const signature = clawsSignature(answer.result);
      const changed = this.latest === null || this.latest.signature !== signature;
      this.latest = { result: answer.result, atMs: Date.now(), signature };
      if (changed) for (const listener of [...this.listeners]) listener(answer.result);
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, "the dashboard's claws poll failed");
    } finally {
      this.asking = false;
    }
  }
}
