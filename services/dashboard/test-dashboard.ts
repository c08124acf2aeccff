/**
 * Test support for the dashboard server (tests only): the policy rig (real nats-server, registry, gateway, a
 * scripted host agent, the real policy service) with the dashboard started on it, operators added through the
 * policy service as `operator add` does, sign-in over HTTP, raw HTTP requests with any Host/Origin/Cookie, and a
 * WebSocket client that collects the server's frames. A cookie from {@link signIn} carries its session's key
 * along: `http` sends it as `X-Claw-Key` and `openSocket` in `hello`, unless told otherwise (`key`).
 */
import { randomBytes } from "node:crypto";
import { request } from "node:http";
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import { pino } from "pino";
import { expect } from "vitest";
import { WebSocket } from "ws";
import { OperatorAddResult } from "../../schemas/admin-operators.js";
import { ServerMessage, type ViewRevision } from "../../schemas/dashboard.js";
import { requestAdmin } from "../clients/admin-request.js";
import { hashOperatorToken } from "../clients/operator-auth.js";
import { type PolicyRig, startPolicyRig } from "../policy/test-policy.js";
import { type Dashboard, type DashboardOptions, startDashboard } from "./server/index.js";

/** A policy rig with a dashboard on its bus. */
export interface DashboardRig {
  rig: PolicyRig;
  dashboard: Dashboard;
  /** `http://127.0.0.1:<port>`: also the Origin the dashboard accepts. */
  url: string;
  stop(): Promise<void>;
}

/** Starts the rig and the dashboard (port 0, a fresh cookie secret); `extra` goes to startDashboard. */
export async function startDashboardRig(extra: Partial<DashboardOptions> = {}): Promise<DashboardRig> {
  const rig = await startPolicyRig();
  try {
    const dashboard = await startDashboard({
      nc: rig.bus.nc,
      port: 0,
      cookieSecret: randomBytes(32).toString("base64url"),
      logger: quietLogger(),
      ...extra,
    });
    return {
      rig,
      dashboard,
      url: dashboard.url,
      async stop() {
        await dashboard.stop();
        await rig.stop();
      },
    };
  } catch (err) {
    await rig.stop();
    throw err;
  }
}

/** A silent logger (LOG_LEVEL=debug shows the dashboard's logs). */
export function quietLogger(): Logger {
  return pino({ level: process.env.LOG_LEVEL ?? "silent" });
}

/** Adds operator `name` with `role` through the policy service on `nc`, as `operator add` does; resolves with the token. */
export async function addOperator(nc: NatsConnection, name: string, role: "operator" | "viewer"): Promise<string> {
  const tokenId = randomBytes(8).toString("hex");
  const token = `cso_${tokenId}_${randomBytes(32).toString("base64url")}`;
  const answer = await requestAdmin(
    nc,
    "operator",
    "add",
    { caller: { role: "operator", id: "test@ops" }, name, role, tokenId, sha256: hashOperatorToken(token) },
    OperatorAddResult,
    5_000,
  );
  expect(answer.ok && answer.reply.ok, JSON.stringify(answer)).toBe(true);
  return token;
}

/** The session key of each cookie {@link signIn} answered (`claw_session=…` -> key). */
const keys = new Map<string, string>();

/** The session key sign-in answered with `cookie` (undefined for a cookie {@link signIn} did not give). */
export function keyOf(cookie: string | undefined): string | undefined {
  return cookie === undefined ? undefined : keys.get(cookie);
}

/** One HTTP answer. */
export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): any;
}

/**
 * An HTTP request to `url + path` with exactly the given headers (Host defaults to the URL's), plus `X-Claw-Key`:
 * `key`, or when undefined the key of the `cookie` header's session ({@link keyOf}); null sends none.
 */
