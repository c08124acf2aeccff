/**
 * Core NATS request/reply for the command path: `busRequest(nc, subject, data, { timeout })` behaves like
 * `nc.request` (it resolves with the reply, and fails with nats.js's own `NoRespondersError` or `TimeoutError`,
 * so callers' checks stay as they are), over one wildcard reply subscription per connection.
 *
 * Why not `nc.request`: in nats.js 3.4 every request, answered or not, ends in `RequestOne.cancel`, which
 * builds a `RequestError("cancelled")` with a captured stack trace only to reject an already settled promise.
 * A command crosses two or three requests (caller → policy, policy → gateway, look-ups), and on a loaded
 * event loop that stack capture was a visible share of what the supervisor adds to a command (bench/control).
 * Errors here are built only when a request fails.
 */
import {
  createInbox,
  NoRespondersError,
  TimeoutError,
  type Msg,
  type NatsConnection,
  type Payload,
  type Subscription,
} from "@nats-io/transport-node";

interface Pending {
  subject: string;
  timer: NodeJS.Timeout;
  resolve(msg: Msg): void;
  reject(err: Error): void;
}

/** One connection's reply subscription and the requests waiting on it. */
class Requester {
  private readonly inbox = createInbox();
  private readonly pending = new Map<number, Pending>();
  private readonly sub: Subscription;
  private next = 0;
  private closed: Error | undefined;

  constructor(private readonly nc: NatsConnection) {
    this.sub = nc.subscribe(`${this.inbox}.*`, {
      callback: (err, msg) => (err ? this.failAll(err) : this.settle(msg)),
    });
    void nc.closed().then(() => this.failAll(new Error("the NATS connection closed")));
  }

  request(subject: string, data: Payload, timeoutMs: number): Promise<Msg> {
    if (this.closed) return Promise.reject(this.closed);
    const id = ++this.next;
    return new Promise<Msg>((resolve, reject) => {
      try {
        this.nc.publish(subject, data, { reply: `${this.inbox}.${id}` });
      } catch (err) {
        reject(err as Error);
        return;
      }
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) reject(new TimeoutError());
      }, timeoutMs);
      this.pending.set(id, { subject, timer, resolve, reject });
    });
  }

  private settle(msg: Msg): void {
    const id = Number(msg.subject.slice(this.inbox.length + 1));
    const p = this.pending.get(id);
    if (!p) return; // timed out already
    this.pending.delete(id);
    clearTimeout(p.timer);
    // nats-server answers a request nobody subscribes to with an empty 503 status message.
    if (msg.data.length === 0 && msg.headers?.code === 503) p.reject(new NoRespondersError(p.subject));
    else p.resolve(msg);
  }

  private failAll(err: Error): void {
    this.closed ??= err;
    if (!this.nc.isClosed()) this.sub.unsubscribe();
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(err);
    }
  }
}

const requesters = new WeakMap<NatsConnection, Requester>();

/** `nc.request(subject, data, { timeout })` without nats.js's per-request stack capture; see the module comment. */
export function busRequest(
  nc: NatsConnection,
  subject: string,
  data: Payload,
  opts: { timeout: number },
): Promise<Msg> {
  let r = requesters.get(nc);
  if (!r) {
    r = new Requester(nc);
    requesters.set(nc, r);
  }
  return r.request(subject, data, opts.timeout);
}
