/**
 * The dashboard's first check on every request, before routing: the Host header must name this server
 * (`127.0.0.1:<port>`, the listening address, or the host of an allowed origin), so a page on
 * another site cannot reach it through a DNS name rebound to 127.0.0.1; and every request that changes something
 * (any method but GET and HEAD) and every WebSocket upgrade must carry an Origin header from the allowed list, so
 * another site's page cannot post a form or open the live socket with the operator's cookie. A request that
 * sends an Origin from elsewhere is refused whatever its method.
 */
import type { FastifyReply, FastifyRequest } from "fastify";

/** The hosts and origins a server accepts; filled once it listens (its port may be chosen then). */
export class AllowedPeers {
  private hosts = new Set<string>();
  private origins = new Set<string>();

  constructor(private readonly extraOrigins: readonly string[]) {}

  /** Sets the lists for a server listening on `host:port`. */
  listening(host: string, port: number): void {
    // Not `localhost`: it may resolve to ::1 first, where this server does not listen and another local user
    // may, so a page under that name could be theirs (security review); the URL `up` prints is 127.0.0.1's.
    const local = ["127.0.0.1"];
    if (!isWildcard(host) && !local.includes(host)) local.push(host.includes(":") ? `[${host}]` : host);
    this.hosts = new Set(local.map((h) => `${h}:${port}`));
    this.origins = new Set(local.map((h) => `http://${h}:${port}`));
    for (const o of this.extraOrigins) {
      const u = new URL(o);
      this.origins.add(u.origin);
      this.hosts.add(u.host);
    }
  }

  hostAllowed(host: string | undefined): boolean {
    return host !== undefined && this.hosts.has(host.toLowerCase());
  }

  originAllowed(origin: string | undefined): boolean {
    return origin !== undefined && this.origins.has(origin.toLowerCase());
  }
}

/** True for an address that listens on every interface. Pure. */
export function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "[::]";
}

/** Checks `allowedOrigins` entries: each an http(s) origin, nothing after it. Throws an Error naming the bad one. */
export function checkOrigins(origins: readonly string[]): void {
  for (const o of origins) {
    let u: URL;
    try {
      u = new URL(o);
    } catch {
      throw new Error(`allowed origin '${o}' is not a URL`);
    }
    if ((u.protocol !== "http:" && u.protocol !== "https:") || u.origin !== o.replace(/\/$/, "").toLowerCase())
      throw new Error(`allowed origin '${o}' must be just scheme://host[:port], like https://claw.example.com`);
  }
}

/** The `onRequest` hook: refuses (403) a foreign Host, a foreign Origin, or a missing Origin where one is needed. */
export function peerGuard(peers: AllowedPeers) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const host = req.headers.host;
    if (!peers.hostAllowed(host))
      return forbid(reply, `Host '${host ?? ""}' is not this dashboard (a DNS name pointing here is not enough)`);
    const origin = req.headers.origin;
    const upgrade = (req.headers.upgrade ?? "").toLowerCase() === "websocket";
    const needsOrigin = upgrade || (req.method !== "GET" && req.method !== "HEAD");
    if (origin === undefined && !needsOrigin) return;
    if (!peers.originAllowed(origin))
      return forbid(
        reply,
        origin === undefined
          ? "this request needs an Origin header (sent by browsers); none was sent"
          : `Origin '${origin}' is not allowed`,
      );
  };
}

async function forbid(reply: FastifyReply, message: string): Promise<void> {
  await reply.code(403).send({ ok: false, code: "forbidden", message });
}