export function http(
  url: string,
  path: string,
  o: { method?: string; body?: unknown; headers?: Record<string, string>; key?: string | null } = {},
): Promise<HttpAnswer> {
  const u = new URL(path, url);
  const body = o.body === undefined ? undefined : JSON.stringify(o.body);
  const key = o.key === undefined ? keyOf(o.headers?.cookie) : o.key;
  const headers: Record<string, string> = {
    host: u.host,
    ...(body === undefined ? {} : { "content-type": "application/json" }),
    ...(key == null ? {} : { "x-claw-key": key }),
    ...o.headers,
  };
  return new Promise((resolve, reject) => {
    const req = request(
      { host: u.hostname, port: u.port, path: u.pathname + u.search, method: o.method ?? "GET", headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text, json: () => JSON.parse(text) });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * Signs in with `token` (Origin: the dashboard's); resolves with the `Cookie` header value to send after, whose
 * session key ({@link keyOf}) `http` and `openSocket` send along.
 */
export async function signIn(url: string, token: string): Promise<string> {
  const answer = await http(url, "/api/signin", { method: "POST", body: { token }, headers: { origin: url } });
  expect(answer.status, answer.body).toBe(200);
  const set = answer.headers["set-cookie"];
  const cookie = (Array.isArray(set) ? set : [set ?? ""]).find((c) => c.startsWith("claw_session="));
  expect(cookie, "no claw_session cookie set").toBeDefined();
  const pair = (cookie as string).split(";")[0] as string;
  const key = answer.json().data?.key;
  expect(typeof key, `no key in sign-in's answer: ${answer.body}`).toBe("string");
  keys.set(pair, key);
  return pair;
}

/** A test WebSocket: every frame it got (parsed and checked against ServerMessage), and how it ended. */
export interface TestSocket {
  ws: WebSocket;
  frames: ServerMessage[];
  /** Settles with the HTTP status when the upgrade was refused, or the close code and reason once closed. */
  ended: Promise<{ refused?: number; code?: number; reason?: string }>;
  /** Resolves with the first frame (from `from` on) that `match` accepts; rejects after `timeoutMs`. */
  next<T extends ServerMessage["type"]>(
    type: T,
    match?: (m: Extract<ServerMessage, { type: T }>) => boolean,
    timeoutMs?: number,
  ): Promise<Extract<ServerMessage, { type: T }>>;
  send(frame: unknown): void;
  hello(since: ViewRevision | null): void;
}

/**
 * Opens `/ws` with `cookie` and `origin` (default the dashboard's own); `hello` says `key` (default the cookie's
 * session key, {@link keyOf}; null: none).
 */
export function openSocket(
  url: string,
  o: { cookie?: string; origin?: string | null; key?: string | null } = {},
): TestSocket {
  const key = o.key === undefined ? keyOf(o.cookie) : o.key;
  const headers: Record<string, string> = o.cookie ? { cookie: o.cookie } : {};
  const origin = o.origin === undefined ? url : o.origin;
  const ws = new WebSocket(`${url.replace(/^http/, "ws")}/ws`, { headers, ...(origin === null ? {} : { origin }) });
  const frames: ServerMessage[] = [];
  const waiters = new Set<() => void>();
  ws.on("message", (data) => {
    frames.push(ServerMessage.parse(JSON.parse(data.toString())));
    for (const w of waiters) w();
  });
  const ended = new Promise<{ refused?: number; code?: number; reason?: string }>((resolve) => {
    ws.on("unexpected-response", (_req, res) => {
      resolve({ refused: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() }));
    ws.on("error", () => undefined);
  });
  const socket: TestSocket = {
    ws,
    frames,
    ended,
    next(type, match = () => true, timeoutMs = 10_000) {
      type M = Extract<ServerMessage, { type: typeof type }>;
      let seen = 0;
      return new Promise<M>((resolve, reject) => {
        const check = () => {
          for (; seen < frames.length; seen++) {
            const f = frames[seen] as ServerMessage;
            if (f.type === type && match(f as M)) {
              clearTimeout(timer);
              waiters.delete(check);
              resolve(f as M);
              return;
            }
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${type} frame in ${timeoutMs} ms; got ${frames.map((f) => f.type).join(", ")}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    send(frame) {
      ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
    },
    hello(since) {
      const go = () => socket.send({ type: "hello", since, ...(key == null ? {} : { key }) });
      if (ws.readyState === ws.OPEN) go();
      else ws.once("open", go);
    },
  };
  return socket;
}
