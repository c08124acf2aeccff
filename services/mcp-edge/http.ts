/**
 * The Streamable HTTP transport of the edge (stateless: one server per request, so nothing is kept between
 * calls). Before MCP sees a request: the Host header must name the edge and an Origin, when sent, must be an
 * allowed one (DNS-rebinding defence, 403); a bearer token of one session is required, unexpired, unrevoked
 * and naming a session the registry knows (401, the body saying why and how to get a new one; 503 when the
 * registry or the revocation bucket cannot be asked); the body is bounded (413). The token alone decides which
 * session the call runs as.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { z } from "zod";
import {
  HttpTimeoutFields,
  headersWithinRequest,
  headersWithinRequestIssue,
  httpServerTimeouts,
} from "../../schemas/http-timeouts.js";
import { EdgeIdentity, type EdgeIdentityOptions } from "./identity.js";
import { createEdgeServer } from "./server.js";
import { sessionCaller } from "./session-caller.js";

/** Largest request body the edge reads, bytes, by default. */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;
/** The path the edge serves MCP on. */
export const MCP_PATH = "/mcp";

/** Options of {@link startMcpHttpEdge}. */
export interface McpHttpEdgeOptions {
  nc: NatsConnection;
  secret: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Extra `Host` header values accepted besides the listening address (e.g. behind a proxy). */
  allowedHosts?: string[];
  /** Origins accepted when a request sends one; none by default. */
  allowedOrigins?: string[];
  maxBodyBytes?: number;
  /** A connection whose request line and headers have not all arrived this long after it opened is closed (default 5000). */
  headersTimeoutMs?: number;
  /** A request whose body has not all arrived this long after it began is closed (default 10000). */
  requestTimeoutMs?: number;
  logger?: Logger;
  /** How tokens are checked (ticket wait, registry cache, clock); the defaults suit production. */
  identity?: EdgeIdentityOptions;
}

const TimeoutsSchema = z.object(HttpTimeoutFields).refine(headersWithinRequest, headersWithinRequestIssue);

/** The server's timeouts (see httpServerTimeouts), validated. */
function httpTimeouts(opts: McpHttpEdgeOptions): http.ServerOptions {
  const parsed = TimeoutsSchema.safeParse({
    headersTimeoutMs: opts.headersTimeoutMs,
    requestTimeoutMs: opts.requestTimeoutMs,
  });
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`invalid MCP edge options: ${detail}`);
  }
  return httpServerTimeouts(parsed.data);
}

/** A running HTTP edge. */
export interface McpHttpEdge {
  /** `http://host:port/mcp`. */
  readonly url: string;
  readonly port: number;
  stop(): Promise<void>;
}

class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function readBody(req: http.IncomingMessage, max: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > max) return Promise.reject(new HttpRefusal(413, `request body over ${max} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        reject(new HttpRefusal(413, `request body over ${max} bytes`));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on("end", () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      } catch {
        reject(new HttpRefusal(400, "request body is not JSON"));
      }
    });
    req.on("error", reject);
  });
}

/** Starts the edge on `host:port` (default 127.0.0.1, a free port). */
export async function startMcpHttpEdge(opts: McpHttpEdgeOptions): Promise<McpHttpEdge> {
  const timeouts = httpTimeouts(opts);
  const identity = new EdgeIdentity(opts.nc, opts.secret, opts.identity);
  const max = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const host = opts.host ?? "127.0.0.1";
  const origins = new Set(opts.allowedOrigins ?? []);
  let hosts = new Set<string>();

  const refuse = (res: http.ServerResponse, status: number, message: string, extra: Record<string, string> = {}) => {
    if (res.headersSent) return void res.end();
    res.writeHead(status, { "content-type": "application/json", ...extra });
    res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }));
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    if (!hosts.has(req.headers.host ?? ""))
      return refuse(res, 403, `Host '${req.headers.host ?? ""}' is not this edge`);
    const origin = req.headers.origin;
    if (origin !== undefined && !origins.has(origin)) return refuse(res, 403, `Origin '${origin}' is not allowed`);
    if ((req.url ?? "").split("?")[0] !== MCP_PATH) return refuse(res, 404, `MCP is served on ${MCP_PATH}`);
    const auth = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
    if (!auth)
      return refuse(
        res,
        401,
        "a bearer token is required: the session's MCP token (claw-supervisor mcp-config <sessionId>)",
        { "www-authenticate": 'Bearer realm="openclaw-codex-supervisor"' },
      );
    if (req.method !== "POST") return refuse(res, 405, "this edge is stateless: only POST", { allow: "POST" });
    const who = await identity.resolve(auth[1]!);
    if (!who.ok) {
      if (who.reason === "unavailable") return refuse(res, 503, who.message, { "retry-after": "5" });
      return refuse(res, 401, who.message, {
        "www-authenticate": `Bearer realm="openclaw-codex-supervisor", error="invalid_token", error_description="${who.reason}"`,
      });
    }
    const body = await readBody(req, max);
    const server = createEdgeServer(sessionCaller(opts.nc, who.sessionId));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };

  const httpServer = http.createServer(timeouts, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof HttpRefusal) return refuse(res, err.status, err.message);
      opts.logger?.error({ err: (err as Error).message }, "MCP request failed");
      refuse(res, 500, "the MCP edge failed on this request");
    });
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (httpServer.address() as AddressInfo).port;
  hosts = new Set([`${host}:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, ...(opts.allowedHosts ?? [])]);
  const url = `http://${host}:${port}${MCP_PATH}`;
  opts.logger?.info({ url }, "MCP edge listening");
  return {
    url,
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      }),
  };
}
