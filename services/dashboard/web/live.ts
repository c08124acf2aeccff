/**
 * The page's live store: who is signed in, and the fleet as the one WebSocket per tab (`/ws`) brings it.
 * Frames are merged as they arrive (each key's latest row, so a hidden tab holds at most one row per key) and
 * applied once per animation frame; components re-render once per applied frame. The socket says `hello` with the
 * last revision it received, reconnects with backoff (250 ms .. 5 s) resending it so no change is lost, answers
 * `ping`, and counts a connection silent for 2.5 heartbeats as dead. Nothing polls.
 */
import { useEffect, useState } from "preact/hooks";
import type { ClawsResult, SessionOwnership } from "../../../schemas/claw-groups.js";
import type { HostRow, Me, NoticeRow, SessionRow, SignInReply, ViewRevision } from "../../../schemas/dashboard.js";
import { apiGet, apiPost, onUnauthenticated, setSessionKey } from "./api.js";
import { type Pending, applyPending, emptyPending, mergeFrame } from "./live-merge.js";
import { type LiveSocket, openLiveSocket } from "./live-socket.js";
import { measureChanges } from "./metrics.js";

/**
 * Who owns which session when Claw groups are configured (the server's `claws` frames); null when they are not
 * (or before the server said). A new object each time the server sends a change, so views may compare identity.
 */
export interface ClawsView {
  result: ClawsResult;
  /** The Claw owning each session, by thread id (`record.sessionId`). */
  bySession: Map<string, SessionOwnership>;
  /** When the page received it (its own clock): ages are the answer's plus the time since. */
  receivedAtMs: number;
}

/** How long `o`'s lease has been held, as of `now` (page clock). Pure. */
export function heldForMs(claws: ClawsView, o: SessionOwnership, now: number = Date.now()): number {
  return o.heldForMs + Math.max(0, now - claws.receivedAtMs);
}

/** The connection indicator's states. */
export type ConnState = "connecting" | "live" | "reconnecting";

/**
 * What `useLive()` gives. The maps are the store's own and change in place each applied frame (read them, never
 * change them): memoize on `version` (bumps per applied frame) or `keysVersion`, not on the maps' identity.
 */
export interface LiveView {
  sessions: Map<string, SessionRow>;
  hosts: Map<string, HostRow>;
  rev: ViewRevision | null;
  conn: ConnState;
  notices: NoticeRow[];
  claws: ClawsView | null;
  version: number;
  /** Bumps when a session or host key comes or goes (so a view can keep its sorted keys between frames). */
  keysVersion: number;
}

/** Sign-in state: unknown while `/api/me` is asked, then signed in or out (with why, when there is a why). */
export type AuthState =
  | { state: "unknown" }
  | { state: "signedOut"; reason: string | null }
  | { state: "signedIn"; me: Me };

const MAX_NOTICES = 200;

const view: LiveView = {
  sessions: new Map(),
  hosts: new Map(),
  rev: null,
  conn: "connecting",
  notices: [],
  claws: null,
  version: 0,
  keysVersion: 0,
};
let auth: AuthState = { state: "unknown" };
let pending: Pending = emptyPending();
let frameRequested = false;
/** True from the first data frame of a connection until it drops: only then does an applied frame mean "live". */
let receiving = false;
let socket: LiveSocket | null = null;
const listeners = new Set<() => void>();
const authListeners = new Set<() => void>();

function notify(): void {
  view.version += 1;
  for (const fn of [...listeners]) fn();
}

function applyFrame(): void {
  frameRequested = false;
  const applied = applyPending(view, pending);
  pending = emptyPending();
  if (applied === null) return;
  if (receiving) view.conn = "live";
  if (applied.keysChanged) view.keysVersion += 1;
  notify();
  measureChanges(applied.changedSessions);
}

function requestApply(): void {
  if (frameRequested) return;
  frameRequested = true;
  requestAnimationFrame(applyFrame);
}

function setConn(conn: ConnState): void {
  if (view.conn === conn) return;
  view.conn = conn;
  notify();
}

function setAuth(next: AuthState): void {
  auth = next;
  for (const fn of [...authListeners]) fn();
  notify();
}

/** The last revision received (applied or waiting for the next frame): what a reconnect's `hello` says. */
function receivedRev(): ViewRevision | null {
  return pending.rev ?? view.rev;
}

