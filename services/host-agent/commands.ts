/**
 * Executes approved host RPCs (`read`, `send`, `interrupt`, `spawn`) on the local app-server. A command either
 * does exactly what was asked or fails with a typed reason and does nothing: a steer never becomes a new turn,
 * a start never lands in a running turn when the agent can tell, and where the app-server's answer leaves the
 * outcome open (a timeout, a lost connection) the failure says so. `execute` never throws.
 *
 * A closed session (a thread codex unloaded, see idle-unload.ts) keeps its history: `read` reads its stored turns
 * without loading it, `interrupt` says no turn runs, and `send` resumes it first (which loads it) and proceeds.
 */
import { stat } from "node:fs/promises";
import type { Logger } from "pino";
import { failure, issuesText, type CommandFailure } from "../../schemas/commands.js";
import { textInput } from "../../schemas/codex/index.js";
import { HostRpcRequest, type HostRpcResult } from "../../schemas/host-rpc.js";
import { isCodexRpcError, type CallOptions, type CodexRpcClient } from "../codex-rpc/index.js";
import {
  failureFrom,
  firstTurnStarting,
  isInvalidCursor,
  isNoRolloutError,
  isNotMaterialized,
  isTurnGone,
  rpcMessage,
} from "./app-server-errors.js";
import type { AutonomousThreads } from "./autonomous.js";
import { Refusal, refuse } from "./refusal.js";
import { RunningTurns } from "./running-turns.js";
import type { TrackedThread } from "./thread-state.js";
import { transcriptTurn } from "./transcript.js";
import { sleep } from "./backoff.js";

/** What the executor runs against; the agent passes its watcher's connection and tracked threads. */
export interface CommandExecutorDeps {
  /** The initialized app-server connection, or undefined while there is none. */
  client(): CodexRpcClient | undefined;
  /** A tracked thread, or undefined when the agent does not track it. */
  thread(threadId: string): TrackedThread | undefined;
  autonomous: AutonomousThreads;
  logger?: Logger;
  /** Pause before retrying an interrupt answered "no active turn", or a turn look-up of a just-started thread (default 150 ms). */
  interruptRetryMs?: number;
  /**
   * True while the agent's view of the thread is complete and current: subscribed, with no notification held
   * back. Only then may an idle view stand in for asking the app-server before a start. Absent: always ask.
   */
  viewSettled?(threadId: string): boolean;
  /**
   * The thread, subscribed, before a send or interrupt acts on it: subscribed again when the agent released it,
   * resumed (loaded) when codex unloaded it; undefined when it is not tracked after all; rejects with the
   * app-server's error. Absent: only a tracked thread is acted on.
   */
  ensureSubscribed?(threadId: string, call: CallOptions): Promise<TrackedThread | undefined>;
}

type Request<Op extends HostRpcRequest["op"]> = Extract<HostRpcRequest, { op: Op }>;
type Outcome = HostRpcResult;

const ok = (data: unknown): Outcome => ({ ok: true, data });

const INTERRUPT_ATTEMPTS = 3;

/** What the executor needs of an app-server watcher (`AppServerWatcher` satisfies it). */
export interface WatchedAppServer {
  readonly rpcClient: CodexRpcClient | undefined;
  thread(threadId: string): TrackedThread | undefined;
  viewSettled(threadId: string): boolean;
  ensureSubscribed(threadId: string, call?: CallOptions): Promise<TrackedThread | undefined>;
}

/** The executor wired to a watcher, settled-view signal included, as the host agent runs it (its test rig too). */
export function executorFor(
  watcher: WatchedAppServer,
  autonomous: AutonomousThreads,
  logger?: Logger,
): CommandExecutor {
  return new CommandExecutor({
    client: () => watcher.rpcClient,
    thread: (id) => watcher.thread(id),
    viewSettled: (id) => watcher.viewSettled(id),
    ensureSubscribed: (id, call) => watcher.ensureSubscribed(id, call),
    autonomous,
    ...(logger ? { logger } : {}),
  });
}

/** Runs host RPCs; see the module comment. */
export class CommandExecutor {
  private readonly retryMs: number;
  private readonly turns: RunningTurns;

  constructor(private readonly deps: CommandExecutorDeps) {
    this.retryMs = deps.interruptRetryMs ?? 150;
    this.turns = new RunningTurns(deps, this.retryMs);
  }

