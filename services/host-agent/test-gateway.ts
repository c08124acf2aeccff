/**
 * A minimal gateway for the host agent's tests, speaking schemas/gateway.ts on 127.0.0.1: checks the bearer
 * token (401 otherwise), welcomes a hello, records every frame, and acks events at once or on demand.
 * It can drop its connections, stop listening and listen again on the same port. Test support only.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import { AgentFrame, type GatewayFrame } from "../../schemas/gateway.js";

/** Options of the test gateway. */
export interface TestGatewayOptions {
  token: string;
  /** Listen on this port (default: a free one). */
  port?: number;
  /** "auto" acks each event on arrival; "hold" keeps acks until `ackAll()`. Default "auto". */
  ack?: "auto" | "hold";
}

/** A running test gateway. */
export interface TestGateway {
  readonly url: string;
  readonly port: number;
  /** Every valid frame received, in order, across connections. */
  readonly frames: AgentFrame[];
  /** The raw text of every frame received. */
  readonly rawFrames: string[];
  /** Frames that failed AgentFrame validation. */
  readonly invalid: string[];
  /** The Authorization header of every upgrade attempt, and the HTTP status given. */
  readonly upgrades: { authorization: string | undefined; status: number }[];
  /** Events received, in arrival order (replays included). */
  events(): SessionEventEnvelope[];
  /** Events de-duplicated by (epoch, seq), in first-arrival order. */
  uniqueEvents(): SessionEventEnvelope[];
  /** Resolves once `pred` returns something truthy (checked on every frame and every 50 ms). */
  waitFor<T>(pred: () => T | undefined | null | false, timeoutMs?: number, what?: string): Promise<T>;
  setAckMode(mode: "auto" | "hold"): void;
  /** Acks every event received and not yet acked, on the connections still open. */
  ackAll(): void;
  /** Number of open agent connections. */
  openConnections(): number;
  /** Terminates every agent connection (the server keeps listening). */
  dropConnections(): void;
  /** Stops listening and drops every connection; `listen()` starts again on the same port. */
  close(): Promise<void>;
  listen(): Promise<void>;
  setToken(token: string): void;
}

/** Starts a test gateway; see the module comment. */
export async function startTestGateway(options: TestGatewayOptions): Promise<TestGateway> {
  let token = options.token;
  let ackMode = options.ack ?? "auto";
  const frames: AgentFrame[] = [];
  const rawFrames: string[] = [];
  const invalid: string[] = [];
  const upgrades: { authorization: string | undefined; status: number }[] = [];
  const unacked = new Map<WebSocket, { epoch: string; seq: number }[]>();
  const wakers = new Set<() => void>();
  const wss = new WebSocketServer({ noServer: true });
  let server: http.Server | undefined;
  let port = options.port ?? 0;

  const send = (ws: WebSocket, frame: GatewayFrame): void => {
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  };
  wss.on("connection", (ws) => {
    unacked.set(ws, []);
    ws.on("close", () => unacked.delete(ws));
    ws.on("message", (data) => {
      const text = data.toString();
      rawFrames.push(text);
      let parsed: ReturnType<typeof AgentFrame.safeParse> | undefined;
      try {
        parsed = AgentFrame.safeParse(JSON.parse(text));
      } catch {
        parsed = undefined;
      }
      if (!parsed?.success) {
        invalid.push(text);
        send(ws, { type: "reject", epoch: null, seq: null, reason: "invalid frame" });
      } else {
        const frame = parsed.data;
        frames.push(frame);
        if (frame.type === "hello") send(ws, { type: "welcome", hostId: frame.hostId, gatewayId: "test-gateway" });
        if (frame.type === "event") {
          const id = { epoch: frame.event.epoch, seq: frame.event.seq };
          if (ackMode === "auto") send(ws, { type: "ack", ...id, duplicate: false });
          else unacked.get(ws)?.push(id);
        }
      }
      for (const w of wakers) w();
    });
  });

  const onUpgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer): void => {
    const authorization = req.headers.authorization;
    if (authorization !== `Bearer ${token}`) {
      upgrades.push({ authorization, status: 401 });
      socket.end(
        "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
      );
      return;
    }
    upgrades.push({ authorization, status: 101 });
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
  };

  const listen = async (): Promise<void> => {
    server = http.createServer((_req, res) => res.writeHead(404).end());
    server.on("upgrade", onUpgrade);
    await new Promise<void>((resolve, reject) => {
      server!.once("error", reject);
      server!.listen(port, "127.0.0.1", () => resolve());
    });
    port = (server.address() as AddressInfo).port;
  };
  const dropConnections = (): void => {
    for (const ws of wss.clients) ws.terminate();
  };
  await listen();
  const events = (): SessionEventEnvelope[] => frames.flatMap((f) => (f.type === "event" ? [f.event] : []));

  return {
    get url() {
      return `ws://127.0.0.1:${port}/agent`;
    },
    get port() {
      return port;
    },
    frames,
    rawFrames,
    invalid,
    upgrades,
    events,
    uniqueEvents: () => {
      const seen = new Set<string>();
      return events().filter((e) => {
        const key = `${e.epoch}/${e.seq}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
    },
    waitFor: <T>(pred: () => T | undefined | null | false, timeoutMs = 20_000, what = "condition") =>
      new Promise<T>((resolve, reject) => {
        const check = (): void => {
          const value = pred();
          if (!value) return;
          finish();
          resolve(value);
        };
        const timer = setTimeout(() => {
          finish();
          const seen = events()
            .map((e) => `${e.seq}:${e.type}`)
            .join(", ");
          reject(new Error(`test gateway: no ${what} within ${timeoutMs} ms; events: ${seen}`));
        }, timeoutMs);
        const poll = setInterval(check, 50);
        const finish = (): void => {
          clearTimeout(timer);
          clearInterval(poll);
          wakers.delete(check);
        };
        wakers.add(check);
        check();
      }),
    setAckMode: (mode) => void (ackMode = mode),
    ackAll: () => {
      for (const [ws, ids] of unacked) {
        for (const id of ids.splice(0)) send(ws, { type: "ack", ...id, duplicate: false });
      }
    },
    openConnections: () => [...wss.clients].filter((ws) => ws.readyState === WebSocket.OPEN).length,
    dropConnections,
    close: async () => {
      dropConnections();
      const s = server;
      server = undefined;
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    listen,
    setToken: (next) => void (token = next),
  };
}
