/**
 * Sending one operator request (`codex.admin.<area>.<op>`, schemas/admin.ts) to the policy service: the request
 * goes through `busRequest`, and the answer is the reply (checked against the op's reply schema) or why there is
 * none. A request larger than the server accepts in one message (its `max_payload`) is not sent at all. Callers
 * word the reasons for their own users; nothing here throws.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { z } from "zod";
import { subjects } from "../bus/index.js";
import { askPolicyService } from "./command-request.js";

/**
 * The reply, or why there is none: `no_policy` (nobody serves the subject: nothing was done), `timeout` (no
 * answer in time: it may still be done), `unreachable` (the bus refused the request: nothing was done),
 * `not_a_reply` (an answer that is not the op's reply: it may have been done), `too_large` (the request is
 * `bytes` long, more than the `maxPayload` the server accepts: nothing was sent).
 */
export type AdminAnswer<T> =
  | { ok: true; reply: T }
  | { ok: false; reason: "no_policy" | "timeout" | "unreachable" | "not_a_reply"; error?: Error }
  | { ok: false; reason: "too_large"; bytes: number; maxPayload: number };

/** Sends `body` on `codex.admin.<area>.<op>` and waits up to `timeoutMs` for a reply `reply` accepts. Never throws. */
export async function requestAdmin<T>(
  nc: NatsConnection,
  area: string,
  op: string,
  body: unknown,
  reply: z.ZodType<T>,
  timeoutMs: number,
): Promise<AdminAnswer<T>> {
  const text = JSON.stringify(body);
  const bytes = Buffer.byteLength(text);
  const maxPayload = nc.info?.max_payload;
  if (maxPayload !== undefined && bytes > maxPayload) return { ok: false, reason: "too_large", bytes, maxPayload };
  const answer = await askPolicyService(nc, subjects.admin(area, op), text, timeoutMs);
  if (!answer.ok) return { ...answer, reason: answer.reason === "bad_reply" ? "not_a_reply" : answer.reason };
  const parsed = reply.safeParse(answer.data);
  return parsed.success ? { ok: true, reply: parsed.data } : { ok: false, reason: "not_a_reply" };
}
