/**
 * The page's JSON API client (`/api/*`, same origin, the session cookie rides along, and the session's key as
 * `X-Claw-Key`): typed results instead of throws, and one place that hears a 401 so the page can fall back to
 * sign-in (dropping the stored key).
 */
import type { DashboardCommand, DashboardVerb } from "../../../schemas/dashboard.js";

/** An API answer: the route's data, or why not (HTTP status, a code such as `unauthenticated`, one line). */
export type ApiResult<T> = { ok: true; data: T } | { ok: false; status: number; code: string; message: string };

/** What `runCommand` answers: the policy service's CommandResult as it came, or the API failure (with its status). */
export type CommandAnswer =
  | { ok: true; data: unknown }
  | { ok: false; code: string; message: string; status?: number; reason?: string; [extra: string]: unknown };

/** Where the session's key is kept: localStorage is this origin's alone (port included), unlike the cookie. */
const KEY_STORAGE = "claw-key";
/** Used when localStorage is not available (then a reload signs in again). */
let keyInMemory: string | null = null;

/** The session's key (sign-in's `key`), or null when signed out. */
export function sessionKey(): string | null {
  try {
    return localStorage.getItem(KEY_STORAGE) ?? keyInMemory;
  } catch {
    return keyInMemory;
  }
}

/** Keeps (or, with null, forgets) the session's key. */
export function setSessionKey(key: string | null): void {
  keyInMemory = key;
  try {
    if (key === null) localStorage.removeItem(KEY_STORAGE);
    else localStorage.setItem(KEY_STORAGE, key);
  } catch {
    // no storage: kept in memory only
  }
}

/** The headers of an API call: JSON, and the session's key when there is one. */
function headersOf(withBody: boolean): Record<string, string> {
  const key = sessionKey();
  return {
    accept: "application/json",
    ...(withBody ? { "content-type": "application/json" } : {}),
    ...(key === null ? {} : { "x-claw-key": key }),
  };
}

/** A 401: the key is no good any more; tell the store. */
function heardUnauthenticated(): void {
  setSessionKey(null);
  for (const fn of [...unauthenticatedListeners]) fn();
}

type Listener = () => void;
const unauthenticatedListeners = new Set<Listener>();

/** Calls `fn` whenever an API call answers 401 (the cookie is gone, expired or revoked). Returns the unsubscribe. */
export function onUnauthenticated(fn: Listener): () => void {
  unauthenticatedListeners.add(fn);
  return () => unauthenticatedListeners.delete(fn);
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object";

async function call<T>(method: "GET" | "POST", path: string, body?: unknown): Promise<ApiResult<T>> {
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: headersOf(body !== undefined),
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    return { ok: false, status: 0, code: "unavailable", message: `the dashboard did not answer: ${String(err)}` };
  }
  let json: unknown = null;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  if (res.status === 401) heardUnauthenticated();
  if (res.ok && isObject(json) && json.ok === true) return { ok: true, data: json.data as T };
  const code = isObject(json) && typeof json.code === "string" ? json.code : res.ok ? "invalid" : `http_${res.status}`;
  const message =
    isObject(json) && typeof json.message === "string"
      ? json.message
      : `${method} ${path} answered ${res.status} ${res.statusText}`.trim();
  return { ok: false, status: res.status, code, message };
}

/** `GET path` -> the route's `data`, or the failure. Never throws. */
export function apiGet<T>(path: string): Promise<ApiResult<T>> {
  return call<T>("GET", path);
}

/** `POST path` with a JSON body -> the route's `data`, or the failure. Never throws. */
export function apiPost<T>(path: string, body: unknown): Promise<ApiResult<T>> {
  return call<T>("POST", path, body);
}

/** A fresh random idempotency key (one per click). */
export function newIdempotencyKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Sends one command through `POST /api/command` (the server forwards it to the policy service as the signed-in
 * operator, so it is decided and audited), with a fresh idempotency key. Answers the CommandResult as it came
 * (a failure keeps its extra fields such as `reason`), or the API failure with its HTTP status. Never throws.
 */
export async function runCommand(verb: DashboardVerb, args: Record<string, unknown>): Promise<CommandAnswer> {
  const body: DashboardCommand = { verb, args, idempotencyKey: newIdempotencyKey() };
  let res: Response;
  try {
    res = await fetch("/api/command", {
      method: "POST",
      credentials: "same-origin",
      headers: headersOf(true),
      body: JSON.stringify(body),
    });
  } catch (err) {
    return { ok: false, code: "unavailable", message: `the dashboard did not answer: ${String(err)}`, status: 0 };
  }
  let json: unknown = null;
  try {
    json = await res.json();
  } catch {
    json = null;
  }
  if (res.status === 401) heardUnauthenticated();
  if (isObject(json) && json.ok === true) return { ok: true, data: json.data };
  if (isObject(json) && json.ok === false && typeof json.code === "string") {
    return { ...json, ok: false, code: json.code, message: String(json.message ?? ""), status: res.status };
  }
  return {
    ok: false,
    code: `http_${res.status}`,
    message: `POST /api/command answered ${res.status}`,
    status: res.status,
  };
}
