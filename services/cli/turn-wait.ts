/**
 * `send --wait`, `reply --wait` and `spawn --wait`: send the command, then wait until the turn it started (or
 * steered) ends, and exit with the code of its outcome: 0 completed, TURN_EXIT_CODES.interrupted or .failed,
 * 8 (timeout) when `--wait-timeout` passes first.
 *
 * Nothing is missed between the command's answer and the start of the wait: CODEX_EVENTS's last sequence is
 * noted before the command is sent, and the session's events are read from the next one on (an ordered
 * consumer filtered to `codex.evt.<host>.<thread>`), so a turn that ended before the answer arrived is found
 * in the stream. If the host agent re-syncs the thread and no longer names the turn as running (its end was
 * lost with the agent, say), the turn's status is read back through policy once.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { CommandVerb } from "../../schemas/commands.js";
import type { TranscriptTurn } from "../../schemas/host-rpc.js";
import type { Turn } from "../../schemas/codex/index.js";
import { followStream, streamLastSeq, threadEventsFilter } from "../bus/stream-follow.js";
import { STREAM_NAMES } from "../bus/topology.js";
import { Milliseconds, optionValue } from "./args.js";
import { EXIT_CODES, sendCommand } from "./command-client.js";
import { CliError, type CliIo } from "./io.js";
import { jsonFailure, jsonOk } from "./output.js";
import { parseThreadEvent } from "./thread-events.js";

/** Exit codes of a waited-for turn that did not complete (0 is completed; 8, timeout, when the wait gave up). */
export const TURN_EXIT_CODES = { interrupted: 10, failed: 11 } as const;
/** Exit code when Ctrl-C (or SIGTERM) stops the wait: the turn goes on. */
export const WAIT_STOPPED_EXIT_CODE = 130;

/** The verbs that start or steer a turn, and so may `--wait`. */
export const WAIT_VERBS: ReadonlySet<CommandVerb> = new Set(["send", "reply", "spawn"]);

/** The options `--wait` adds to a verb. */
export const WAIT_OPTIONS = { wait: { type: "boolean" }, "wait-timeout": { type: "string" } } as const;

/** Help lines of the options `--wait` adds. */
export const WAIT_HELP = [
  "--wait          then wait until the turn ends, print how it ended, and exit with its outcome:",
  `                0 completed, ${TURN_EXIT_CODES.interrupted} interrupted, ${TURN_EXIT_CODES.failed} failed (a steer waits for the turn it steered)`,
  `--wait-timeout MS  stop waiting after MS: exit ${EXIT_CODES.timeout} (timeout), the turn goes on`,
];

/** The exit codes line of a verb that may `--wait`. */
export const WAIT_EXIT_HELP = `With --wait: 0 the turn completed, ${TURN_EXIT_CODES.interrupted} interrupted, ${TURN_EXIT_CODES.failed} failed, ${EXIT_CODES.timeout} --wait-timeout passed, ${WAIT_STOPPED_EXIT_CODE} stopped waiting (Ctrl-C; the turn goes on).`;

/** How to send the command (command-client.ts's options). */
export interface SendOptions {
  callerId: string;
  key?: string | undefined;
  timeoutMs?: number | undefined;
}

/** What `--wait` asks for, from the parsed options: undefined without `--wait`. Throws a usage CliError (exit 2). */
export function waitRequest(
  verb: string,
  values: Record<string, string | boolean | undefined>,
): { timeoutMs?: number } | undefined {
  const timeout = values["wait-timeout"];
  if (!values.wait) {
    if (timeout !== undefined) throw new CliError(`${verb}: --wait-timeout needs --wait`, 2);
    return undefined;
  }
  return timeout === undefined ? {} : { timeoutMs: optionValue("wait-timeout", Milliseconds, timeout) };
}

/** The turn to wait for: its session (and host, when known) and id. */
export interface TurnRef {
  hostId?: string | undefined;
  sessionId: string;
  turnId: string;
}

/** How a turn ended, as `--wait` reports it. `startedAt`/`completedAt` are unix seconds, as Codex gives them. */
export interface TurnEnd {
  id: string;
  status: "completed" | "interrupted" | "failed";
  error: string | null;
  startedAt: number | null;
  completedAt: number | null;
  durationMs: number | null;
  /** The text of the turn's last agent message, when its completion was seen. */
  lastAgentMessage: string | null;
}

/** What a wait came to. */
export type WaitOutcome =
  | { kind: "ended"; turn: TurnEnd }
  | { kind: "timeout" }
  | { kind: "stopped"; signal: string }
  | { kind: "lost"; reason: string };

/** Options of {@link waitForTurnEnd}. */
export interface WaitOptions {
  timeoutMs?: number | undefined;
  /** Resolves when the caller stops waiting (Ctrl-C). */
  stop?: Promise<string>;
  /**
   * Looks up how the turn ended, once when following starts (`why` "start": it may have ended before `fromSeq`)
   * and again when its end event may have been lost ("resynced": the agent no longer names it as running);
   * undefined while it still runs.
   */
  lookUp?: (why: LookUpReason) => Promise<TurnEnd | undefined>;
}

