/**
 * How long the supervisor's HTTP servers (the gateway, the MCP edge) wait for a request to arrive: the option
 * fields both validate, and the Node server options they mean. Pure.
 */
import { z } from "zod";

const timeoutMs = z.number().int().positive().max(3_600_000);

/** `headersTimeoutMs` (default 5 s) and `requestTimeoutMs` (default 10 s), for a server's options schema. */
export const HttpTimeoutFields = {
  /** A connection whose request line and headers have not all arrived this long after it opened is closed (408). */
  headersTimeoutMs: timeoutMs.default(5_000),
  /** A request whose body has not all arrived this long after it began is closed (408). */
  requestTimeoutMs: timeoutMs.default(10_000),
};

/** For `.refine(headersWithinRequest, headersWithinRequestIssue)`: headers may not take longer than the request. */
export const headersWithinRequest = (t: { headersTimeoutMs: number; requestTimeoutMs: number }): boolean =>
  t.headersTimeoutMs <= t.requestTimeoutMs;
export const headersWithinRequestIssue = { message: "must not exceed requestTimeoutMs", path: ["headersTimeoutMs"] };

/**
 * The Node `http.createServer` options for these timeouts. Node checks headersTimeout and requestTimeout only
 * every connectionsCheckingInterval (30 s by default), so a slow-header client would be held that long: check
 * often enough that the timeouts mean what they say. Idle keep-alive sockets are closed by keepAliveTimeout. The
 * request timeout ends once a request has fully arrived, so a slow response is not cut, and an upgraded socket
 * (a host agent's WebSocket) leaves the HTTP server's accounting once its headers are in.
 */
export function httpServerTimeouts(t: { headersTimeoutMs: number; requestTimeoutMs: number }) {
  return {
    headersTimeout: t.headersTimeoutMs,
    requestTimeout: t.requestTimeoutMs,
    connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(t.headersTimeoutMs / 4))),
    keepAliveTimeout: 5_000,
  };
}
