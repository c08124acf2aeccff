/**
 * Is a TCP port free on 127.0.0.1, and if not, who holds it: so `up` can say "port 34157 is taken by pid 812
 * (python3 -m http.server 34157)" instead of starting a nats-server that exits with "address already in use".
 * The owner comes from /proc (Linux): the listening socket's inode in /proc/net/tcp{,6}, then the process whose
 * fd points at that socket. Another user's process shows only its uid (its fds are not ours to read).
 */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { createServer } from "node:net";

/** Who listens on a port, as far as /proc tells. */
export interface PortOwner {
  /** The socket owner's uid (from /proc/net/tcp). */
  uid: number;
  /** The process holding the socket, when its fds are readable (our own processes, or any as root). */
  pid?: number;
  /** Its command line, shortened. */
  command?: string;
}

/** True when a listener could bind `host:port` right now (the way nats-server will: address reuse on). */
export function portIsFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** One LISTEN socket from /proc/net/tcp or tcp6. */
export interface ListeningSocket {
  port: number;
  uid: number;
  inode: number;
}

/**
 * The listening sockets in the text of /proc/net/tcp or /proc/net/tcp6 (state 0A). Pure.
 * A line is `sl local_address rem_address st ... uid timeout inode ...`, the port in hex after the colon.
 */
export function parseProcNetTcp(text: string): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== "0A") continue;
    const port = Number.parseInt(f[1]?.split(":")[1] ?? "", 16);
    const uid = Number(f[7]);
    const inode = Number(f[9]);
    if (Number.isInteger(port) && Number.isInteger(uid) && Number.isInteger(inode)) out.push({ port, uid, inode });
  }
  return out;
}

const readOr = (file: string): string => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return "";
  }
};

function commandOf(pid: number): string | undefined {
  const argv = readOr(`/proc/${pid}/cmdline`).split("\0").filter(Boolean);
  if (argv.length === 0) return readOr(`/proc/${pid}/comm`).trim() || undefined;
  const text = argv.join(" ");
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

function pidHolding(inode: number): number | undefined {
  const target = `socket:[${inode}]`;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${entry}/fd/${fd}`) === target) return Number(entry);
      } catch {
        // Closed meanwhile.
      }
    }
  }
  return undefined;
}

/** Who listens on TCP `port` (any address), or undefined when /proc names nobody (or there is no /proc). */
export function portOwner(port: number): PortOwner | undefined {
  const sockets = [...parseProcNetTcp(readOr("/proc/net/tcp")), ...parseProcNetTcp(readOr("/proc/net/tcp6"))];
  const socket = sockets.find((s) => s.port === port);
  if (!socket) return undefined;
  const pid = pidHolding(socket.inode);
  if (pid === undefined) return { uid: socket.uid };
  const command = commandOf(pid);
  return { uid: socket.uid, pid, ...(command === undefined ? {} : { command }) };
}

/** "pid 812 (python3 -m http.server)", or "a process of uid 1000", or "another process". Pure. */
export function describePortOwner(owner: PortOwner | undefined): string {
  if (!owner) return "another process";
  if (owner.pid === undefined) return `a process of uid ${owner.uid}`;
  return `pid ${owner.pid}${owner.command ? ` (${owner.command})` : ""}`;
}