  /** Executes one request within `timeoutMs` (for all app-server calls together); resolves with a result, never rejects. */
  async execute(request: HostRpcRequest, timeoutMs: number): Promise<HostRpcResult> {
    const parsed = HostRpcRequest.safeParse(request);
    if (!parsed.success) return failure("invalid", `invalid host request: ${issuesText(parsed.error)}`);
    const req = parsed.data;
    const deadline = Date.now() + timeoutMs;
    const call = (): CallOptions => {
      const left = deadline - Date.now();
      if (left <= 0)
        return refuse("timeout", `the command's ${timeoutMs} ms ran out before its next step; that step was not taken`);
      return { timeoutMs: left };
    };
    try {
      const client = this.deps.client();
      if (!client?.isOpen)
        return failure("host_offline", "the host agent has no connection to its app-server; nothing was done");
      switch (req.op) {
        case "read":
          return await this.read(client, req, call);
        case "send":
          return await this.send(client, req, call);
        case "interrupt":
          return await this.interrupt(client, req, call);
        case "spawn":
          return await this.spawn(client, req, call);
        case "annotate":
          return failure("invalid", "annotations are recorded by the host agent itself, not run on the app-server");
        case "approve":
          return failure(
            "invalid",
            "held approvals are answered by the host agent itself (approval-holds.ts), not run on the app-server",
          );
      }
    } catch (err) {
      if (err instanceof Refusal) return err.failure;
      const f = failureFrom(err);
      this.deps.logger?.warn({ op: req.op, code: f.code, err: (err as Error).message }, "host command failed");
      return f;
    }
  }

  private tracked(threadId: string): TrackedThread {
    const t = this.deps.thread(threadId);
    if (!t || t.thread.status.type === "notLoaded")
      return refuse("not_found", `thread ${threadId} is not loaded on this host`);
    return t;
  }

  /** The thread a send or interrupt acts on, subscribed (ensureSubscribed); a thread codex has no rollout of is not_found. */
  private async subscribed(threadId: string, call: () => CallOptions): Promise<TrackedThread> {
    if (!this.deps.ensureSubscribed) return this.tracked(threadId);
    const t = await this.deps.ensureSubscribed(threadId, call()).catch((err: unknown) => {
      if (isNoRolloutError(err))
        return refuse(
          "not_found",
          `thread ${threadId} is not on this host (codex has no rollout of it); nothing was done`,
        );
      throw err;
    });
    if (!t || t.thread.status.type === "notLoaded")
      return refuse("not_found", `thread ${threadId} is not loaded on this host; nothing was done`);
    return t;
  }

  // Any thread codex has stored, loaded or not: a closed session's transcript is read without loading it.
  private async read(client: CodexRpcClient, req: Request<"read">, call: () => CallOptions): Promise<Outcome> {
    const params = {
      threadId: req.threadId,
      limit: req.limit,
      cursor: req.cursor ?? null,
      sortDirection: "desc",
      itemsView: "full",
    } as const;
    const page = await client.request("thread/turns/list", params, call()).catch((err: unknown) => {
      // A thread with no turn yet cannot list turns: its transcript is empty.
      if (isNotMaterialized(err) && !req.cursor) return { data: [], nextCursor: null };
      if (firstTurnStarting(err)) {
        return refuse(
          "conflict",
          `thread ${req.threadId}'s first turn is just starting; its transcript can be read in a moment`,
        );
      }
      if (isInvalidCursor(err))
        return refuse("invalid", `the cursor is not valid for thread ${req.threadId}; nothing was read`);
      throw err;
    });
    return ok({ turns: page.data.map((turn) => transcriptTurn(turn, req.view)), nextCursor: page.nextCursor ?? null });
  }

  private async send(client: CodexRpcClient, req: Request<"send">, call: () => CallOptions): Promise<Outcome> {
    const t = await this.subscribed(req.threadId, call);
    const viewActive = t.thread.status.type === "active";
    const active = viewActive || t.activeTurnId !== null;
    // codex folds a turn/start into a running turn, so a start needs to know none runs. An active view that
    // names its turn says one does (a stale id fails the steer's own check, never starts a turn); a settled
    // idle view says none does (idleByView). Otherwise the app-server is asked (status idle arrives before
    // turn/completed, so an unsettled view can be a notification behind) — and since a turn just started may
    // not be listed yet, a start also counts this executor's own turn not yet seen to end, and refuses when
    // the view is active but nobody can name the turn.
    let turnId = viewActive ? t.activeTurnId : null;
    if (turnId === null && !(req.mode !== "steer" && this.turns.idleByView(t))) {
      turnId = await this.turns.runningTurn(client, t, call);
      if (turnId === null && req.mode !== "steer") {
        // The view may have moved while the app-server was asked: read it again.
        const nowActive = t.thread.status.type === "active";
        turnId = (nowActive ? t.activeTurnId : null) ?? this.turns.ownTurnRunning(t);
        if (turnId === null && (viewActive || nowActive))
          return refuse(
            "conflict",
            `thread ${t.id} is active but its running turn cannot be named yet; nothing was sent`,
          );
      }
    }
    if (req.mode === "start" || (req.mode === "auto" && !turnId)) {
      if (turnId)
        return refuse(
          "conflict",
          `turn ${turnId} is running on thread ${t.id}; mode start only starts a turn on an idle thread; nothing was sent`,
        );
      const turnEventsBefore = t.turnEvents;
      const { turn } = await client
        .request("turn/start", { threadId: t.id, input: textInput(req.text) }, call())
        .catch(mayHaveActed("the turn may or may not have started"));
      this.turns.rememberStart(t.id, turn.id, turnEventsBefore);
      return ok({ action: "started", turnId: turn.id });
    }
    if (!turnId) {
      const why = active ? "is active but its running turn is unknown" : "has no running turn";
      return refuse("conflict", `thread ${t.id} ${why}; a steer never starts a turn; nothing was sent`);
    }
    return this.steer(client, t, req.text, turnId, req.expectedTurnId, call);
  }

