/**
 * Approval audit: every approval a host agent held for an answer (`approval-requested`) or answered
 * (`approval-answered`: by the thread's rules, at a deadline, or as an operator or the Claw said; or a held one
 * let go unanswered, decision `released`, audited with decision null and detail.state `released`) becomes one
 * AUDIT record of kind `approval`, with the session as target and who answered as caller. The policy service
 * reads them from FLEET through one durable consumer per kind (shared by its instances, explicit acks), and
 * writes each record with the notice's id as message id, so a redelivered notice is stored once.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { Logger } from "pino";
import type { Caller } from "../../schemas/commands.js";
import { FleetEvent, type FleetKind } from "../../schemas/fleet.js";
import {
  STREAM_NAMES,
  ensureDurableConsumer,
  openDurableConsumer,
  subjects,
  type MessageFeed,
  type StreamMsg,
} from "../bus/index.js";
import type { AuditInput, AuditLog } from "./audit-log.js";

/** The FLEET kinds that are audited, each through its own durable consumer. */
export const AUDITED_APPROVAL_KINDS = ["approval-requested", "approval-answered"] as const satisfies FleetKind[];

/** The durable consumer name for one audited kind. Pure. */
export function approvalAuditConsumer(kind: (typeof AUDITED_APPROVAL_KINDS)[number]): string {
  return `policy-audit-${kind}`;
}

/** The AUDIT record of one approval notice, or null when the notice is not one. Pure. */
export function approvalAuditRecord(e: FleetEvent): AuditInput | null {
  if (e.sessionId === null) return null;
  const hostAgent: Caller = { id: `host-agent:${e.hostId}`.slice(0, 200), role: "host" };
  const target = { hostId: e.hostId, sessionId: e.sessionId };
  if (e.kind === "approval-requested") {
    const a = e.session?.approval;
    if (!a) return null;
    return {
      kind: "approval",
      commandId: e.id,
      verb: null,
      caller: hostAgent,
      target,
      decision: null,
      outcome: null,
      detail: {
        state: "held",
        requestId: a.requestId,
        kind: a.kind,
        summary: a.summary,
        heldAtMs: a.atMs,
        deadlineAtMs: a.deadlineAtMs,
      },
    };
  }
  if (e.kind === "approval-answered" && e.answer?.decision === "released") {
    // Let go unanswered: the host agent says so; nobody decided anything.
    const a = e.answer;
    return {
      kind: "approval",
      commandId: e.id,
      verb: null,
      caller: hostAgent,
      target,
      decision: null,
      outcome: null,
      detail: {
        state: "released",
        requestId: a.requestId,
        method: a.method,
        reason: a.reason,
        kind: a.kind,
        summary: a.summary,
      },
    };
  }
  if (e.kind === "approval-answered" && e.answer) {
    const a = e.answer;
    const caller: Caller =
      a.by.kind === "caller" ? a.by.caller : a.by.kind === "deadline" ? { id: "deadline", role: "host" } : hostAgent;
    return {
      kind: "approval",
      commandId: e.id,
      verb: a.by.kind === "caller" ? "approve" : null,
      caller,
      target,
      decision: { allow: a.decision === "accept", code: null, reason: a.reason, ruleId: null },
      outcome: null,
      detail: {
        state: "answered",
        requestId: a.requestId,
        method: a.method,
        decision: a.decision,
        by: a.by.kind,
        kind: a.kind,
        summary: a.summary,
        // Reported by the host agent that answered it.
        reportedBy: hostAgent.id,
      },
    };
  }
  return null;
}

/** The running audit consumers; `stop()` ends them once the record in hand is written. */
export interface ApprovalAudit {
  stop(): Promise<void>;
}

/** Starts one consumer per audited kind; each retries after errors until stopped. */
export function startApprovalAudit(nc: NatsConnection, audit: AuditLog, log: Logger): ApprovalAudit {
  let stopping = false;
  const feeds = new Set<MessageFeed>();
  const handle = async (msg: StreamMsg): Promise<void> => {
    let event: FleetEvent | null = null;
    try {
      const parsed = FleetEvent.safeParse(msg.json());
      event = parsed.success ? parsed.data : null;
    } catch {
      event = null;
    }
    const record = event ? approvalAuditRecord(event) : null;
    if (!record) {
      log.warn({ subject: msg.subject, seq: msg.seq }, "skipped a fleet notice that is not an approval notice");
      msg.term("not an approval notice");
      return;
    }
    try {
      await audit.write(record);
      msg.ack();
    } catch (err) {
      log.error({ id: record.commandId, err: (err as Error).message }, "could not audit an approval; retrying");
      msg.nak(1_000);
    }
  };
  const loops = AUDITED_APPROVAL_KINDS.map(async (kind) => {
    const name = approvalAuditConsumer(kind);
    while (!stopping) {
      try {
        await ensureDurableConsumer(nc, {
          stream: STREAM_NAMES.fleet,
          name,
          description: `the policy service audits ${kind} notices`,
          filterSubject: subjects.fleet(kind),
          ackWaitMs: 30_000,
          maxAckPending: 100,
          missingStream: `stream ${STREAM_NAMES.fleet} does not exist: set the bus up first ('claw-supervisor up')`,
        });
        const feed = await (await openDurableConsumer(nc, STREAM_NAMES.fleet, name)).consume(50);
        feeds.add(feed);
        if (stopping) feed.stop();
        for await (const msg of feed) await handle(msg);
        feeds.delete(feed);
      } catch (err) {
        if (stopping || nc.isClosed()) break;
        log.warn({ consumer: name, err: (err as Error).message }, "approval audit consumer failed; retrying");
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  });
  return {
    async stop() {
      stopping = true;
      for (const feed of feeds) feed.stop();
      await Promise.allSettled(loops);
    },
  };
}
