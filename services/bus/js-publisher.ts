/**
 * Pipelined JetStream publishing for the hot paths (the gateway's session events, the registry's FLEET
 * notices and KV writes): every publish is a core NATS publish whose reply subject is `<inbox>.<n>` under one
 * wildcard subscription, its PubAck matched by `n`, and one timer sweeps the deadlines of all of them.
 *
 * Why not `js.publish` from @nats-io/jetstream: in nats.js 3.4 each publish is a request that creates its own
 * timer and, on success as well as failure, an Error object with a captured stack trace (RequestOne.cancel).
 * At ingest rates that was, with the garbage it makes, about a quarter of the registry's CPU (bench/ingest).
 * The connection, reconnects, subjects, headers and PubAck format are still nats.js's and nats-server's; this
 * only replaces the per-request bookkeeping. Errors are BusErrors that name the publish.
 */
import type { JetStreamClient } from "@nats-io/jetstream";
import {
  createInbox,
  headers as natsHeaders,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";
import { BusError, JsErrCode } from "./errors.js";

/** What JetStream answered: where the message is stored, and whether it was a duplicate of a message id. */
export interface PublishAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

/** Per-publish options: the `Nats-Msg-Id` for deduplication, and a compare-and-set on the subject's last sequence. */
export interface PublishOptions {
  msgId?: string;
  /** `Nats-Expected-Last-Subject-Sequence`: store only if the subject's last message has this sequence (0: none). */
  expectLastSubjectSequence?: number;
}

interface Pending {
  subject: string;
  deadline: number;
  resolve(ack: PublishAck): void;
  reject(err: BusError): void;
}

const DEFAULT_TIMEOUT_MS = 5_000;
const utf8 = new TextDecoder();

const ACK_HEAD = Buffer.from('{"stream":"');
const ACK_SEQ = Buffer.from('","seq":');
const ACK_DUPLICATE = Buffer.from(',"duplicate":true}');

// Stream names read from PubAcks: a publisher writes to a few streams, so each name is made once, not per ack.
const streamNames: { bytes: Uint8Array; name: string }[] = [];

/** The ASCII text of `data[from, to)`, made once per distinct name (up to 16 kept). */
function streamName(data: Uint8Array, from: number, to: number): string {
  const length = to - from;
  for (const known of streamNames) {
    if (known.bytes.length !== length) continue;
    let j = 0;
    while (j < length && known.bytes[j] === data[from + j]) j++;
    if (j === length) return known.name;
  }
  const name = String.fromCharCode(...data.subarray(from, to));
  if (streamNames.length < 16) streamNames.push({ bytes: data.slice(from, to), name });
  return name;
}

/**
 * The PubAck nats-server sends for a stored message, read without JSON.parse when it has exactly the usual form
 * `{"stream":"<ascii name>","seq":<digits>}`, optionally with `,"duplicate":true` before the brace; undefined for
 * anything else (an error, a domain, another layout), which the caller parses as JSON. Pure.
 */
export function plainPubAck(data: Uint8Array): PublishAck | undefined {
  const n = data.length;
  if (n < ACK_HEAD.length + ACK_SEQ.length + 2) return undefined;
  for (let i = 0; i < ACK_HEAD.length; i++) if (data[i] !== ACK_HEAD[i]) return undefined;
  let i = ACK_HEAD.length;
  for (; i < n && data[i] !== 0x22; i++) {
    const c = data[i] as number;
    if (c < 0x20 || c >= 0x7f || c === 0x5c) return undefined; // non-ASCII or an escape: leave it to JSON.parse
  }
  if (i === ACK_HEAD.length || i === n) return undefined;
  const stream = streamName(data, ACK_HEAD.length, i);
  for (let j = 0; j < ACK_SEQ.length; j++, i++) if (data[i] !== ACK_SEQ[j]) return undefined;
  let seq = 0;
  const digitsFrom = i;
  for (; i < n && (data[i] as number) >= 0x30 && (data[i] as number) <= 0x39; i++)
    seq = seq * 10 + (data[i] as number) - 0x30;
  if (i === digitsFrom || i - digitsFrom > 15 || (data[digitsFrom] === 0x30 && i - digitsFrom > 1)) return undefined;
  if (i === n - 1 && data[i] === 0x7d) return { stream, seq, duplicate: false };
  if (n - i !== ACK_DUPLICATE.length) return undefined;
  for (let j = 0; j < ACK_DUPLICATE.length; j++, i++) if (data[i] !== ACK_DUPLICATE[j]) return undefined;
  return { stream, seq, duplicate: true };
}

/**
 * A header block as nats.js writes it: its publish asks headers for nothing but `encode()` (nats-core 3.4,
 * `ProtocolHandler.publish`), so the block is made once as text and encoded with Node's pooled buffers.
 */
class EncodedHeaders {
  constructor(private readonly bytes: Uint8Array) {}
  encode(): Uint8Array {
    return this.bytes;
  }
}

/** True for a header value nats.js would write as it is (its `set` trims values and refuses CR and LF). */
const plainHeaderValue = (v: string): boolean => !/[\r\n]/.test(v) && v.trim() === v;

/**
 * The headers of a publish, or undefined for none. Pure. A plain `Nats-Msg-Id` and expected sequence are written as
 * the same text nats.js's `headers()` encodes (`NATS/1.0\r\n`, a `Key: value\r\n` line each in this order, then
 * `\r\n`) without its header map, key canonicalisation and lookups per publish; any other value goes through
 * `headers()` as before (which trims it, or throws for CR/LF).
 */
export function publishHeaders(opts: PublishOptions): MsgHdrs | undefined {
  const { msgId, expectLastSubjectSequence: expected } = opts;
  if (msgId === undefined && expected === undefined) return undefined;
  if (msgId === undefined || plainHeaderValue(msgId)) {
    let text = "NATS/1.0\r\n";
    if (msgId !== undefined) text += `Nats-Msg-Id: ${msgId}\r\n`;
    if (expected !== undefined) text += `Nats-Expected-Last-Subject-Sequence: ${String(expected)}\r\n`;
    return new EncodedHeaders(Buffer.from(`${text}\r\n`)) as unknown as MsgHdrs;
  }
  const h = natsHeaders();
  h.set("Nats-Msg-Id", msgId);
  if (expected !== undefined) h.set("Nats-Expected-Last-Subject-Sequence", String(expected));
  return h;
}

/** One shared reply subscription for many JetStream publishes on `nc`. `close()` fails what is still pending. */
export class JetStreamPublisher {
  private readonly inbox: string;
  private readonly sub: Subscription;
  private readonly pending = new Map<number, Pending>();
  private next = 0;
  private sweeper: NodeJS.Timeout | undefined;
  private closedReason: string | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs = DEFAULT_TIMEOUT_MS,
  ) {
    this.inbox = createInbox();
    this.sub = nc.subscribe(`${this.inbox}.*`, {
      callback: (err, msg) => (err ? this.failAll(`reply subscription failed: ${err.message}`) : this.settle(msg)),
    });
    void nc.closed().then(() => this.close("the NATS connection closed"));
  }

  /** Number of publishes waiting for their ack. */
  get inFlight(): number {
    return this.pending.size;
  }

  /** Publishes `data` to `subject` and resolves with JetStream's ack; rejects with a BusError on refusal, timeout or close. */
  publish(subject: string, data: string | Uint8Array, opts: PublishOptions = {}): Promise<PublishAck> {
    if (this.closedReason !== undefined)
      return Promise.reject(new BusError("connect_failed", `publish to ${subject}: ${this.closedReason}`));
    const id = ++this.next;
    const h = publishHeaders(opts);
    return new Promise<PublishAck>((resolve, reject) => {
      try {
        // Buffer.from takes a small string's bytes from Node's shared pool; nats.js would encode it with a
        // TextEncoder, which allocates an ArrayBuffer for every publish (garbage at ingest rates).
        const payload = typeof data === "string" ? Buffer.from(data) : data;
        const reply = `${this.inbox}.${id}`;
        this.nc.publish(subject, payload, h ? { reply, headers: h } : { reply });
      } catch (err) {
        reject(
          new BusError("connect_failed", `publish to ${subject}: ${err instanceof Error ? err.message : String(err)}`, {
            retryable: true,
            cause: err,
          }),
        );
        return;
      }
      this.pending.set(id, { subject, deadline: Date.now() + this.timeoutMs, resolve, reject });
      this.sweeper ??= setInterval(() => this.expire(), Math.max(50, this.timeoutMs / 4)).unref();
    });
  }

  /** Stops listening for acks; every pending publish fails with `reason`. */
  close(reason = "the publisher was closed"): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    if (!this.nc.isClosed()) this.sub.unsubscribe();
    this.failAll(reason);
  }

  private settle(msg: Msg): void {
    const id = Number(msg.subject.slice(this.inbox.length + 1));
    const p = this.pending.get(id);
    if (!p) return; // already timed out
    this.pending.delete(id);
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      p.reject(
        new BusError(
          "jetstream_unavailable",
          `publish to ${p.subject}: no stream takes this subject, or JetStream is not enabled`,
          { retryable: true },
        ),
      );
      return;
    }
    const plain = plainPubAck(msg.data);
    if (plain !== undefined) {
      p.resolve(plain);
      return;
    }
    let ack: {
      stream?: unknown;
      seq?: unknown;
      duplicate?: unknown;
      error?: { err_code?: unknown; description?: unknown };
    };
    try {
      ack = JSON.parse(utf8.decode(msg.data));
    } catch {
      p.reject(new BusError("jetstream_api", `publish to ${p.subject}: unreadable ack`));
      return;
    }
    if (ack.error) {
      const apiErrCode = typeof ack.error.err_code === "number" ? ack.error.err_code : undefined;
      const unavailable =
        apiErrCode === JsErrCode.NotEnabled ||
        apiErrCode === JsErrCode.NotEnabledForAccount ||
        apiErrCode === JsErrCode.ClusterNotAvailable;
      p.reject(
        new BusError(
          unavailable ? "jetstream_unavailable" : "jetstream_api",
          `publish to ${p.subject}: ${String(ack.error.description ?? "refused")}`,
          {
            ...(apiErrCode === undefined ? {} : { apiErrCode }),
            retryable: unavailable,
          },
        ),
      );
      return;
    }
    if (typeof ack.stream !== "string" || typeof ack.seq !== "number") {
      p.reject(new BusError("jetstream_api", `publish to ${p.subject}: invalid ack`));
      return;
    }
    p.resolve({ stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate === true });
  }

  /** Fails every publish past its deadline; ids grow with time, so the oldest come first. */
  private expire(): void {
    const now = Date.now();
    for (const [id, p] of this.pending) {
      if (p.deadline > now) break;
      this.pending.delete(id);
      p.reject(
        new BusError("timeout", `publish to ${p.subject}: no ack within ${this.timeoutMs} ms`, { retryable: true }),
      );
    }
    if (this.pending.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private failAll(reason: string): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.reject(new BusError("connect_failed", `publish to ${p.subject}: ${reason}`, { retryable: true }));
    }
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }
}

/** Where a deduplicated publish can go: the pipelined publisher (hot paths) or nats.js's JetStream client. */
export type JetStreamPublishTarget = JetStreamPublisher | JetStreamClient;

/**
 * Publishes `data` to `subject` with `Nats-Msg-Id` = `msgId` (a repeat within the stream's duplicate window
 * is acked as `duplicate` and not stored again). Errors are thrown as the target throws them (see `toBusError`).
 */
export function publishDeduplicated(
  target: JetStreamPublishTarget,
  subject: string,
  data: string,
  msgId: string,
): Promise<PublishAck> {
  return target instanceof JetStreamPublisher
    ? target.publish(subject, data, { msgId })
    : target.publish(subject, data, { msgID: msgId });
}
