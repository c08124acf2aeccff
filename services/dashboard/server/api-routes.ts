/**
 * The dashboard's JSON API for signing in and acting: `POST /api/signin` (an operator token, checked by the
 * policy service; sets the session cookie and answers the session's key, which every other call sends as
 * `X-Claw-Key`: session-key.ts), `POST /api/signout` (the cookie is refused from then on, on this server),
 * `GET /api/me`, and `POST /api/command`, which
 * sends one command to the policy service as the signed-in operator (caller `{role, id: name}`), so the policy
 * decides and audits it like any other; a viewer's command is sent too, for the policy to refuse and record.
 */
import { createHash } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { CommandFailure } from "../../../schemas/commands.js";
import { DashboardCommand, type Me, type SignInReply, SignInRequest } from "../../../schemas/dashboard.js";
import { requestCommand } from "../../clients/command-request.js";
import {
  type OperatorAuth,
  SESSION_TTL_MS,
  clearSessionCookie,
  requireSession,
  type SessionChecker,
  sessionOf,
  setSessionCookie,
} from "./session.js";
import { newSessionId, sessionKey } from "./session-key.js";
import { SigninLimiter } from "./signin-limit.js";

/** How long a command may take before the page is told `timeout` (it may still complete). */
export const COMMAND_TIMEOUT_MS = 60_000;

/** The HTTP status of a command failure's code. Pure. */
export function httpStatusOf(code: CommandFailure["code"]): number {
  switch (code) {
    case "invalid":
      return 400;
    case "denied":
      return 403;
    case "not_found":
      return 404;
    case "conflict":
      return 409;
    case "rate_limited":
      return 429;
    case "host_offline":
      return 503;
    case "timeout":
      return 504;
    case "budget_exceeded":
      return 402;
  }
}

/** The idempotency key sent to the policy service: per operator, at most 200 characters. Pure. */
export function commandKey(name: string, key: string): string {
  const whole = `dash:${name}:${key}`;
  return whole.length <= 200 ? whole : `dash:${name}:${createHash("sha256").update(key).digest("hex")}`;
}

const fail = (reply: FastifyReply, status: number, code: string, message: string) =>
  reply.code(status).send({ ok: false, code, message });

/** What the API routes use. */
export interface ApiDeps {
  nc: NatsConnection;
  auth: OperatorAuth;
  checker: SessionChecker;
  /** The cookie secret, which the session keys are derived from. */
  cookieSecret: string;
  commandTimeoutMs?: number;
}

/** Registers the routes (the peer guard runs before them, for every request). */
export function registerApiRoutes(app: FastifyInstance, d: ApiDeps): void {
  const authed = { preValidation: requireSession(d.checker) };
  // One bucket per server (see signin-limit.ts): 10 refused sign-ins at once, then one every 6 s.
  const limiter = new SigninLimiter();

  app.post("/api/signin", async (req, reply) => {
    const body = SignInRequest.safeParse(req.body);
    if (!body.success) return fail(reply, 400, "invalid", 'send {"token": "cso_..."}, the token from \'operator add\'');
    // Every check the policy service makes is an audit record: a flood must not roll the audit trail over.
    const waitMs = limiter.take();
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      void reply.header("retry-after", String(seconds));
      return fail(reply, 429, "rate_limited", `too many sign-in attempts on this dashboard: retry in ${seconds} s`);
    }
    const v = await d.auth.verify(body.data.token);
    // Only refused checks use the bucket up: a sign-in, or a token that was never sent, gives its slot back.
    if (v.ok || v.code === "invalid") limiter.giveBack();
    if (!v.ok) {
      if (v.code === "unavailable") return fail(reply, 503, "unavailable", v.message);
      clearSessionCookie(reply);
      return fail(reply, 401, "unauthenticated", "that token does not sign in: it is not an active operator token");
    }
    const secure = (req.headers.origin ?? "").startsWith("https://");
    const sid = newSessionId();
    setSessionCookie(
      reply,
      { tokenId: v.tokenId, name: v.name, role: v.role, exp: Date.now() + SESSION_TTL_MS, sid },
      secure,
    );
    req.log.info({ operator: v.name, role: v.role }, "dashboard sign-in");
    const data: SignInReply = { name: v.name, role: v.role, key: sessionKey(d.cookieSecret, sid) };
    return { ok: true, data };
  });

  app.post("/api/signout", authed, async (req, reply) => {
    // Only this server remembers it (another instance does not see it until issue 17 shares state).
    d.checker.signOut(sessionOf(req));
    clearSessionCookie(reply);
    return { ok: true, data: null };
  });

  app.get("/api/me", authed, async (req) => {
    const s = sessionOf(req);
    const me: Me = { name: s.name, role: s.role };
    return { ok: true, data: me };
  });

  app.post("/api/command", authed, async (req, reply) => {
    const body = DashboardCommand.safeParse(req.body);
    if (!body.success)
      return fail(reply, 400, "invalid", `not a dashboard command: ${body.error.issues[0]?.message ?? "invalid"}`);
    const s = sessionOf(req);
    const answer = await requestCommand(
      d.nc,
      {
        verb: body.data.verb,
        caller: { role: s.role, id: s.name },
        idempotencyKey: commandKey(s.name, body.data.idempotencyKey),
        args: body.data.args,
      },
      d.commandTimeoutMs ?? COMMAND_TIMEOUT_MS,
    );
    if (answer.ok) return reply.code(answer.result.ok ? 200 : httpStatusOf(answer.result.code)).send(answer.result);
    switch (answer.reason) {
      case "no_policy":
        return fail(reply, 503, "unavailable", "no policy service is answering commands: nothing was run");
      case "unreachable":
        return fail(reply, 503, "unavailable", "the bus refused the command: nothing was run");
      case "timeout":
        return fail(reply, 504, "timeout", "the policy service did not answer in time; the command may still complete");
      case "not_a_result":
        return fail(reply, 502, "unavailable", "the policy service's answer was not a command result");
    }
  });
}
