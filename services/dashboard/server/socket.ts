/**
 * One page's WebSocket (`/ws`), after its Origin and session were checked at the upgrade: the protocol of
 * schemas/dashboard.ts. The page says `hello` with the session's key (else `bye` unauthenticated and close 4401,
 * before anything is sent) and the revision it last applied; it gets a `snapshot` (first load,
 * or a revision this server cannot answer from) or a `changes` batch with everything written after it; from then
 * on each key's latest row waits in a pending map, flushed as one `changes` frame at most every 16 ms and not while
 * more than 4 MB wait in the socket's buffer (so a slow page gets fewer, larger frames, never a backlog). A `ping`
 * goes out every heartbeat; two pings in a row without a `pong` terminate the socket (at the next heartbeat). The
 * session is checked again every 30 s (a revoked token gets `bye` and close 4401). A frame that is not a
 * ClientMessage gets `bye` and close 4400. Who owns which session (claws-feed.ts) follows the view as `claws`.
 */
import type { Logger } from "pino";
import type { WebSocket } from "ws";
import {
  ClientMessage,
  type HostRow,
  type ServerMessage,
  type SessionRow,
  type ViewRevision,
  WS_CLOSE,
} from "../../../schemas/dashboard.js";
import type { ClawsFeed } from "./claws-feed.js";
import type { FeedChange, LiveFeed } from "./live-feed.js";
import type { NoticeFeed } from "./notices.js";

/** Timing and limits of one socket; defaults as the spec says. */
export interface SocketTuning {
  heartbeatMs: number;
  /** Least time between two `changes` frames. */
  flushMs?: number;
  /** No flush while the socket's send buffer holds more than this. */
  maxBufferedBytes?: number;
  /** How often the session is checked again. */
  recheckMs?: number;
  /** How long the page has to say `hello`. */
  helloTimeoutMs?: number;
}

/** What a re-check of the socket's session found. */
export type SessionCheck = { ok: true } | { ok: false; code: "revoked" | "unauthenticated"; message: string };

/** What one socket needs. */
export interface SocketDeps {
  ws: WebSocket;
  feed: LiveFeed;
  notices: NoticeFeed;
  /** Who owns which session (Claw groups): sent after the view, then as it changes. */
  claws: ClawsFeed;
  /** Checks the socket's session again (revoked, expired); an unknown answer should be `{ ok: true }`. */
  recheck(): Promise<SessionCheck>;
  /** Whether `hello`'s key (undefined when it has none) is the session's. */
  keyMatches(key: string | undefined): boolean;
  log: Logger;
  tuning: SocketTuning;
}

const MAX_FRAME_BYTES = 4_096;

