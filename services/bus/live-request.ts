/**
 * Telling a live request from bytes the server was made to deliver. nats-server checks who may publish on a
 * subject, never who may name it as a reply subject: any user with JetStream API access can have a direct get,
 * a pull request or a push consumer deliver stored bytes onto `codex.admin.*`, `codex.auth.*`, `codex.cmd.*` or
 * `codex.rpc.*`.
 * Such a delivery carries a `Nats-Stream` header or a `$JS.ACK.` reply, or no reply at all, while every real
 * request comes from nats.js's request(), whose reply is an `_INBOX.` subject. So a service acts only on a
 * message with an `_INBOX.` reply and no `Nats-Stream` header, and answers nowhere else. Pure.
 */
import type { Msg } from "@nats-io/transport-node";

/** Why `msg` is not a live request (a line for the log), or undefined when it is one. */
export function notALiveRequest(msg: Pick<Msg, "reply" | "headers">): string | undefined {
  const stream = msg.headers?.get("Nats-Stream");
  if (stream) return `it was delivered from stream ${stream}`;
  if (!msg.reply) return "it has no reply subject";
  if (!msg.reply.startsWith("_INBOX.")) return `its reply subject ${msg.reply} is not an inbox`;
  return undefined;
}

/** True when `msg` was delivered from a stream (a `Nats-Stream` header): never a live publish. */
export function deliveredFromStream(msg: Pick<Msg, "headers">): boolean {
  return Boolean(msg.headers?.get("Nats-Stream"));
}
