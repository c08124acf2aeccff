/**
 * Frames a `ws` WebSocket sends in one burst leave in one socket write. `ws` hands each frame to its TCP socket
 * with a write of its own, and Node passes a write to the kernel at once when none is queued, so a burst of n
 * events cost n write syscalls. `coalesceWrites` corks the socket at the first send of
 * a burst and uncorks it in a `process.nextTick` callback. Node runs that once the code running now returns
 * (an I/O or timer callback), or, when the first send is made in a promise continuation, once every
 * continuation queued meanwhile has run too. Everything sent in that span goes out in one `writev`. A lone event
 * waits for no timer, only for the code already running to finish.
 *
 * The socket is `ws`'s own (`_socket`, set once the connection is open; there is no public handle). Without it
 * (not open, or a `ws` that no longer has the field) frames are sent as before, one write each.
 */
import { Socket } from "node:net";
import type WebSocket from "ws";

const corked = new WeakSet<Socket>();

/** Holds `ws`'s socket writes until the next tick, when not held already (call before each send of a burst). */
export function coalesceWrites(ws: WebSocket): void {
  const socket = (ws as unknown as { _socket?: unknown })._socket;
  if (!(socket instanceof Socket) || corked.has(socket)) return;
  corked.add(socket);
  socket.cork();
  process.nextTick(() => {
    corked.delete(socket);
    socket.uncork();
  });
}
