/**
 * The host agent's outbound WebSocket to the rpc-gateway (schemas/gateway.ts): bearer host token, `hello` →
 * `welcome`, heartbeats, and events that stay in the EventBuffer until acked or rejected. While disconnected
 * events accumulate in that bounded buffer; after each welcome it replays every un-acked event in order, then
 * calls `onWelcome` (the agent re-syncs its threads). Events sent before without an ack are named in the
 * hello (`unacked`); those the welcome says are stored already are dropped as acked, not replayed, so acks lost
 * for longer than CODEX_EVENTS' duplicate window do not make the gateway store them twice. Reconnects forever with back-off, each attempt to the
 * next of its gateway URLs (failover across gateway instances); a 401/403 is logged as a token problem and
 * retried slowly, since the token may be fixed on the gateway's side.
 *
 * One host id, one live agent: a gateway that closes the connection with 4409 (HOST_CLAIMED_CLOSE_CODE) says
 * a different agent run holds this host id now. The client logs who, stops reconnecting (no fight over the
 * host) and calls `onDisplaced`. Every `rpc` frame carries the gateway's host lease epoch; a frame below the
 * epoch of the latest welcome (a deposed gateway's) is refused, typed, and nothing runs.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import WebSocket from "ws";
import {
  DEFAULT_GATEWAY_MAX_FRAME_BYTES,
  GatewayFrame,
  HOST_CLAIMED_CLOSE_CODE,
  MAX_HELLO_AGENT_VERSION,
  MAX_HELLO_HOSTNAME,
  type AgentFrame,
} from "../../schemas/gateway.js";
import type { SessionEventEnvelope } from "../../schemas/bus.js";
import { failure } from "../../schemas/commands.js";
import type { HostRpcRequest, HostRpcResult } from "../../schemas/host-rpc.js";
import { backoffDelay, DEFAULT_BACKOFF, sleep, type BackoffOptions } from "./backoff.js";
import type { EventBuffer } from "./event-buffer.js";
import { coalesceWrites } from "./ws-coalesce.js";

/** Request header declaring the host the agent means to be; a gateway refuses it when it is not the token's host. */
export const HOST_ID_HEADER = "x-claw-host-id";

/** Where the gateway connection stands; `displaced`: another agent holds this host id, no more attempts. */
export type GatewayState = "connecting" | "ready" | "disconnected" | "unauthorized" | "displaced";

/** Options of the gateway client. */
export interface GatewayClientOptions {
  /** `ws://` or `wss://` URL of the gateway's agent endpoint, or several (gateway instances), tried in turn. */
  url: string | readonly string[];
  /** The host token, fetched again for every connection attempt (a fixed token file is picked up). */
  token: () => Promise<string>;
  /**
   * Who this agent run is. `runSecret` (newRunSecret, made once per run and kept in memory only) proves to the
   * gateway that a reconnect is this run's and not a hello copying its run id, which every event carries.
   */
  hello: { hostId: string; epoch: string; agentVersion: string; hostname: string; runSecret?: string };
  buffer: EventBuffer;
  /** What heartbeats report. */
  heartbeat: () => { threads: number; appServer: "connected" | "disconnected" };
  /** After a welcome and the replay of the buffer. */
  onWelcome: () => void;
  /** Runs an approved command; the result goes back as an `rpcResult` frame (if the connection still stands). */
  onRpc?: (id: string, request: HostRpcRequest, timeoutMs: number) => Promise<HostRpcResult>;
  /** A gateway said another agent holds this host id (`reason` names it); the client has stopped connecting. */
  onDisplaced?: (reason: string) => void;
  /** Heartbeat period in ms (default 15 000); a connection silent for three periods is dropped. */
  heartbeatMs?: number;
  /** Reconnect back-off (default 250 ms doubling to 10 s). */
  backoff?: BackoffOptions;
  /** Delay between attempts after the gateway refused the token, in ms (default 30 000). */
  unauthorizedRetryMs?: number;
  /** How long to wait for `welcome` after `hello`, in ms (default 10 000). */
  welcomeTimeoutMs?: number;
  logger?: Logger;
}