function connect(): void {
  if (socket !== null) return;
  socket = openLiveSocket({
    since: receivedRev,
    onFrame(msg) {
      receiving = true;
      if (!mergeFrame(pending, msg, receivedRev())) {
        // A gap between what we hold and what the batch starts after: start over from a snapshot.
        pending = emptyPending();
        view.rev = null;
        socket?.restart();
        return;
      }
      requestApply();
    },
    onNotice(notice) {
      view.notices = [notice, ...view.notices].slice(0, MAX_NOTICES);
      notify();
    },
    onClaws(claws) {
      view.claws = claws.configured
        ? {
            result: claws,
            bySession: new Map(claws.sessions.map((s) => [s.sessionId, s])),
            receivedAtMs: Date.now(),
          }
        : null;
      notify();
    },
    onDown() {
      receiving = false;
      setConn(view.rev === null && view.sessions.size === 0 ? "connecting" : "reconnecting");
    },
    onSignedOut(reason) {
      signedOut(reason);
    },
  });
}

function disconnect(): void {
  receiving = false;
  socket?.stop();
  socket = null;
}

function signedOut(reason: string | null): void {
  setSessionKey(null);
  disconnect();
  pending = emptyPending();
  view.sessions = new Map();
  view.hosts = new Map();
  view.rev = null;
  view.claws = null;
  // Notices are the signed-in operator's news: the next one to sign in on this tab starts without them.
  view.notices = [];
  view.keysVersion += 1;
  view.conn = "connecting";
  setAuth({ state: "signedOut", reason });
}

onUnauthenticated(() => {
  if (auth.state === "signedIn") signedOut("Your session ended: sign in again.");
});

/** Asks `/api/me`; signed in -> opens the live socket; 401 -> the sign-in screen. Call once at start. */
export async function startSession(): Promise<void> {
  const me = await apiGet<Me>("/api/me");
  if (me.ok) {
    setAuth({ state: "signedIn", me: me.data });
    connect();
  } else if (auth.state !== "signedOut") {
    setAuth({ state: "signedOut", reason: me.status === 401 ? null : me.message });
  }
}

/** Signs in with an operator token; on success opens the live socket. Answers the failure's message, else null. */
export async function signIn(token: string): Promise<string | null> {
  const res = await apiPost<SignInReply>("/api/signin", { token });
  if (!res.ok) return res.status === 401 ? `Sign-in refused: ${res.message}` : res.message;
  const { key, ...me } = res.data;
  setSessionKey(key);
  setAuth({ state: "signedIn", me });
  connect();
  return null;
}

/** Signs out (the server clears the cookie), closes the socket and forgets the fleet. */
export async function signOut(): Promise<void> {
  await apiPost<unknown>("/api/signout", {});
  signedOut(null);
}

/**
 * Re-renders the component when `to` is notified. It subscribes in an effect, which runs after the render (after
 * the paint, later still on a busy machine): a change notified in between is caught by comparing `current()` with
 * what the render saw, else the component would show the older state until some later change. (The session view
 * missed an escalation that way, opened just as its frame was applied.)
 */
function useSubscription(to: Set<() => void>, current: () => unknown): void {
  const [, setTick] = useState(0);
  const seen = current();
  useEffect(() => {
    const fn = () => setTick((n) => n + 1);
    to.add(fn);
    if (!Object.is(current(), seen)) fn();
    return () => {
      to.delete(fn);
    };
  }, [to]);
}

/** The live fleet; the component re-renders once per applied frame (and on connection changes). */
export function useLive(): LiveView {
  useSubscription(listeners, () => view.version);
  return { ...view };
}

/** Sign-in state (re-renders when it changes, not on every frame). */
export function useAuth(): AuthState {
  useSubscription(authListeners, () => auth);
  return auth;
}

/** The signed-in operator, or null (re-renders when it changes, not on every frame). */
export function useMe(): Me | null {
  useSubscription(authListeners, () => auth);
  return auth.state === "signedIn" ? auth.me : null;
}

let sortedKeys: { keysVersion: number; keys: string[] } | null = null;

/** Every session key in code-unit order (so grouped by host), kept until a key comes or goes. */
export function sortedSessionKeys(): readonly string[] {
  if (sortedKeys === null || sortedKeys.keysVersion !== view.keysVersion) {
    sortedKeys = { keysVersion: view.keysVersion, keys: [...view.sessions.keys()].sort() };
  }
  return sortedKeys.keys;
}

/** The store's current view without subscribing (for event handlers). */
export function liveNow(): LiveView {
  return view;
}

declare global {
  interface Window {
    /** The applied view, canonical and JSON-able: for tests comparing a reconnected page with a fresh one. */
    __clawView?: () => { rev: ViewRevision | null; sessions: [string, number][]; hosts: [string, number][] };
  }
}

const byKey = (a: [string, number], b: [string, number]): number => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);

if (typeof window !== "undefined") {
  window.__clawView = () => ({
    rev: view.rev === null ? null : { sessions: view.rev.sessions, hosts: view.rev.hosts },
    sessions: [...view.sessions.values()].map((r): [string, number] => [r.key, r.revision]).sort(byKey),
    hosts: [...view.hosts.values()].map((r): [string, number] => [r.key, r.revision]).sort(byKey),
  });
}
