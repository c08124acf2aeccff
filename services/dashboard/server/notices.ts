/**
 * FLEET notices for the dashboard's `notice` frames: an ordered consumer on FLEET that delivers only notices
 * stored after the dashboard started (the view is the truth; notices are news), each turned into a one-line
 * NoticeRow and handed to every listener. If the follow fails it is re-opened after a pause from the sequence
 * after the last one delivered.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { ApprovalAnswerer } from "../../../schemas/agent-events.js";
import type { NoticeRow } from "../../../schemas/dashboard.js";
import { FleetEvent } from "../../../schemas/fleet.js";
import { STREAM_NAMES, followStream, streamLastSeq, subjects, type StreamFollow } from "../../bus/index.js";
import { longShortId } from "../../clients/session-ref.js";

const REOPEN_AFTER_MS = 1_000;
const MAX_TEXT = 300;
const decoder = new TextDecoder();

/** One line saying what a notice reports, e.g. `h1/0a1b2c3d4e5f needs approval: rm -rf build`. Pure. */
export function noticeText(e: FleetEvent): string {
  const who = e.sessionId === null ? `host ${e.hostId}` : `${e.hostId}/${longShortId(e.sessionId)}`;
  const s = e.session;
  const what: Record<FleetEvent["kind"], string> = {
    "session-new": "new session",
    "session-waiting-approval": "needs approval",
    "session-waiting-input": "needs input",
    "session-idle": "turn ended, idle",
    "session-stale": "stale (its host was lost)",
    "session-error": "error",
    "session-closed": "closed",
    "session-marked": `marked ${s?.disposition ?? "-"}`,
    "session-handoff": "handoff requested",
    "session-assigned": `assigned${s?.group ? ` group ${s.group}` : ""}${s?.owner ? ` owner ${s.owner}` : ""}`,
    "session-progress": "progress",
    "session-ask": "asks the supervisor",
    "host-stale": "stale: no heartbeat",
    "host-conflict":
      e.conflict?.summary ??
      `claimed by two agents: ${e.conflict?.holder.hostname ?? "?"} holds it, ${e.conflict?.displaced.hostname ?? "?"} stopped`,
    "approval-requested": "approval held for an answer",
    "approval-answered": `approval ${e.answer?.decision ?? "answered"}${e.answer ? ` by ${answererText(e.answer.by)}` : ""}`,
    "session-escalated": `escalated to ${s?.escalation?.toGroup ?? "people"}${s?.escalation ? `: ${s.escalation.reason}` : ""}`,
    "budget-warning": `budget warning${s?.budget ? `: ${s.budget.reason}` : ""}`,
    "budget-stopped": `stopped by a budget${s?.budget ? `: ${s.budget.reason}` : ""}`,
    "session-adopted": `now owned by claw ${e.adoption?.clawId ?? "?"}${e.adoption?.previousClawId ? ` (was ${e.adoption.previousClawId})` : ""}`,
  };
  const detail =
    e.kind === "approval-requested" || e.kind === "approval-answered"
      ? (e.answer?.summary ?? s?.approval?.summary ?? null)
      : (s?.summary ?? null);
  const line = `${who} ${what[e.kind]}${detail ? `: ${detail}` : ""}`.replace(/\s+/g, " ");
  return line.length > MAX_TEXT ? `${line.slice(0, MAX_TEXT - 1)}…` : line;
}

/** The notice feed; see the file comment. */
export class NoticeFeed {
  private readonly listeners = new Set<(notice: NoticeRow) => void>();
  private follow: StreamFollow | null = null;
  private lastSeq = 0;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
  ) {}

  /** Starts following from the stream's end. Throws BusErrors when FLEET cannot be read. */
  async start(): Promise<void> {
    this.lastSeq = await streamLastSeq(this.nc, STREAM_NAMES.fleet);
    await this.open();
  }

  /** Calls `listener` with every notice from now on; returns the unsubscribe. */
  subscribe(listener: (notice: NoticeRow) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.listeners.clear();
    await this.follow?.stop();
  }

  private async open(): Promise<void> {
    const follow = await followStream(this.nc, STREAM_NAMES.fleet, subjects.allFleet(), this.lastSeq + 1);
    if (this.stopped) return follow.stop();
    this.follow = follow;
    void (async () => {
      try {
        for await (const m of follow) {
          if (m.seq <= this.lastSeq) continue;
          this.lastSeq = m.seq;
          this.deliver(m.seq, m.data);
        }
      } catch (err) {
        if (!this.stopped) this.log.warn({ err: (err as Error).message }, "the dashboard's FLEET follow failed");
      }
      if (this.stopped) return;
      await follow.stop();
      this.reopen();
    })();
  }

  private reopen(): void {
    this.timer = setTimeout(() => {
      if (this.stopped) return;
      this.open().catch((err: Error) => {
        this.log.warn({ err: err.message }, "cannot re-open the dashboard's FLEET follow; retrying");
        this.reopen();
      });
    }, REOPEN_AFTER_MS);
  }

  private deliver(seq: number, data: Uint8Array): void {
    let parsed: ReturnType<typeof FleetEvent.safeParse>;
    try {
      parsed = FleetEvent.safeParse(JSON.parse(decoder.decode(data)));
    } catch {
      return this.log.warn({ seq }, "skipped a FLEET message that is not JSON");
    }
    if (!parsed.success) return this.log.warn({ seq }, "skipped a FLEET message that is not a notice");
    const e = parsed.data;
    const notice: NoticeRow = {
      seq,
      kind: e.kind,
      hostId: e.hostId,
      sessionId: e.sessionId,
      text: noticeText(e),
      atMs: e.atMs,
    };
    for (const listener of this.listeners) listener(notice);
  }
}

/** Who answered a held approval, in a few words: `operator:olga`, `the rules`, `its deadline`. Pure. */
function answererText(by: ApprovalAnswerer): string {
  if (by.kind === "caller") return `${by.caller.role}:${by.caller.id}`;
  return by.kind === "rule" ? "the rules" : "its deadline";
}