/** Serves one socket until it closes; see the file comment. */
export function serveSocket(d: SocketDeps): void {
  const { ws, feed, notices, claws, log } = d;
  const heartbeatMs = d.tuning.heartbeatMs;
  const flushMs = d.tuning.flushMs ?? 16;
  const maxBuffered = d.tuning.maxBufferedBytes ?? 4 * 1024 * 1024;
  let closed = false;
  let hello = false;
  let sentRev: ViewRevision | null = null;
  const pendingSessions = new Map<string, SessionRow | null>();
  const pendingHosts = new Map<string, HostRow | null>();
  let flushTimer: NodeJS.Timeout | undefined;
  let lastFlushAt = 0;
  /** Pings sent and not answered since the last pong. */
  let unanswered = 0;
  const unsubscribe: (() => void)[] = [];

  const send = (msg: ServerMessage): void => {
    if (!closed && ws.readyState === ws.OPEN) ws.send(JSON.stringify(msg));
  };
  const finish = (): void => {
    if (closed) return;
    closed = true;
    clearTimeout(flushTimer);
    clearTimeout(helloTimer);
    clearInterval(heartbeat);
    clearInterval(recheck);
    for (const u of unsubscribe.splice(0)) u();
  };
  const bye = (code: string, message: string, closeCode: number): void => {
    send({ type: "bye", code, message });
    finish();
    ws.close(closeCode, code);
  };

  const flush = (): void => {
    flushTimer = undefined;
    if (closed || sentRev === null || (pendingSessions.size === 0 && pendingHosts.size === 0)) return;
    if (ws.bufferedAmount > maxBuffered) {
      flushTimer = setTimeout(flush, flushMs);
      return;
    }
    const msg: ServerMessage = {
      type: "changes",
      from: sentRev,
      rev: feed.revision(),
      sessions: [],
      removedSessions: [],
      hosts: [],
      removedHosts: [],
    };
    for (const [key, row] of pendingSessions) row ? msg.sessions.push(row) : msg.removedSessions.push(key);
    for (const [key, row] of pendingHosts) row ? msg.hosts.push(row) : msg.removedHosts.push(key);
    pendingSessions.clear();
    pendingHosts.clear();
    sentRev = msg.rev;
    lastFlushAt = Date.now();
    send(msg);
  };
  const onChange = (c: FeedChange): void => {
    if (c.bucket === "sessions") pendingSessions.set(c.key, c.row);
    else pendingHosts.set(c.key, c.row);
    if (flushTimer === undefined) flushTimer = setTimeout(flush, Math.max(0, lastFlushAt + flushMs - Date.now()));
  };

  /** Answers `hello` and starts the live changes, in one synchronous step so no change falls between. */
  const start = (since: ViewRevision | null): void => {
    const delta = since === null ? null : feed.changesSince(since);
    if (since === null || delta === null) {
      const snap = feed.snapshot();
      send({ type: "snapshot", rev: snap.rev, sessions: snap.sessions, hosts: snap.hosts, heartbeatMs });
      sentRev = snap.rev;
    } else {
      const rev = feed.revision();
      send({ type: "changes", from: since, rev, ...delta, heartbeatMs });
      sentRev = rev;
    }
    lastFlushAt = Date.now();
    unsubscribe.push(feed.subscribe(onChange));
    // Notices are news, not the view: a reader that has fallen behind misses them rather than growing our memory.
    unsubscribe.push(
      notices.subscribe((notice) => {
        if (ws.bufferedAmount <= maxBuffered) send({ type: "notice", notice });
      }),
    );
    // Ownership is state, not news: sent whatever the buffer (it changes seldom, and only its latest counts).
    const known = claws.current();
    if (known !== null) send({ type: "claws", claws: known });
    unsubscribe.push(claws.subscribe((result) => send({ type: "claws", claws: result })));
  };

  ws.on("message", (data, isBinary) => {
    if (closed) return;
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    let msg: ClientMessage | null = null;
    if (!isBinary && bytes.length <= MAX_FRAME_BYTES) {
      try {
        const parsed = ClientMessage.safeParse(JSON.parse(bytes.toString("utf8")));
        if (parsed.success) msg = parsed.data;
      } catch {
        // not JSON: refused below
      }
    }
    if (msg === null || (msg.type === "hello" && hello)) {
      log.info({ bytes: bytes.length }, "dashboard socket sent a bad frame; closing it");
      return bye(
        "bad_message",
        msg === null ? "not a message of the dashboard protocol" : "hello was already said",
        WS_CLOSE.badMessage,
      );
    }
    if (msg.type === "pong") {
      unanswered = 0;
      return;
    }
    hello = true;
    clearTimeout(helloTimer);
    if (!d.keyMatches(msg.key)) {
      log.info("dashboard socket's hello did not carry the session's key; closing it");
      return bye(
        "unauthenticated",
        "the hello did not carry the session's key: sign in again",
        WS_CLOSE.unauthenticated,
      );
    }
    start(msg.since);
  });
  ws.on("close", finish);
  ws.on("error", (err) => {
    log.info({ err: err.message }, "dashboard socket error");
    finish();
  });

  const helloTimer = setTimeout(
    () => bye("bad_message", "no hello in time", WS_CLOSE.badMessage),
    d.tuning.helloTimeoutMs ?? 10_000,
  );
  const heartbeat = setInterval(() => {
    if (unanswered >= 2) {
      log.info("dashboard socket missed two heartbeats; terminating it");
      finish();
      ws.terminate();
      return;
    }
    unanswered++;
    send({ type: "ping", t: Date.now() });
  }, heartbeatMs);
  let checking = false;
  const recheck = setInterval(() => {
    if (checking) return;
    checking = true;
    d.recheck()
      .then((r) => {
        if (!r.ok) bye(r.code, r.message, WS_CLOSE.unauthenticated);
      })
      .catch((err: Error) => log.warn({ err: err.message }, "dashboard socket session re-check failed"))
      .finally(() => {
        checking = false;
      });
  }, d.tuning.recheckMs ?? 30_000);
}

/** Says `bye` with `shutting_down` and closes (4503): when the server stops. */
export function sayShuttingDown(ws: WebSocket): void {
  if (ws.readyState !== ws.OPEN) return;
  const msg: ServerMessage = { type: "bye", code: "shutting_down", message: "the dashboard server is stopping" };
  ws.send(JSON.stringify(msg));
  ws.close(WS_CLOSE.shuttingDown, "shutting_down");
}