  private async steer(
    client: CodexRpcClient,
    t: TrackedThread,
    text: string,
    turnId: string,
    expected: string | undefined,
    call: () => CallOptions,
  ): Promise<Outcome> {
    if (expected && expected !== turnId)
      return refuse("conflict", `the running turn is ${turnId}, not ${expected}; nothing was sent`);
    try {
      const steered = await client.request(
        "turn/steer",
        { threadId: t.id, input: textInput(text), expectedTurnId: turnId },
        call(),
      );
      return ok({ action: "steered", turnId: steered.turnId });
    } catch (err) {
      if (isTurnGone(err)) {
        return refuse(
          "conflict",
          `turn ${turnId} ended or changed before the steer arrived (${rpcMessage(err)}); nothing was sent and no turn was started`,
        );
      }
      return mayHaveActed("the steer may or may not have reached the turn")(err);
    }
  }

  private async interrupt(
    client: CodexRpcClient,
    req: Request<"interrupt">,
    call: () => CallOptions,
  ): Promise<Outcome> {
    const known = this.deps.thread(req.threadId);
    if (!known || known.thread.status.type === "notLoaded") {
      // A closed thread runs no turn: said without loading it (thread/read answers for any stored thread).
      const { thread } = await client.request("thread/read", { threadId: req.threadId }, call());
      if (thread.status.type !== "notLoaded")
        return refuse(
          "not_found",
          `thread ${req.threadId} is not followed by this host agent; nothing was interrupted`,
        );
      return refuse(
        "conflict",
        `thread ${req.threadId} is closed (not loaded): no turn is running; nothing was interrupted`,
      );
    }
    const t = known.subscription === "released" ? await this.subscribed(req.threadId, call) : known;
    const turnId = req.turnId ?? t.activeTurnId ?? (await this.turns.runningTurn(client, t, call));
    if (!turnId) return refuse("conflict", `no turn is running on thread ${t.id}; nothing was interrupted`);
    for (let attempt = 1; ; attempt++) {
      try {
        await client.request("turn/interrupt", { threadId: t.id, turnId }, call());
        return ok({ turnId });
      } catch (err) {
        // Right after turn/start the app-server says "no active turn" until the turn has really started.
        if (!isTurnGone(err)) return mayHaveActed("the turn may or may not have been interrupted")(err);
        if (attempt >= INTERRUPT_ATTEMPTS)
          return refuse(
            "conflict",
            `turn ${turnId} is not running on thread ${t.id} (${rpcMessage(err)}); nothing was interrupted`,
          );
      }
      await sleep(Math.min(this.retryMs, Math.max(0, (call().timeoutMs ?? 0) - 1)));
    }
  }

  private async spawn(client: CodexRpcClient, req: Request<"spawn">, call: () => CallOptions): Promise<Outcome> {
    const isDir = await stat(req.cwd).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir) return refuse("invalid", `cwd ${req.cwd} is not a folder on this host; nothing was started`);
    const policy = req.approvalPolicy;
    if (policy === "on-failure") {
      return refuse(
        "invalid",
        'approval policy "on-failure" is not supported by this app-server (codex 0.169-0.171 know untrusted, on-request, never); nothing was started',
      );
    }
    const params = {
      cwd: req.cwd,
      sandbox: req.sandbox,
      approvalPolicy: policy,
      config: req.config,
      ...(req.model ? { model: req.model } : {}),
    };
    const started = await client
      .request("thread/start", params, call())
      .catch(mayHaveActed("a thread may or may not have been created"));
    const threadId = started.thread.id;
    try {
      await this.deps.autonomous.mark(threadId, req.approvals);
    } catch (err) {
      return refuse(
        "denied",
        `thread ${threadId} was created but could not be recorded as autonomous (${(err as Error).message}); no turn was started`,
      );
    }
    try {
      const { turn } = await client.request("turn/start", { threadId, input: textInput(req.task) }, call());
      this.turns.rememberStart(threadId, turn.id, 0);
      return ok({ threadId, turnId: turn.id, cwd: started.cwd });
    } catch (err) {
      const f = failureOf(err, "the turn may or may not have started");
      return { ...f, message: `thread ${threadId} was created but its first turn did not start: ${f.message}` };
    }
  }
}

/** The failure an error means: a Refusal's own, else the app-server error's (failureFrom). Pure. */
function failureOf(err: unknown, openOutcome?: string): CommandFailure {
  return err instanceof Refusal ? err.failure : failureFrom(err, openOutcome);
}

/** Rethrows `err` as a Refusal whose message says what may have happened. */
function mayHaveActed(openOutcome: string): (err: unknown) => never {
  return (err) => {
    throw new Refusal(failureOf(err, isCodexRpcError(err, "rpc_error") ? undefined : openOutcome));
  };
}
