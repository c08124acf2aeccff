/**
 * Raw TCP clients a server should cut off: one that opens an HTTP request and never finishes its headers (the
 * request line, then one more header line every `everyMs`), and one that connects and sends nothing. Both read
 * what the server says, so they see its close (a paused socket would never report it).
 */
import { connect } from "node:net";

/** What became of a held client: how long the server kept it, and what it said before closing. */
export interface HeldClientResult {
  heldMs: number;
  reply: string;
}

/** Connects to `host:port` and trickles an unfinished request; resolves when the server closes the socket. */
export function slowHeaderClient(
  host: string,
  port: number,
  everyMs = 200,
  giveUpMs = 60_000,
): Promise<HeldClientResult> {
  return heldClient(host, port, everyMs, giveUpMs);
}

/** Connects to `host:port` and sends nothing; resolves when the server closes the socket. */
export function silentClient(host: string, port: number, giveUpMs = 60_000): Promise<HeldClientResult> {
  return heldClient(host, port, undefined, giveUpMs);
}

function heldClient(
  host: string,
  port: number,
  everyMs: number | undefined,
  giveUpMs: number,
): Promise<HeldClientResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket = connect({ host, port });
    let reply = "";
    let lines = 0;
    let trickle: NodeJS.Timeout | undefined;
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the server still held the client after ${giveUpMs} ms`));
    }, giveUpMs);
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => void (reply += chunk));
    // Writing after the server closed gives EPIPE/ECONNRESET: that is the close we wait for.
    socket.on("error", () => undefined);
    socket.on("connect", () => {
      if (everyMs === undefined) return;
      socket.write(`GET / HTTP/1.1\r\nHost: ${host}:${port}\r\n`);
      trickle = setInterval(() => {
        if (!socket.destroyed) socket.write(`X-Slow-${lines++}: still sending\r\n`);
      }, everyMs);
    });
    socket.on("close", () => {
      clearInterval(trickle);
      clearTimeout(giveUp);
      resolve({ heldMs: Date.now() - started, reply });
    });
  });
}
