/**
 * What the host agent makes of the app-server's error answers. Codex names a state only in its JSON-RPC error's
 * message, so each answer the agent acts on is one named pattern below, with the answer it recognises and what
 * the agent does about it (messages as observed with codex 0.169; see docs/codex-app-server.md); `failureFrom`
 * maps any error of the app-server client to a typed command failure. All functions here are pure.
 */
import { type CommandFailure, failure } from "../../schemas/commands.js";
import { type CodexRpcError, isCodexRpcError } from "../codex-rpc/index.js";

/** JSON-RPC error codes codex answers with: invalid request or state, not supported (yet), internal error. */
const INVALID_REQUEST = -32600;
const NOT_SUPPORTED = -32601;
const INTERNAL_ERROR = -32603;
/** -32001 "Server overloaded" (documented by codex, whatever the message): the command fails `rate_limited`. */
const OVERLOADED = -32001;

/**
 * -32600 "no active turn to steer" / "no active turn to interrupt" (the thread is idle), or "expected active turn
 * id ... but found ..." (a different turn runs): the turn named is not running. A steer fails closed (it never
 * becomes a new turn); an interrupt right after a turn/start retries, since codex says this until the turn has
 * really started.
 */
const TURN_GONE = /no active turn|expected active turn id/i;
/**
 * -32600 "thread not found", "thread not loaded" or "invalid thread id": the thread is not on this app-server
 * (never was, or was unloaded). A command on it fails `not_found`.
 */
const THREAD_GONE = /thread not found|thread not loaded|invalid thread id/i;
/**
 * -32600 "... not materialized yet" from `thread/turns/list`: a brand-new thread whose first turn has not begun
 * has no turns to list. A read returns an empty transcript; a running-turn look-up falls back to the thread's
 * status.
 */
const NOT_MATERIALIZED = /not materialized yet/i;
/**
 * -32601 "... not supported yet" from `thread/turns/list` right after a thread's first turn/start: the first turn
 * is starting (about 300 ms on an idle machine, longer under load). Look-ups retry; a read is refused as a
 * conflict to be tried again in a moment.
 */
const FIRST_TURN_STARTING = /not supported yet/i;
/**
 * -32603 "failed to read session metadata ...: rollout at <path> is empty" from `thread/turns/list` while codex
 * writes a new thread's rollout file (seen under load in CI): the same window as FIRST_TURN_STARTING, and
 * treated alike.
 */
const ROLLOUT_BEING_WRITTEN = /rollout at .* is empty/i;
/**
 * -32600 "no rollout found for thread id ..." from `thread/resume` on a thread with no turn yet: the watcher
 * keeps the thread pending, retries, and once subscribed recovers the turns it missed meanwhile.
 */
const NO_ROLLOUT = /no rollout found/i;
/** -32600 "invalid cursor ..." from `thread/turns/list`: a read's cursor does not belong to the thread. */
const INVALID_CURSOR = /invalid cursor/i;

/** True for an app-server error answer with this JSON-RPC code whose message matches `message`. */
function answered(err: unknown, code: number, message: RegExp): boolean {
  return isCodexRpcError(err, "rpc_error") && err.rpcCode === code && message.test(err.rpcMessage ?? "");
}

/** The turn a steer or interrupt named is not running (TURN_GONE). */
export const isTurnGone = (err: unknown): err is CodexRpcError => answered(err, INVALID_REQUEST, TURN_GONE);

/** The thread has no turn to list yet (NOT_MATERIALIZED). */
export const isNotMaterialized = (err: unknown): err is CodexRpcError =>
  answered(err, INVALID_REQUEST, NOT_MATERIALIZED);

/** A read's cursor is not the thread's (INVALID_CURSOR). */
export const isInvalidCursor = (err: unknown): err is CodexRpcError => answered(err, INVALID_REQUEST, INVALID_CURSOR);

/** `thread/resume` found no rollout: the thread has no turn yet (NO_ROLLOUT). */
export const isNoRolloutError = (err: unknown): boolean => answered(err, INVALID_REQUEST, NO_ROLLOUT);

/** One of the app-server's answers while a thread's first turn is starting: try again shortly. */
export const firstTurnStarting = (err: unknown): boolean =>
  answered(err, NOT_SUPPORTED, FIRST_TURN_STARTING) || answered(err, INTERNAL_ERROR, ROLLOUT_BEING_WRITTEN);

/** The server's own message of an error answer, else the error's. */
export function rpcMessage(err: CodexRpcError): string {
  return err.rpcMessage ?? err.message;
}

/**
 * Maps an app-server client error to a command failure by its code (and, for error answers, by OVERLOADED and
 * THREAD_GONE); any other error is the agent's own, `invalid`. `openOutcome` is appended when the app-server
 * may have acted before failing.
 */
export function failureFrom(err: unknown, openOutcome?: string): CommandFailure {
  const open = openOutcome ? `: ${openOutcome}` : "; nothing was done";
  if (!isCodexRpcError(err))
    return failure("invalid", `the host agent failed: ${(err as Error)?.message ?? String(err)}`);
  switch (err.code) {
    case "timeout":
      return failure("timeout", `${err.message}${open}`);
    case "closed":
    case "too_large":
      return failure("host_offline", `lost the app-server connection (${err.message})${open}`);
    case "malformed":
      return err.message.startsWith("invalid params")
        ? failure("invalid", `${err.message}; nothing was sent`)
        : failure("invalid", `the app-server's answer did not match the protocol (${err.message})${open}`);
    case "rpc_error":
      if (err.rpcCode === OVERLOADED)
        return failure("rate_limited", `the app-server is overloaded (${err.rpcMessage}); nothing was done`);
      if (answered(err, INVALID_REQUEST, THREAD_GONE))
        return failure("not_found", `${err.rpcMessage}; nothing was done`);
      return failure("invalid", `the app-server refused: ${err.message}; nothing was done`);
  }
}
