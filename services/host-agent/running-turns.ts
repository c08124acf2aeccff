/**
 * Which turn runs on a thread, as the executor must know it before a start, steer or interrupt: the app-server's
 * turn list (retried while a first turn starts), the agent's own view when it is settled, and the turns this
 * executor started that the app-server may not list yet.
 */
import type { CallOptions, CodexRpcClient } from "../codex-rpc/index.js";
import type { Turn } from "../../schemas/codex/index.js";
import { firstTurnStarting, isNotMaterialized } from "./app-server-errors.js";
import { refuse } from "./refusal.js";
import type { TrackedThread } from "./thread-state.js";
import { sleep } from "./backoff.js";

// How long a turn this executor started may count as running on the executor's word alone (see ownTurnRunning).
const OWN_TURN_GRACE_MS = 10_000;
// The "not supported yet" window lasts about 300 ms on an idle machine; a loaded one stretches it (the command's own timeout still bounds the wait).
const LOOKUP_ATTEMPTS = 20;
// A turn listed as starting (see startingTurn) showed that form for 2-12 ms in probes of codex 0.171 (3-17 ms
// after the turn/start answer); it is looked up again this often, at most this many times, before it counts as
// not running. A turn whose end codex lost (it stopped mid-turn) may stay in that form: after
// STARTING_WINDOW_S it is no longer taken for one starting, and before then it costs at most the attempts' pauses.
const STARTING_RETRY_MS = 20;
const STARTING_ATTEMPTS = 10;
const STARTING_WINDOW_S = 30;

/** What RunningTurns reads of the executor's deps (CommandExecutorDeps). */
export interface RunningTurnsDeps {
  /** The initialized app-server connection, or undefined while there is none. */
  client(): CodexRpcClient | undefined;
  /** True while the agent's view of the thread is complete and current; absent: always ask the app-server. */
  viewSettled?(threadId: string): boolean;
}

/** The executor's knowledge of running turns; see the module comment. */
export class RunningTurns {
  /** The last turn this executor started on each thread, and the thread's turn-event count just before. */
  private readonly started = new Map<
    string,
    { turnId: string; turnEventsBefore: number; client: CodexRpcClient | undefined; atMs: number }
  >();

  /** `retryMs`: the pause between look-ups of a thread whose first turn is starting. */
  constructor(
    private readonly deps: RunningTurnsDeps,
    private readonly retryMs: number,
  ) {}

  /**
   * The thread's running turn as the app-server says it, or null. A thread whose first turn is not
   * materialized yet cannot list turns: then its status decides, and a running first turn is the one this
   * executor started (or the tracked one); unknown, it is a `conflict`, never a guess.
   */
  async runningTurn(client: CodexRpcClient, t: TrackedThread, call: () => CallOptions): Promise<string | null> {
    const listed = await runningTurnId(client, t.id, call, this.retryMs);
    if (listed !== NOT_YET) return listed;
    const { thread } = await client.request("thread/read", { threadId: t.id }, call());
    if (thread.status.type !== "active") return null;
    const known = t.activeTurnId ?? this.started.get(t.id)?.turnId;
    if (known) return known;
    return refuse("conflict", `thread ${t.id}'s first turn is starting and cannot be named yet; nothing was sent`);
  }

  /**
   * Whether the agent's own view may answer "no turn runs" for a start, without asking the app-server: the view
   * is settled (subscribed, nothing held back), says idle with no running turn, and has seen the last turn this
   * executor started both start and complete (two turn events since). Asking first closes no race this does not:
   * a turn another client starts is announced on the same connection, ahead of any answer to a look-up.
   */
  idleByView(t: TrackedThread): boolean {
    if (this.deps.viewSettled?.(t.id) !== true) return false;
    if (t.thread.status.type !== "idle" || t.activeTurnId !== null) return false;
    const own = this.started.get(t.id);
    return own === undefined || t.turnEvents >= own.turnEventsBefore + 2;
  }

  /**
   * The turn this executor last started on the thread while the view has not seen it end: nothing announced
   * since the start, or announced and still the view's running turn (on the same app-server connection, within
   * OWN_TURN_GRACE_MS). The app-server may not list a turn that has just started, but it runs. Null otherwise.
   */
  ownTurnRunning(t: TrackedThread): string | null {
    const own = this.started.get(t.id);
    if (!own || own.client !== this.deps.client() || Date.now() - own.atMs >= OWN_TURN_GRACE_MS) return null;
    return t.turnEvents === own.turnEventsBefore || t.activeTurnId === own.turnId ? own.turnId : null;
  }

  /** Remembers the turn this executor started on a thread (bounded), for a first turn not yet listable. */
  rememberStart(threadId: string, turnId: string, turnEventsBefore: number): void {
    this.started.delete(threadId);
    this.started.set(threadId, { turnId, turnEventsBefore, client: this.deps.client(), atMs: Date.now() });
    if (this.started.size > 1_000) this.started.delete(this.started.keys().next().value as string);
  }
}

/**
 * True for a turn `thread/turns/list` shows as it starts: for a few ms after turn/start codex lists the new turn
 * as `interrupted` with no end time (its rollout holds the start, not yet the end; thread/read still says idle),
 * then as `inProgress`. A turn that ended has an end time (test/e2e/codex-app-server.test.ts checks both on the
 * real codex). Only a turn started within the last STARTING_WINDOW_S seconds counts. Pure.
 */
export function startingTurn(turn: Pick<Turn, "status" | "startedAt" | "completedAt">, nowMs: number): boolean {
  return (
    turn.status === "interrupted" &&
    turn.completedAt == null &&
    turn.startedAt != null &&
    nowMs / 1000 - turn.startedAt < STARTING_WINDOW_S
  );
}

/** Returned by runningTurnId when the thread has no materialized turn yet (brand new, or its first turn starting). */
const NOT_YET = Symbol("not materialized yet");

/**
 * The running turn's id, or null when none runs (also for a thread with no turn yet). Right after a thread's
 * first turn/start the app-server cannot list its turns for a moment (-32601 "not supported yet", or -32603 on
 * a rollout file still empty): retried, then refused as a conflict, since a turn is evidently starting. A newest
 * turn listed as starting (startingTurn) is looked up again until it shows as running or ended; if it still shows
 * so after STARTING_ATTEMPTS, it counts as not running, as codex's own thread status says.
 */
async function runningTurnId(
  client: CodexRpcClient,
  threadId: string,
  call: () => CallOptions,
  retryMs: number,
): Promise<string | null | typeof NOT_YET> {
  for (let attempt = 1, starting = 1; ; attempt++) {
    try {
      const page = await client.request(
        "thread/turns/list",
        { threadId, sortDirection: "desc", limit: 1, itemsView: "notLoaded" },
        call(),
      );
      const newest = page.data[0];
      if (newest?.status === "inProgress") return newest.id;
      if (!newest || !startingTurn(newest, Date.now()) || starting++ >= STARTING_ATTEMPTS) return null;
      await sleep(STARTING_RETRY_MS);
      continue;
    } catch (err) {
      if (isNotMaterialized(err)) return NOT_YET;
      if (!firstTurnStarting(err)) throw err;
      if (attempt >= LOOKUP_ATTEMPTS)
        return refuse(
          "conflict",
          `thread ${threadId}'s first turn is starting and cannot be looked up yet; nothing was done`,
        );
    }
    await sleep(retryMs);
  }
}
