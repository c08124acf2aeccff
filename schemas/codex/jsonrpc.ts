/**
 * The app-server's wire format: JSON-RPC 2.0 without the `"jsonrpc"` field, one JSON message per frame.
 * Requests `{id, method, params}`, responses `{id, result}` or `{id, error}`, notifications `{method, params}`.
 */
import { z } from "zod";

/** A request id: string or integer. */
export const RequestId = z.union([z.string(), z.number().int()]);
export type RequestId = z.infer<typeof RequestId>;

/** An error object in a response. */
export const WireError = z.looseObject({ code: z.number().int(), message: z.string(), data: z.unknown().optional() });
export type WireError = z.infer<typeof WireError>;

/** A request, from either side. */
export const WireRequest = z.looseObject({ id: RequestId, method: z.string(), params: z.unknown().optional() });
/** A notification: a method with no id; `emittedAtMs` is the server's envelope timestamp (unix ms). */
export const WireNotification = z.looseObject({
  method: z.string(),
  params: z.unknown().optional(),
  emittedAtMs: z.number().optional(),
});
/** A successful response. */
export const WireResult = z.looseObject({ id: RequestId, result: z.unknown() });
/** A failed response. */
export const WireErrorResponse = z.looseObject({ id: RequestId.nullable(), error: WireError });

/** One incoming message, classified. */
export type WireMessage =
  | { kind: "request"; msg: z.infer<typeof WireRequest> }
  | { kind: "notification"; msg: z.infer<typeof WireNotification> }
  | { kind: "result"; msg: z.infer<typeof WireResult> }
  | { kind: "error"; msg: z.infer<typeof WireErrorResponse> };

/** Classifies a parsed JSON value as one wire message, or returns a reason it is none. */
export function classifyWireMessage(value: unknown): WireMessage | { kind: "invalid"; reason: string } {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { kind: "invalid", reason: "a message must be a JSON object" };
  }
  const v = value as Record<string, unknown>;
  const hasId = "id" in v;
  if ("method" in v) {
    const parsed = hasId ? WireRequest.safeParse(v) : WireNotification.safeParse(v);
    if (!parsed.success)
      return {
        kind: "invalid",
        reason: `bad ${hasId ? "request" : "notification"}: ${parsed.error.issues[0]?.message}`,
      };
    return hasId
      ? { kind: "request", msg: parsed.data as z.infer<typeof WireRequest> }
      : { kind: "notification", msg: parsed.data };
  }
  if ("error" in v) {
    const parsed = WireErrorResponse.safeParse(v);
    return parsed.success ? { kind: "error", msg: parsed.data } : { kind: "invalid", reason: "bad error response" };
  }
  if ("result" in v) {
    const parsed = WireResult.safeParse(v);
    return parsed.success ? { kind: "result", msg: parsed.data } : { kind: "invalid", reason: "bad response id" };
  }
  return { kind: "invalid", reason: "neither a request, a notification nor a response" };
}
