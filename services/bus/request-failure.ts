/**
 * Why a core NATS request (`busRequest`, `nc.request`) failed, by the error's type, never by its text: the one
 * place callers learn whether anyone was listening. Each caller words the kind for its own users.
 */
import { NoRespondersError, RequestError, TimeoutError } from "@nats-io/transport-node";

/**
 * `no_responders`: nobody serves the subject, so nothing ran. `timeout`: no answer in time, so it may still run.
 * `bad_reply`: the answer is not JSON (`msg.json()` threw). `other`: the bus refused or dropped the request.
 */
export type RequestFailure = "no_responders" | "timeout" | "bad_reply" | "other";

/** The kind of a request's failure. Pure. */
export function classifyRequestFailure(err: unknown): RequestFailure {
  if (err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders())) return "no_responders";
  if (err instanceof TimeoutError) return "timeout";
  if (err instanceof SyntaxError) return "bad_reply";
  return "other";
}
