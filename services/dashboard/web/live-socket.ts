/**
 * The one WebSocket per tab (`/ws`): says `hello` with the session's key and the last revision the page received, hands on each checked
 * frame, answers `ping` with `pong`, counts a connection that was silent for 2.5 heartbeats as dead, and reconnects
 * with backoff (250 ms doubling to 5 s) resending the revision, until stopped or signed out (close 4401 or a `bye`
 * saying unauthenticated/revoked). A connection refused before it opened asks `/api/me` before the next try, so an
 * expired session shows the sign-in screen instead of retrying forever.
 */
import type { ClawsResult } from "../../../schemas/claw-groups.js";
import { type NoticeRow, ServerMessage, type ViewRevision, WS_CLOSE } from "../../../schemas/dashboard.js";
import { apiGet, sessionKey } from "./api.js";
import type { DataFrame } from "./live-merge.js";

/** What the socket tells its owner. */
export interface LiveSocketHandlers {
  /** The revision to say in `hello` (the last received), asked at each (re)connect. */
  since(): ViewRevision | null;
  onFrame(msg: DataFrame): void;
  onNotice(notice: NoticeRow): void;
  /** Who owns which session (Claw groups), each time it changed. */
  onClaws(claws: ClawsResult): void;
  /** The connection dropped; a reconnect is scheduled. */
  onDown(): void;
  /** The server ended the session: stop and show sign-in. */
  onSignedOut(reason: string): void;
}

/** A running live socket. */
export interface LiveSocket {
  /** Closes for good. */
  stop(): void;
  /** Drops the connection and reconnects at once (asking `since()` again). */
  restart(): void;
}

const MIN_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5_000;
const DEFAULT_HEARTBEAT_MS = 15_000;
const SIGNED_OUT_CODES = new Set(["unauthenticated", "revoked"]);

/** Opens the live socket to this page's own origin. */
export function openLiveSocket(h: LiveSocketHandlers): LiveSocket {
  const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/ws`;
  let ws: WebSocket | null = null;
  let stopped = false;
  let opened = false;
  let attempt = 0;
  let heartbeatMs = DEFAULT_HEARTBEAT_MS;
  let lastHeardAt = 0;
  let bye: { code: string; message: string } | null = null;
  let deadTimer: ReturnType<typeof setTimeout> | undefined;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;

  const send = (msg: unknown): void => {
    if (ws !== null && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
  };

  const armDead = (): void => {
    clearTimeout(deadTimer);
    const deadAfter = heartbeatMs * 2.5;
    deadTimer = setTimeout(
      () => {
        if (Date.now() - lastHeardAt >= deadAfter) drop(null);
        else armDead();
      },
      Math.max(50, lastHeardAt + deadAfter - Date.now()),
    );
  };

  const onMessage = (ev: MessageEvent): void => {
    lastHeardAt = Date.now();
    let parsed: ReturnType<typeof ServerMessage.safeParse>;
    try {
      parsed = ServerMessage.safeParse(JSON.parse(String(ev.data)));
    } catch (err) {
      console.error(`dashboard: the server sent a frame that is not JSON (${String(err)}); reconnecting`);
      return drop(null, 0);
    }
    if (!parsed.success) {
      console.error(`dashboard: the server sent a frame outside the protocol: ${parsed.error.message}; reconnecting`);
      return drop(null, 0);
    }
    const msg = parsed.data;
    switch (msg.type) {
      case "ping":
        return send({ type: "pong", t: msg.t });
      case "notice":
        return h.onNotice(msg.notice);
      case "claws":
        return h.onClaws(msg.claws);
      case "bye":
        bye = { code: msg.code, message: msg.message };
        return;
      case "snapshot":
      case "changes":
        if (msg.heartbeatMs !== undefined && msg.heartbeatMs !== heartbeatMs) {
          heartbeatMs = msg.heartbeatMs;
          armDead();
        }
        attempt = 0;
        return h.onFrame(msg);
    }
  };

  const open = (): void => {
    retryTimer = undefined;
    if (stopped) return;
    opened = false;
    bye = null;
    const sock = new WebSocket(url);
    ws = sock;
    sock.onopen = () => {
      opened = true;
      lastHeardAt = Date.now();
      const key = sessionKey();
      send({ type: "hello", since: h.since(), ...(key === null ? {} : { key }) });
      armDead();
    };
    sock.onmessage = onMessage;
    sock.onclose = (ev) => drop(ev.code);
    sock.onerror = () => {
      // a close event follows; handled there
    };
  };

  /** Forgets the current socket (closing it) and schedules the next, unless the session ended. */
  const drop = (closeCode: number | null, delayMs?: number): void => {
    clearTimeout(deadTimer);
    const sock = ws;
    ws = null;
    if (sock !== null) {
      sock.onopen = sock.onmessage = sock.onclose = sock.onerror = null;
      if (sock.readyState === WebSocket.CONNECTING || sock.readyState === WebSocket.OPEN) sock.close();
    }
    if (stopped) return;
    if (closeCode === WS_CLOSE.unauthenticated || (bye !== null && SIGNED_OUT_CODES.has(bye.code))) {
      stopped = true;
      h.onSignedOut(bye?.message ?? "The dashboard ended your session: sign in again.");
      return;
    }
    h.onDown();
    const wait = delayMs ?? Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** attempt);
    attempt += 1;
    const wasOpened = opened;
    clearTimeout(retryTimer);
    retryTimer = setTimeout(() => {
      if (wasOpened) return open();
      // Refused before it opened: a 401 here signs the page out (api.ts tells the store); else try again.
      void apiGet<unknown>("/api/me").then(() => {
        if (!stopped) open();
      });
    }, wait);
  };

  open();
  return {
    stop() {
      stopped = true;
      clearTimeout(retryTimer);
      drop(null);
    },
    restart() {
      drop(null, 0);
    },
  };
}
