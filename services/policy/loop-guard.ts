/**
 * Loop prevention for messages between agents: no session messages itself, a message's hop count is
 * bounded, and A→B is refused while B→A is recent (an A→B→A cycle). The judgement is pure (`judgeLoop`, given
 * what is remembered about the two sessions): the policy service applies it to deliveries its instances remember
 * together in KV (shared-state.ts); `LoopGuard` is the same judgement over deliveries remembered in one process,
 * pure apart from the injected clock.
 */
import type { CommandEnvelope } from "../../schemas/commands.js";

/** The limits a check applies (the policy document's `loops`). */
export interface LoopLimits {
  /** Most agent-to-agent hops a message may carry. */
  maxHops: number;
  /** A→B is refused when B→A was delivered less than this many ms ago; 0 turns the cycle check off. */
  cycleWindowMs: number;
}

/** One message to check: the session it came from (null when not from a session), its target, its hops. */
export interface LoopInput {
  from: string | null;
  to: string;
  hops: number;
}

/** Why a message was refused: `self_echo`, `hops` or `cycle`, with one line saying what happened. */
export type LoopCheck = { ok: true } | { ok: false; reason: string; kind: "self_echo" | "hops" | "cycle" };

/**
 * The session a command's message originates from: its `originSessionId`, else the caller's id when the
 * caller is a session, else null (a person or the Claw starts a new chain). Pure.
 */
export function loopOrigin(command: Pick<CommandEnvelope, "originSessionId" | "caller">): string | null {
  return command.originSessionId ?? (command.caller.role === "session" ? command.caller.id : null);
}

const DAY_MS = 86_400_000;
/** How long the hop count of the message that last reached a session is carried into that session's own messages. */
export const HOP_MEMORY_MS = 600_000;

/** What is remembered for one check of `from` → `to`. */
export interface LoopMemoryView {
  /** The latest message delivered to `from`: its hop count, and when (ms). */
  inbound?: { hops: number; atMs: number } | undefined;
  /** When `to` last delivered a message to `from` (ms). */
  reverseAtMs?: number | undefined;
}

/**
 * Judges a message against self-echo, then the hop bound, then a recent reverse delivery, given what is
 * remembered. A message from a session that was itself reached by a message (within HOP_MEMORY_MS) travels one
 * hop more than that one, whatever hop count it claims, so peers answering back and forth reach the bound.
 * Returns the hop count the message travels with (what its delivery passes on). Pure.
 */
export function judgeLoop(
  input: LoopInput,
  limits: LoopLimits,
  seen: LoopMemoryView,
  now: number,
): { check: LoopCheck; hops: number } {
  const { from, to } = input;
  if (from !== null && from === to) {
    return {
      check: { ok: false, kind: "self_echo", reason: `session ${to} may not send a message to itself (self-echo)` },
      hops: input.hops,
    };
  }
  const prior = from === null ? undefined : seen.inbound;
  const hops =
    prior !== undefined && now - prior.atMs < HOP_MEMORY_MS ? Math.max(input.hops, prior.hops + 1) : input.hops;
  if (hops > limits.maxHops) {
    return {
      check: {
        ok: false,
        kind: "hops",
        reason: `the message has travelled ${hops} agent hops, more than the policy's maxHops of ${limits.maxHops}`,
      },
      hops,
    };
  }
  if (from === null || limits.cycleWindowMs <= 0) return { check: { ok: true }, hops };
  const reverseAt = seen.reverseAtMs;
  if (reverseAt !== undefined && now - reverseAt < limits.cycleWindowMs) {
    return {
      check: {
        ok: false,
        kind: "cycle",
        reason: `session ${to} sent to session ${from} ${Math.max(0, now - reverseAt)} ms ago: ${from} → ${to} now would make a loop (cycleWindowMs ${limits.cycleWindowMs})`,
      },
      hops,
    };
  }
  return { check: { ok: true }, hops };
}

/**
 * Remembers delivered messages (from → to, with when) and refuses loops. Entries older than the latest
 * check's `cycleWindowMs` are dropped, and beyond `maxEntries` the oldest go, so memory stays bounded.
 */
export class LoopGuard {
  /** Key `from\0to` → delivery time, oldest first (each record re-inserts). */
  private readonly delivered = new Map<string, number>();
  /** How long entries are worth keeping: the window of the latest check (the schema's maximum until then). */
  private horizonMs = DAY_MS;
  /** Recipient session → the hops of the latest message delivered to it, and when (oldest first). */
  private readonly inbound = new Map<string, { hops: number; atMs: number }>();
  /** Key `from\0to` → the hop count the latest check gave that message, picked up by `record`. */
  private readonly pending = new Map<string, number>();

  /** `now` returns ms; `maxEntries` bounds how many deliveries are remembered. */
  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxEntries = 100_000,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`);
  }

  /** Checks a message (see `judgeLoop`) against what this guard remembers. Records nothing. */
  check(input: LoopInput, limits: LoopLimits): LoopCheck {
    const now = this.now();
    this.horizonMs = limits.cycleWindowMs;
    this.expire(now);
    const { from, to } = input;
    const seen: LoopMemoryView =
      from === null ? {} : { inbound: this.inbound.get(from), reverseAtMs: this.delivered.get(key(to, from)) };
    const { check, hops } = judgeLoop(input, limits, seen, now);
    if (from !== null && (check.ok || check.kind !== "self_echo")) {
      this.pending.set(key(from, to), hops);
      if (this.pending.size > this.maxEntries) this.pending.delete(this.pending.keys().next().value as string);
    }
    return check;
  }

  /** Remembers that a message from `from` reached `to`; call only after it was delivered. */
  record(from: string, to: string): void {
    const now = this.now();
    const k = key(from, to);
    this.delivered.delete(k);
    this.delivered.set(k, now);
    const hops = this.pending.get(k) ?? 0;
    this.pending.delete(k);
    this.inbound.delete(to);
    this.inbound.set(to, { hops, atMs: now });
    if (this.inbound.size > this.maxEntries) this.inbound.delete(this.inbound.keys().next().value as string);
    this.expire(now);
  }

  /** How many deliveries are remembered (for tests and metrics). */
  get size(): number {
    return this.delivered.size;
  }

  private expire(now: number): void {
    for (const [k, at] of this.delivered) {
      if (this.delivered.size <= this.maxEntries && now - at < this.horizonMs) break;
      this.delivered.delete(k);
    }
  }
}

function key(from: string, to: string): string {
  return `${from}\u0000${to}`;
}