/** Why the turn is looked up: see {@link WaitOptions.lookUp}. */
export type LookUpReason = "start" | "resynced";

const ENDED = new Set(["completed", "interrupted", "failed"]);

/**
 * How `turn`, as a `read` lists it, ended; undefined while it may still run. Codex's `thread/turns/list` lists a
 * turn for a few milliseconds after `turn/start` as `interrupted` with no end time (its rollout has the start and
 * no end yet; seen in 5 of 14 calls made at once with codex 0.171, test/e2e/codex-app-server.test.ts), then as
 * `inProgress`. So the look-up made as the wait starts, right after the command started the turn, takes an
 * ended status only with an end time. After a re-sync no longer names the turn as running, an `interrupted` turn
 * with no end time is taken as ended: its end was lost (the app-server stopped mid-turn, say). Pure.
 */
export function endedTurnOf(turn: TranscriptTurn, why: LookUpReason): TurnEnd | undefined {
  if (!ENDED.has(turn.status)) return undefined;
  if (why === "start" && turn.completedAt === null) return undefined;
  const agent = turn.messages.filter((x) => x.role === "agent").at(-1);
  return {
    id: turn.id,
    status: turn.status as TurnEnd["status"],
    error: null,
    startedAt: turn.startedAt,
    completedAt: turn.completedAt,
    durationMs: null,
    lastAgentMessage: agent?.text ?? null,
  };
}

function endOf(turn: Turn, lastAgentMessage: string | null): TurnEnd {
  return {
    id: turn.id,
    status: ENDED.has(turn.status) ? (turn.status as TurnEnd["status"]) : "failed",
    error: turn.error?.message ?? null,
    startedAt: turn.startedAt ?? null,
    completedAt: turn.completedAt ?? null,
    durationMs: turn.durationMs ?? null,
    lastAgentMessage,
  };
}

/**
 * Waits until turn `ref` ends, reading the session's events in CODEX_EVENTS from sequence `fromSeq` on (note
 * it before the command that starts the turn: see {@link streamLastSeq}). Throws BusErrors when it cannot start.
 */
export async function waitForTurnEnd(
  nc: NatsConnection,
  fromSeq: number,
  ref: TurnRef,
  opts: WaitOptions = {},
): Promise<WaitOutcome> {
  const follow = await followStream(nc, STREAM_NAMES.events, threadEventsFilter(ref.sessionId, ref.hostId), fromSeq);
  let timer: NodeJS.Timeout | undefined;
  try {
    const ended = (async (): Promise<WaitOutcome> => {
      // A turn that ended before `fromSeq` (a send repeated with its --key gets the policy's cached answer) has
      // no end event left to see: ask once, now that the events that come meanwhile are being kept.
      if (opts.lookUp) {
        const found = await opts.lookUp("start").catch(() => undefined);
        if (found) return { kind: "ended", turn: found };
      }
      let lastAgentMessage: string | null = null;
      for await (const m of follow) {
        const ev = parseThreadEvent(m.data);
        if (ev?.kind === "item" && ev.turnId === ref.turnId && ev.item.type === "agentMessage")
          lastAgentMessage = (ev.item as { text: string }).text;
        else if (ev?.kind === "turnCompleted" && ev.turn.id === ref.turnId)
          return { kind: "ended", turn: endOf(ev.turn, lastAgentMessage) };
        else if (ev?.kind === "synced" && ev.activeTurnId !== ref.turnId && opts.lookUp) {
          const found = await opts.lookUp("resynced").catch(() => undefined);
          if (found) return { kind: "ended", turn: found };
        }
      }
      return { kind: "lost", reason: "the session's event feed ended" };
    })().catch((err: unknown): WaitOutcome => ({ kind: "lost", reason: (err as Error)?.message ?? String(err) }));
    const racers: Promise<WaitOutcome>[] = [ended];
    if (opts.timeoutMs !== undefined) {
      const ms = opts.timeoutMs;
      racers.push(new Promise((resolve) => (timer = setTimeout(() => resolve({ kind: "timeout" }), ms))));
    }
    if (opts.stop) racers.push(opts.stop.then((signal): WaitOutcome => ({ kind: "stopped", signal })));
    return await Promise.race(racers);
  } finally {
    clearTimeout(timer);
    await follow.stop();
  }
}

/**
 * The sequence after CODEX_EVENTS's last one, noted before a command whose effects will be followed; a CliError
 * (nothing was sent) when the stream cannot be read.
 */
export async function noteEventsSeq(nc: NatsConnection, what: string): Promise<number> {
  try {
    return (await streamLastSeq(nc, STREAM_NAMES.events)) + 1;
  } catch (err) {
    throw new CliError(`${what}: cannot read the session events (${(err as Error).message}); nothing was sent`);
  }
}