/** A new run secret: 32 random bytes, base64url (43 characters). Never logged, stored or sent but in the hello. */
export function newRunSecret(): string {
  return randomBytes(32).toString("base64url");
}

/** Dials the gateway and keeps the event stream flowing; see the module comment. */
export class GatewayClient {
  private ws: WebSocket | undefined;
  private stateValue: GatewayState = "disconnected";
  private readonly stopper = new AbortController();
  private loop: Promise<void> | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private lastHeardMs = 0;
  private unauthorizedStreak = 0;
  private readonly log: Logger | undefined;
  private readonly urls: readonly string[];
  private urlIndex = 0;
  /** The host lease epoch of the latest welcome: `rpc` frames below it come from a deposed gateway. */
  private leaseEpoch = 0;

  constructor(private readonly opts: GatewayClientOptions) {
    this.log = opts.logger;
    this.urls = typeof opts.url === "string" ? [opts.url] : [...opts.url];
    if (this.urls.length === 0) throw new Error("the gateway client needs at least one gateway URL");
  }

  /** The gateway URL of the current (or next) connection attempt. */
  get url(): string {
    return this.urls[this.urlIndex]!;
  }

  /** Starts dialling (idempotent). */
  start(): void {
    this.loop ??= this.run();
  }

  /** Closes the connection and stops reconnecting; un-acked events stay in the buffer. */
  async stop(): Promise<void> {
    this.stopper.abort();
    this.ws?.close(1000, "host agent stopping");
    setTimeout(() => this.ws?.terminate(), 1_000).unref();
    await this.loop;
  }

  /** The connection state. */
  get state(): GatewayState {
    return this.stateValue;
  }

  /** Buffers an event and sends it at once when the gateway is ready. */
  send(event: SessionEventEnvelope): void {
    this.opts.buffer.push(event);
    if (this.stateValue === "ready") this.flush();
  }

  private flush(): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    const unsent = this.opts.buffer.takeUnsent(Date.now());
    // Events emitted in one go (in one turn of the event loop, or a replay) leave in one socket write.
    if (unsent.length > 0) coalesceWrites(ws);
    for (const entry of unsent) ws.send(`{"type":"event","event":${entry.json}}`);
  }

  private sendFrame(frame: AgentFrame): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  private async run(): Promise<void> {
    let attempt = 0;
    while (!this.stopper.signal.aborted) {
      const outcome = await this.connectOnce(this.url);
      if (this.stopper.signal.aborted) break;
      if (outcome.kind === "displaced") {
        this.stateValue = "displaced";
        this.opts.onDisplaced?.(outcome.reason);
        return;
      }
      // Fail over: the next attempt goes to the next gateway (the same one when there is only one).
      this.urlIndex = (this.urlIndex + 1) % this.urls.length;
      if (outcome.kind === "welcomed") attempt = 0;
      const delay =
        outcome.kind === "unauthorized"
          ? (this.opts.unauthorizedRetryMs ?? 30_000)
          : backoffDelay(attempt++, this.opts.backoff ?? DEFAULT_BACKOFF);
      await sleep(delay, this.stopper.signal);
    }
    this.stateValue = "disconnected";
  }

  /** One connection to `url`, from dialling to close. */
  private async connectOnce(
    url: string,
  ): Promise<{ kind: "welcomed" | "failed" | "unauthorized" } | { kind: "displaced"; reason: string }> {
    let token: string;
    try {
      token = (await this.opts.token()).trim();
    } catch (err) {
      this.log?.error({ err: (err as Error).message }, "cannot read the host token; will retry");
      return { kind: "unauthorized" };
    }
    // A refused token stays the state while it is tried again (slowly): that is what the host needs fixed.
    if (this.stateValue !== "unauthorized") this.stateValue = "connecting";
    const ws = new WebSocket(url, {
      headers: { Authorization: `Bearer ${token}`, [HOST_ID_HEADER]: this.opts.hello.hostId },
      handshakeTimeout: this.opts.welcomeTimeoutMs ?? 10_000,
      maxPayload: DEFAULT_GATEWAY_MAX_FRAME_BYTES,
    });
    this.ws = ws;
    let welcomed = false;
    let unauthorized = false;
    let welcomeTimer: NodeJS.Timeout | undefined;
    let displaced: string | null = null;
    const closed = new Promise<void>((resolve) =>
      ws.once("close", (code, reason) => {
        if (code === HOST_CLAIMED_CLOSE_CODE) displaced = reason.toString() || "another agent holds this host id";
        resolve();
      }),
    );
    ws.on("error", (err) => this.log?.debug({ url, err: err.message }, "gateway socket error"));
    ws.on("unexpected-response", (_req, res) => {
      if (res.statusCode === 401 || res.statusCode === 403) {
        unauthorized = true;
        this.stateValue = "unauthorized";
        this.unauthorizedStreak++;
        const level = this.unauthorizedStreak === 1 ? "error" : "debug";
        this.log?.[level](
          { url, status: res.statusCode, retryInMs: this.opts.unauthorizedRetryMs ?? 30_000 },
          `the gateway refused this host's token (HTTP ${res.statusCode}): check the token file and the gateway's host tokens; retrying slowly`,
        );
      } else {
        this.log?.warn({ url, status: res.statusCode }, "the gateway refused the WebSocket upgrade");
      }
      res.resume();
      ws.terminate();
    });
    ws.on("open", () => {
      this.lastHeardMs = Date.now();
      const unacked = this.opts.buffer.inDoubt(Date.now());
      const { hostname, agentVersion } = this.opts.hello;
      this.sendFrame({
        type: "hello",
        ...this.opts.hello,
        // A gateway refuses a hello over these bounds (and would for every reconnect): clip what the agent reports.
        hostname: hostname.slice(0, MAX_HELLO_HOSTNAME),
        agentVersion: agentVersion.slice(0, MAX_HELLO_AGENT_VERSION),
        batchAcks: true,
        ...(unacked ? { unacked } : {}),
      });
      welcomeTimer = setTimeout(() => {
        this.log?.warn({ url }, "no welcome from the gateway; reconnecting");
        ws.terminate();
      }, this.opts.welcomeTimeoutMs ?? 10_000);
    });
    ws.on("pong", () => (this.lastHeardMs = Date.now()));
    ws.on("message", (data, isBinary) => {
      this.lastHeardMs = Date.now();
      const frame = parseFrame(data, isBinary);
      if (!frame) {
        this.log?.warn({ url }, "ignoring an invalid frame from the gateway");
        return;
      }
      switch (frame.type) {
        case "welcome": {
          if (welcomed) return;
          welcomed = true;
          clearTimeout(welcomeTimer);
          this.unauthorizedStreak = 0;
          this.stateValue = "ready";
          if (frame.leaseEpoch !== undefined) {
            // The welcome is the newest word on the lease; a lower epoch means the bucket was recreated.
            if (frame.leaseEpoch < this.leaseEpoch)
              this.log?.warn(
                { url, leaseEpoch: frame.leaseEpoch, before: this.leaseEpoch },
                "the gateway's host lease epoch went back (was codex-leases recreated?); following it",
              );
            this.leaseEpoch = frame.leaseEpoch;
          }
          // Events the gateway found stored already: acked, not sent again.
          const alreadyStored =
            frame.stored?.epoch === this.opts.hello.epoch ? this.opts.buffer.ackStored(frame.stored.seqs) : 0;
          this.log?.info(
            {
              url,
              gatewayId: frame.gatewayId,
              leaseEpoch: frame.leaseEpoch,
              alreadyStored,
              replaying: this.opts.buffer.stats().events,
            },
            "connected to the gateway",
          );
          this.flush();
          this.startHeartbeats(ws, url);
          this.opts.onWelcome();
          return;
        }
        case "ack":
          if (frame.epoch === this.opts.hello.epoch) this.opts.buffer.ack(frame.seq);
          return;
        case "acks":
          if (frame.epoch === this.opts.hello.epoch) for (const seq of frame.seqs) this.opts.buffer.ack(seq);
          return;
        case "rpc":
          if (ws !== this.ws || (frame.leaseEpoch !== undefined && frame.leaseEpoch < this.leaseEpoch)) {
            this.refuseRpc(ws, frame.id, frame.request.op, frame.leaseEpoch);
            return;
          }
          void this.runRpc(ws, frame.id, frame.request, frame.timeoutMs);
          return;
        case "reject":
          if (frame.seq !== null && frame.epoch === this.opts.hello.epoch) this.opts.buffer.ack(frame.seq);
          this.log?.warn({ seq: frame.seq, reason: frame.reason }, "the gateway rejected a frame");
          return;
      }
    });
    await closed;
    clearTimeout(welcomeTimer);
    clearInterval(this.heartbeatTimer);
    this.ws = undefined;
    this.opts.buffer.resetSent();
    if (displaced !== null && !this.stopper.signal.aborted) {
      this.log?.error(
        { url, hostId: this.opts.hello.hostId, reason: displaced },
        "another host agent holds this host id: this agent stops connecting (stop one of them, or give it its own host id)",
      );
      return { kind: "displaced", reason: displaced };
    }
    if (welcomed && !this.stopper.signal.aborted)
      this.log?.warn({ url }, "lost the gateway connection; buffering events");
    this.stateValue = unauthorized ? "unauthorized" : "disconnected";
    return { kind: welcomed ? "welcomed" : unauthorized ? "unauthorized" : "failed" };
  }

  /** Answers a command from a superseded gateway connection without running it. */
  private refuseRpc(ws: WebSocket, id: string, op: string, leaseEpoch: number | undefined): void {
    const why = `host lease epoch ${leaseEpoch ?? "?"} is below ${this.leaseEpoch}, the epoch this agent was last welcomed with`;
    this.log?.warn({ id, op, leaseEpoch, current: this.leaseEpoch }, "refused a command from a deposed gateway");
    const result = failure("host_offline", `refused by the host agent: ${why}; nothing was run`);
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "rpcResult", id, result }));
  }

  /** Runs one command and answers on the socket it came from; a dropped socket loses the answer, not the agent. */
  private async runRpc(ws: WebSocket, id: string, request: HostRpcRequest, timeoutMs: number): Promise<void> {
    let result: HostRpcResult;
    try {
      result = this.opts.onRpc
        ? await this.opts.onRpc(id, request, timeoutMs)
        : failure("invalid", "this host agent executes no commands");
    } catch (err) {
      result = failure("invalid", `the host agent failed to run ${request.op}: ${(err as Error).message}`);
    }
    let frame = JSON.stringify({ type: "rpcResult", id, result });
    // A frame over the gateway's cap would close the connection: answer with what to ask instead.
    if (Buffer.byteLength(frame) > DEFAULT_GATEWAY_MAX_FRAME_BYTES - 1024) {
      const tooBig = failure(
        "invalid",
        `the ${request.op} result is ${Buffer.byteLength(frame)} bytes, over the gateway's frame cap; ask for less (a smaller limit, or the summary view)`,
      );
      frame = JSON.stringify({ type: "rpcResult", id, result: tooBig });
    }
    if (ws.readyState === WebSocket.OPEN) ws.send(frame);
    else
      this.log?.warn({ id, op: request.op }, "the gateway connection closed before a command's result could be sent");
  }

  private startHeartbeats(ws: WebSocket, url: string): void {
    const period = this.opts.heartbeatMs ?? 15_000;
    const beat = (): void => {
      if (Date.now() - this.lastHeardMs > 3 * period) {
        this.log?.warn({ url }, "the gateway went silent; reconnecting");
        ws.terminate();
        return;
      }
      this.sendFrame({ type: "heartbeat", atMs: Date.now(), ...this.opts.heartbeat() });
      ws.ping();
    };
    beat();
    this.heartbeatTimer = setInterval(beat, period);
    this.heartbeatTimer.unref();
  }
}

function parseFrame(data: WebSocket.RawData, isBinary: boolean): GatewayFrame | null {
  if (isBinary) return null;
  try {
    const text = Array.isArray(data) ? Buffer.concat(data).toString("utf8") : data.toString();
    const parsed = GatewayFrame.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