/** The turn `ref` as a `read` through policy shows it, when it has ended (see endedTurnOf); undefined otherwise. */
async function lookUpByRead(
  nc: NatsConnection,
  ref: TurnRef,
  send: SendOptions,
  why: LookUpReason,
): Promise<TurnEnd | undefined> {
  const target = { sessionId: ref.sessionId, ...(ref.hostId ? { hostId: ref.hostId } : {}) };
  const r = await sendCommand(nc, "read", { target, limit: 5 }, { callerId: send.callerId, timeoutMs: send.timeoutMs });
  if (!r.ok) return undefined;
  const turn = (r.data as { turns: TranscriptTurn[] }).turns.find((t) => t.id === ref.turnId);
  return turn ? endedTurnOf(turn, why) : undefined;
}

/** The turn a successful `send`, `reply` or `spawn` started or steered. */
function turnRefOf(verb: CommandVerb, args: unknown, data: unknown): TurnRef {
  const d = data as { turnId?: unknown; hostId?: unknown; sessionId?: unknown };
  if (typeof d.turnId !== "string") throw new CliError(`${verb} succeeded but named no turn to wait for`);
  if (verb === "spawn") {
    if (typeof d.sessionId !== "string") throw new CliError("spawn succeeded but named no session to wait on");
    return { sessionId: d.sessionId, turnId: d.turnId, ...(typeof d.hostId === "string" ? { hostId: d.hostId } : {}) };
  }
  const target = (args as { target: { sessionId: string; hostId?: string } }).target;
  return { sessionId: target.sessionId, turnId: d.turnId, ...(target.hostId ? { hostId: target.hostId } : {}) };
}

function indent(text: string): string {
  return text.replaceAll("\n", "\n       ");
}

/**
 * Sends `verb` (send, reply or spawn) like the plain verb does, then waits for its turn to end; prints the
 * command's result and how the turn ended (with `json`: one final JSON document) and returns the exit code.
 */
export async function sendAndWait(
  nc: NatsConnection,
  verb: CommandVerb,
  args: unknown,
  send: SendOptions,
  io: CliIo,
  o: { json: boolean; format: (data: unknown) => string; timeoutMs?: number | undefined },
): Promise<number> {
  const fromSeq = await noteEventsSeq(nc, `${verb} --wait`);
  const result = await sendCommand(nc, verb, args, send);
  if (!result.ok) {
    const { ok: _, code, message, ...extra } = result;
    if (o.json) io.stdout(jsonFailure(code, message, extra));
    io.stderr(`claw-supervisor ${verb}: ${code}: ${message}\n`);
    return EXIT_CODES[result.code];
  }
  if (!o.json) io.stdout(o.format(result.data));
  const ref = turnRefOf(verb, args, result.data);
  const outcome = await waitForTurnEnd(nc, fromSeq, ref, {
    timeoutMs: o.timeoutMs,
    stop: io.stopRequested,
    lookUp: (why) => lookUpByRead(nc, ref, send, why),
  }).catch((err: unknown): WaitOutcome => ({ kind: "lost", reason: (err as Error)?.message ?? String(err) }));
  const data = result.data as Record<string, unknown>;
  const still = { id: ref.turnId, status: "inProgress" };
  switch (outcome.kind) {
    case "ended": {
      const t = outcome.turn;
      const code = t.status === "completed" ? 0 : TURN_EXIT_CODES[t.status];
      if (o.json) {
        const message = `turn ${t.id} ${t.status}${t.error ? `: ${t.error}` : ""}`;
        io.stdout(
          code === 0 ? jsonOk({ ...data, turn: t }) : jsonFailure(t.status, message, { data: { ...data, turn: t } }),
        );
      } else {
        const answer = t.lastAgentMessage && t.status === "completed" ? `codex: ${indent(t.lastAgentMessage)}\n` : "";
        io.stdout(`turn ${t.id} ${t.status}${t.error ? `: ${t.error}` : ""}\n${answer}`);
      }
      return code;
    }
    case "timeout": {
      const message = `turn ${ref.turnId} still running after ${o.timeoutMs} ms (--wait-timeout); it goes on`;
      if (o.json) io.stdout(jsonFailure("timeout", message, { data: { ...data, turn: still } }));
      else io.stderr(`claw-supervisor ${verb}: timeout: ${message}\n`);
      return EXIT_CODES.timeout;
    }
    case "stopped": {
      const message = `stopped waiting (${outcome.signal}); turn ${ref.turnId} goes on`;
      if (o.json) io.stdout(jsonFailure("stopped", message, { data: { ...data, turn: still } }));
      else io.stderr(`claw-supervisor ${verb}: ${message}\n`);
      return WAIT_STOPPED_EXIT_CODE;
    }
    case "lost": {
      const message = `lost track of turn ${ref.turnId}: ${outcome.reason}`;
      if (o.json) io.stdout(jsonFailure("failure", message, { data: { ...data, turn: still } }));
      else io.stderr(`claw-supervisor ${verb}: ${message}\n`);
      return 1;
    }
  }
}
